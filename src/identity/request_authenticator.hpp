// Turns the credential a request presents into a Principal: our own access JWT, a personal `rmp_` API
// token, a session cookie, or a configured OIDC provider's token. Its own service because it is on the
// path of every request and only reads (through the shared CredentialCache); issuing and revoking
// credentials belong to LoginService and AccountService.
#pragma once

#include <memory>
#include <string_view>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/address.hpp>

#include "identity/audit_trail.hpp"
#include "identity/auth_settings.hpp"
#include "identity/credential_cache.hpp"
#include "identity/jwt.hpp"
#include "identity/key_manager.hpp"
#include "identity/principal.hpp"
#include "obs/metrics.hpp"
#include "store/audit_sink.hpp"
#include "store/identity_store.hpp"

namespace rampart::identity {

class OidcRegistry;

class RequestAuthenticator : public Authenticator {
  public:
    RequestAuthenticator(store::IdentityStore& store, store::AuditSink& audit, CredentialCache& cache,
                         KeyManager& keys, const AuthSettings& settings, Clock clock = systemClock(),
                         OidcRegistry* oidc = nullptr, obs::AuthMetrics* metrics = nullptr);

    // Every refusal is counted on rampart_auth_failures_total (a reason of AuthMetrics::Failure).
    boost::asio::awaitable<AuthOutcome> authenticate(PresentedCredential credential,
                                                     boost::asio::ip::address client,
                                                     const obs::Span& trace) override;

  private:
    boost::asio::awaitable<AuthOutcome> authenticateAny(PresentedCredential credential,
                                                        boost::asio::ip::address client,
                                                        const obs::Span& trace);
    boost::asio::awaitable<AuthOutcome> authenticateJwt(std::string_view token, const obs::Span& trace);
    boost::asio::awaitable<AuthOutcome> authenticateApiToken(std::string_view token, const obs::Span& trace);
    boost::asio::awaitable<AuthOutcome> authenticateSession(std::string_view cookie, const obs::Span& trace);
    // A configured OIDC provider's token: the local user of that name is created on first sight (no
    // password: it can only come through its provider) and its role follows the provider's claims (each
    // change audited as user.role_changed). A token issued ("iat") before the user's credentials were
    // revoked (revoke-credentials, revoke-all, disabling) is refused, as is one without "iat" once they were.
    boost::asio::awaitable<AuthOutcome> authenticateExternal(std::string_view token,
                                                             boost::asio::ip::address client,
                                                             const obs::Span& trace);
    [[nodiscard]] store::Seconds now() const;

    store::IdentityStore& store_;
    AuditTrail audit_;
    CredentialCache& cache_;
    KeyManager& keys_;
    Clock clock_;
    OidcRegistry* oidc_;
    obs::AuthMetrics* metrics_;
    JwtVerifier accessVerifier_;
};

}  // namespace rampart::identity
