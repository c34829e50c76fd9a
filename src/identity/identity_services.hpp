// The identity services of one process, built together because they share one CredentialCache and one
// KeyManager: app/ and tests construct this once and hand each caller the service it uses
// (the authenticator to the pipeline, logins and accounts to the routes, keys to the key reload).
// It only wires; it has no behaviour of its own.
#pragma once

#include "core/secret_string.hpp"
#include "identity/account_service.hpp"
#include "identity/auth_settings.hpp"
#include "identity/credential_cache.hpp"
#include "identity/key_manager.hpp"
#include "identity/login_service.hpp"
#include "identity/password_hasher.hpp"
#include "identity/request_authenticator.hpp"
#include "obs/metrics.hpp"
#include "store/audit_sink.hpp"
#include "store/identity_store.hpp"

namespace rampart::identity {

class OidcRegistry;

struct IdentityServices {
    IdentityServices(store::IdentityStore& store, store::AuditSink& audit, const SecretString& serverSecret,
                     const AuthSettings& settings, const Clock& clock = systemClock(),
                     OidcRegistry* oidc = nullptr, obs::AuthMetrics* metrics = nullptr)
        : cache(store),
          keys(store, serverSecret, settings, clock),
          passwords(settings),
          authenticator(store, audit, cache, keys, settings, clock, oidc, metrics),
          logins(store, audit, cache, keys, passwords, serverSecret, settings, clock, metrics),
          accounts(store, audit, cache, passwords, serverSecret, settings, clock) {}

    // Finishes the password hashes and key reloads under way and stops their threads: after the
    // server's connections are closed, before its io_contexts go (the work resumes on them).
    void shutdown() {
        passwords.shutdown();
        keys.shutdown();
    }

    CredentialCache cache;
    KeyManager keys;
    PasswordHasher passwords;
    RequestAuthenticator authenticator;
    LoginService logins;
    AccountService accounts;
};

}  // namespace rampart::identity
