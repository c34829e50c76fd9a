// The four look-ups behind the shared credential cache.
#include "identity/credential_cache.hpp"

#include "obs/traced.hpp"

namespace rampart::identity {
namespace {

// A family is kept only while live: a revoked one is read again (and refused) every time.
boost::asio::awaitable<std::optional<bool>> loadLiveFamily(store::IdentityStore& store, std::string familyId,
                                                           const obs::Span& trace) {
    const bool live = co_await obs::tracedStore(trace, store, "refreshFamilyLive",
                                                store.refreshFamilyLive(std::move(familyId)));
    co_return live ? std::optional<bool>(true) : std::nullopt;
}

}  // namespace

CredentialCache::CredentialCache(store::IdentityStore& store)
    : users_(
          [&store](std::string id, const obs::Span& trace) {
              return obs::tracedStore(trace, store, "findUserById", store.findUserById(std::move(id)));
          },
          kTtl, kCapacity),
      liveFamilies_(
          [&store](std::string familyId, const obs::Span& trace) {
              return loadLiveFamily(store, std::move(familyId), trace);
          },
          kTtl, kCapacity),
      apiTokens_(
          [&store](std::string hash, const obs::Span& trace) {
              return obs::tracedStore(trace, store, "findApiTokenByHash",
                                      store.findApiTokenByHash(std::move(hash)));
          },
          kTtl, kCapacity),
      sessions_(
          [&store](std::string idHash, const obs::Span& trace) {
              return obs::tracedStore(trace, store, "findSession", store.findSession(std::move(idHash)));
          },
          kTtl, kCapacity) {}

boost::asio::awaitable<std::optional<store::UserRecord>> CredentialCache::user(std::string id,
                                                                               const obs::Span& trace) {
    return users_.get(std::move(id), trace);
}

boost::asio::awaitable<bool> CredentialCache::familyLive(std::string familyId, const obs::Span& trace) {
    const auto live = co_await liveFamilies_.get(std::move(familyId), trace);
    co_return live.has_value();
}

boost::asio::awaitable<std::optional<store::ApiTokenRecord>> CredentialCache::apiToken(
    std::string tokenHash, const obs::Span& trace) {
    return apiTokens_.get(std::move(tokenHash), trace);
}

boost::asio::awaitable<std::optional<store::SessionRecord>> CredentialCache::session(std::string idHash,
                                                                                     const obs::Span& trace) {
    return sessions_.get(std::move(idHash), trace);
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
