// The four look-ups behind the shared credential cache.
#include "identity/credential_cache.hpp"

namespace rampart::identity {
namespace {

// A family is kept only while live: a revoked one is read again (and refused) every time.
boost::asio::awaitable<std::optional<bool>> loadLiveFamily(store::IdentityStore& store,
                                                           std::string familyId) {
    const bool live = co_await store.refreshFamilyLive(std::move(familyId));
    co_return live ? std::optional<bool>(true) : std::nullopt;
}

}  // namespace

CredentialCache::CredentialCache(store::IdentityStore& store)
    : users_([&store](std::string id) { return store.findUserById(std::move(id)); }, kTtl, kCapacity),
      liveFamilies_([&store](std::string familyId) { return loadLiveFamily(store, std::move(familyId)); },
                    kTtl, kCapacity),
      apiTokens_([&store](std::string hash) { return store.findApiTokenByHash(std::move(hash)); }, kTtl,
                 kCapacity),
      sessions_([&store](std::string idHash) { return store.findSession(std::move(idHash)); }, kTtl,
                kCapacity) {}

boost::asio::awaitable<std::optional<store::UserRecord>> CredentialCache::user(std::string id) {
    return users_.get(std::move(id));
}

boost::asio::awaitable<bool> CredentialCache::familyLive(std::string familyId) {
    const auto live = co_await liveFamilies_.get(std::move(familyId));
    co_return live.has_value();
}

boost::asio::awaitable<std::optional<store::ApiTokenRecord>> CredentialCache::apiToken(
    std::string tokenHash) {
    return apiTokens_.get(std::move(tokenHash));
}

boost::asio::awaitable<std::optional<store::SessionRecord>> CredentialCache::session(std::string idHash) {
    return sessions_.get(std::move(idHash));
}

void CredentialCache::forgetApiToken(const std::string& tokenHash) {
    apiTokens_.erase(tokenHash);
}

void CredentialCache::clear() {
    users_.clear();
    liveFamilies_.clear();
    apiTokens_.clear();
    sessions_.clear();
}

}  // namespace rampart::identity
