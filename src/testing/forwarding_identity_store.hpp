// An IdentityStore that hands every call to another one: a test derives from it and overrides the one
// call it needs to slow down or observe (e.g. a look-up that waits until the test has revoked).
#pragma once

#include <utility>

#include "store/identity_store.hpp"

namespace rampart::testing {

class ForwardingIdentityStore : public store::IdentityStore {
  public:
    explicit ForwardingIdentityStore(store::IdentityStore& inner) : inner_(inner) {}

    using Seconds = store::Seconds;
    template <class T>
    using Awaitable = boost::asio::awaitable<T>;

    [[nodiscard]] std::string_view databaseSystem() const override { return inner_.databaseSystem(); }
    Awaitable<void> createUser(store::UserRecord user) override { return inner_.createUser(std::move(user)); }
    Awaitable<std::optional<store::UserRecord>> findUserById(std::string id) override {
        return inner_.findUserById(std::move(id));
    }
    Awaitable<std::optional<store::UserRecord>> findUserByUsername(std::string username) override {
        return inner_.findUserByUsername(std::move(username));
    }
    Awaitable<std::vector<store::UserRecord>> listUsers(std::string afterUsername, int limit) override {
        return inner_.listUsers(std::move(afterUsername), limit);
    }
    Awaitable<std::optional<store::UserRecord>> updateUser(std::string id, store::UserPatch patch) override {
        return inner_.updateUser(std::move(id), std::move(patch));
    }
    Awaitable<std::optional<store::UserRecord>> recordLoginFailure(
        std::string userId, Seconds now, std::function<std::chrono::seconds(int)> lockout) override {
        return inner_.recordLoginFailure(std::move(userId), now, std::move(lockout));
    }
    Awaitable<bool> consumeTotpStep(std::string userId, std::int64_t step) override {
        return inner_.consumeTotpStep(std::move(userId), step);
    }
    std::int64_t countUsersBlocking() override { return inner_.countUsersBlocking(); }
    Awaitable<std::optional<store::UserRecord>> changePassword(
        std::string userId, std::string passwordHash, Seconds now,
        std::optional<store::KeptCredential> keep) override {
        return inner_.changePassword(std::move(userId), std::move(passwordHash), now, std::move(keep));
    }

    Awaitable<store::LoginNameFailures> recordLoginNameFailure(
        std::string nameKey, Seconds now, std::chrono::seconds forgetAfter,
        std::function<std::chrono::seconds(int)> lockout) override {
        return inner_.recordLoginNameFailure(std::move(nameKey), now, forgetAfter, std::move(lockout));
    }
    Awaitable<std::optional<store::LoginNameFailures>> findLoginNameFailures(std::string nameKey) override {
        return inner_.findLoginNameFailures(std::move(nameKey));
    }
    Awaitable<void> clearLoginNameFailures(std::string nameKey) override {
        return inner_.clearLoginNameFailures(std::move(nameKey));
    }
    Awaitable<std::int64_t> pruneLoginNameFailures(Seconds quietBefore, Seconds now,
                                                   std::int64_t keep) override {
        return inner_.pruneLoginNameFailures(quietBefore, now, keep);
    }

    Awaitable<void> createApiToken(store::ApiTokenRecord token) override {
        return inner_.createApiToken(std::move(token));
    }
    Awaitable<std::optional<store::ApiTokenRecord>> findApiTokenByHash(std::string tokenHash) override {
        return inner_.findApiTokenByHash(std::move(tokenHash));
    }
    Awaitable<std::optional<store::ApiTokenRecord>> findApiTokenById(std::string tokenId) override {
        return inner_.findApiTokenById(std::move(tokenId));
    }
    Awaitable<std::vector<store::ApiTokenRecord>> listApiTokens(std::string userId) override {
        return inner_.listApiTokens(std::move(userId));
    }
    Awaitable<bool> revokeApiToken(std::string userId, std::string tokenId, Seconds now) override {
        return inner_.revokeApiToken(std::move(userId), std::move(tokenId), now);
    }
    Awaitable<void> touchApiToken(std::string tokenId, Seconds now) override {
        return inner_.touchApiToken(std::move(tokenId), now);
    }

    Awaitable<void> createRefreshFamily(store::RefreshTokenRecord first) override {
        return inner_.createRefreshFamily(std::move(first));
    }
    Awaitable<RotateResult> rotateRefreshToken(std::string presentedTokenId, store::RefreshTokenRecord next,
                                               Seconds now) override {
        return inner_.rotateRefreshToken(std::move(presentedTokenId), std::move(next), now);
    }
    Awaitable<bool> revokeRefreshFamily(std::string familyId, Seconds now) override {
        return inner_.revokeRefreshFamily(std::move(familyId), now);
    }
    Awaitable<bool> refreshFamilyLive(std::string familyId) override {
        return inner_.refreshFamilyLive(std::move(familyId));
    }

    Awaitable<void> createSession(store::SessionRecord session) override {
        return inner_.createSession(std::move(session));
    }
    Awaitable<std::optional<store::SessionRecord>> findSession(std::string idHash) override {
        return inner_.findSession(std::move(idHash));
    }
    Awaitable<bool> revokeSession(std::string idHash, Seconds now) override {
        return inner_.revokeSession(std::move(idHash), now);
    }
    Awaitable<bool> revokeAllCredentials(std::string userId, Seconds now, bool deactivate) override {
        return inner_.revokeAllCredentials(std::move(userId), now, deactivate);
    }

    std::vector<store::SigningKeyRecord> loadSigningKeysBlocking() override {
        return inner_.loadSigningKeysBlocking();
    }
    void insertSigningKeyBlocking(store::SigningKeyRecord key) override {
        inner_.insertSigningKeyBlocking(std::move(key));
    }
    void deleteSigningKeysBlocking(std::vector<std::string> kids) override {
        inner_.deleteSigningKeysBlocking(std::move(kids));
    }

  private:
    store::IdentityStore& inner_;
};

}  // namespace rampart::testing
