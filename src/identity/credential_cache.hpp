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
#include "obs/tracer.hpp"
#include "store/identity_store.hpp"

namespace rampart::identity {

class CredentialCache {
  public:
    static constexpr auto kTtl = std::chrono::seconds(1);
    static constexpr std::size_t kCapacity = 50'000;  // per cache

    explicit CredentialCache(store::IdentityStore& store);

    // Each read of the store (a miss) is a span under `trace`, the request's; a hit costs no span.
    boost::asio::awaitable<std::optional<store::UserRecord>> user(std::string id, const obs::Span& trace);
    // True when the family exists and is not revoked (only live families are kept).
    boost::asio::awaitable<bool> familyLive(std::string familyId, const obs::Span& trace);
    boost::asio::awaitable<std::optional<store::ApiTokenRecord>> apiToken(std::string tokenHash,
                                                                          const obs::Span& trace);
    boost::asio::awaitable<std::optional<store::SessionRecord>> session(std::string idHash,
                                                                        const obs::Span& trace);

    // After a token's lastUsed was written: the next request reads it again (and does not touch).
    void forgetApiToken(const std::string& tokenHash);
    // After any change to users or credentials: the next request reads the store again.
    void clear();

  private:
    template <class Value>
    using Cache = ReadThroughCache<std::string, Value, const obs::Span&>;

    Cache<store::UserRecord> users_;
    Cache<bool> liveFamilies_;
    Cache<store::ApiTokenRecord> apiTokens_;
    Cache<store::SessionRecord> sessions_;
};

}  // namespace rampart::identity
