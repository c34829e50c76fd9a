// What the identity services are configured with, and where a call comes from. Every service of
// src/identity/ (KeyManager, RequestAuthenticator, LoginService, AccountService) takes the same
// AuthSettings, so app/ builds it once from the configuration.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>

#include <boost/asio/ip/address.hpp>

#include "identity/password.hpp"
#include "obs/tracer.hpp"

namespace rampart::identity {

struct AuthSettings {
    std::string issuer = "rampart";
    std::string audience = "rampart-api";
    std::chrono::seconds accessTokenTtl{600};
    std::chrono::seconds refreshTokenTtl{std::chrono::days{14}};
    std::chrono::seconds sessionTtl{std::chrono::hours{8}};
    std::chrono::seconds apiTokenMaxTtl{std::chrono::days{365}};
    PasswordHashing hashing;
    // The password-hashing pool (PasswordHasher): threads (0: one per core) and the hashes that may wait
    // for one (0: four per thread). Each running hash holds hashing.memLimitBytes.
    std::size_t passwordHashThreads = 0;
    std::size_t passwordHashQueue = 0;
    // The pool threads' CPU priority (see PasswordHasher): idle takes a core only when nothing else wants it.
    enum class HashPriority { idle, low, normal };
    HashPriority passwordHashPriority = HashPriority::idle;
    PasswordPolicy passwordPolicy;
    int loginMaxFailures = 5;  // failures before lockouts start
    std::chrono::seconds lockoutBase{60};
    std::chrono::seconds lockoutMax{3600};
    bool requireAdminTotp = false;
};

// Where a call comes from, for throttling, the audit log and tracing.
struct RequestContext {
    std::string requestId;
    boost::asio::ip::address client;
    // The request's span (store calls and password hashing are its children); null: none. It outlives every
    // call made with this context (the request's exchange holds it).
    const obs::Span* trace = nullptr;

    [[nodiscard]] const obs::Span& span() const { return trace ? *trace : obs::Span::off(); }
};

}  // namespace rampart::identity
