// What authenticating a request reads from the store (the user, the refresh family, the API token, the
// session), kept for one second in four ReadThroughCaches. One instance is shared by every identity
// service: the authenticator reads through it, and every change made through LoginService or
// AccountService clears it at once (clear()); a change made by another process (the command line,
// another node) is seen within a second. Without it each authenticated request costs two or three
// store round trips.
#pragma once

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>

#include <boost/asio/awaitable.hpp>

#include "identity/read_through_cache.hpp"
#include "store/identity_store.hpp"

namespace rampart::identity {

class CredentialCache {
  public:
    static constexpr auto kTtl = std::chrono::seconds(1);
    static constexpr std::size_t kCapacity = 50'000;  // per cache

    explicit CredentialCache(store::IdentityStore& store);

    boost::asio::awaitable<std::optional<store::UserRecord>> user(std::string id);
    // True when the family exists and is not revoked (only live families are kept).
    boost::asio::awaitable<bool> familyLive(std::string familyId);
    boost::asio::awaitable<std::optional<store::ApiTokenRecord>> apiToken(std::string tokenHash);
    boost::asio::awaitable<std::optional<store::SessionRecord>> session(std::string idHash);

    // After a token's lastUsed was written: the next request reads it again (and does not touch).
    void forgetApiToken(const std::string& tokenHash);
    // After any change to users or credentials: the next request reads the store again.
    void clear();

  private:
    ReadThroughCache<std::string, store::UserRecord> users_;
    ReadThroughCache<std::string, bool> liveFamilies_;
    ReadThroughCache<std::string, store::ApiTokenRecord> apiTokens_;
    ReadThroughCache<std::string, store::SessionRecord> sessions_;
};

}  // namespace rampart::identity
