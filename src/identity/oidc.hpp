// External OpenID Connect identity providers: one OidcProvider per configured issuer (its JWKS, loaded from a
// file or fetched over HTTPS and refreshed on an unknown kid at most once a minute) and the OidcRegistry that
// picks the provider by a token's "iss" and turns a valid token into an ExternalIdentity.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/json/object.hpp>

#include "identity/jwt.hpp"
#include "identity/oidc_issuer.hpp"
#include "identity/principal.hpp"
#include "obs/tracer.hpp"

namespace rampart::identity {

// Where a JWKS is fetched from, taken apart. Only https:// (and http:// to a loopback host in development).
struct JwksUrl {
    bool tls = true;
    std::string host;  // a name, or an IP address without brackets
    std::uint16_t port = 443;
    std::string target;  // path and query, at least "/"
};

// Nullopt (and the reason in *error, which never repeats the URL: it may hold a key in its query) for a URL
// that is not absolute, carries a user name or password or a fragment, or has a scheme other than https
// (http is accepted only when `development` is true and the host is loopback: 127.0.0.0/8, ::1, localhost).
[[nodiscard]] std::optional<JwksUrl> parseJwksUrl(std::string_view url, bool development,
                                                  std::string* error = nullptr);

// The longest username claim value accepted, in bytes.
inline constexpr std::size_t kMaxExternalUsernameSize = 150;

// Who an external token says the caller is. `username` never collides with a local username: it is
// "oidc:<8 lower-case hex digits of SHA-256(issuer)>:<the username claim>", stable across restarts and
// reorderings of the configuration. This holds only while local usernames cannot contain ':' (the user
// service must refuse it when creating users).
struct ExternalIdentity {
    std::string issuer;
    std::string subject;  // "sub"
    std::string username;
    Role role = Role::user;
    std::optional<std::chrono::sys_seconds> issuedAt;  // "iat", when the token has one
    boost::json::object claims;  // everything the token carried, for the caller's audit record
};

struct OidcOptions {
    Clock clock = systemClock();  // token times and the refresh rate limit; tests move it by hand
    std::shared_ptr<VerificationCache> cache;  // shared with other verifiers, or null for none
    std::filesystem::path caFile{};            // trust only this PEM bundle (tests); empty: the system store
    bool development = false;                  // allows http:// JWKS URLs to loopback hosts
    std::chrono::seconds refreshInterval{60};  // at most one JWKS fetch per provider per interval
    std::chrono::milliseconds fetchTimeout{5000};  // connect to last byte
    std::chrono::seconds leeway{30};
};

// A provider that cannot start: its JWKS file is unreadable or refused, or its configuration is unusable.
// The message names the issuer and the file, never key material.
class OidcError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

// What verifying one token came to. `failure` is a stable snake_case name for logs and audit ("expired",
// "kid_unknown", "unknown_issuer", "role_unmapped", ...), empty when identity is set; it never holds any part
// of the token.
struct OidcResult {
    std::optional<ExternalIdentity> identity;
    std::string failure;
};

// One issuer. Thread-safe: verify may run on many I/O threads at once.
class OidcProvider {
  public:
    // Reads a jwks_file now (throws OidcError when it fails parseJwks or keeps no allowed key); a jwks_url
    // provider starts with no keys until refresh() or the first unknown kid. `tls` is needed for https URLs.
    OidcProvider(OidcIssuer config, const OidcOptions& options,
                 std::shared_ptr<boost::asio::ssl::context> tls);

    [[nodiscard]] const OidcIssuer& config() const { return config_; }
    [[nodiscard]] const std::string& usernamePrefix() const { return usernamePrefix_; }
    [[nodiscard]] std::shared_ptr<const KeySet> keys() const;
    [[nodiscard]] bool fetchesFromUrl() const { return url_.has_value(); }
    // JWKS fetches started so far (start-up, refreshes), for tests and metrics.
    [[nodiscard]] std::size_t fetchCount() const { return fetches_.load(); }

    // Fetches the JWKS now, on the calling coroutine's executor, unless one was fetched (or tried) within the
    // refresh interval. On success swaps the key set; on failure keeps it and logs one line. False when no
    // new set was installed (rate limited, failed, or a file provider). The fetch is a client span under
    // `trace` (the request that met an unknown kid; off for the refresh at start-up).
    boost::asio::awaitable<bool> refresh(const obs::Span& trace = obs::Span::off());

    // Verifies `token` (which must stay alive until the call completes) against this issuer's keys; on an
    // unknown kid refreshes (rate-limited) and tries once more. Other calls meeting the same new kid while
    // that fetch runs do not wait for it: they are refused (kid_unknown) until the new set is installed.
    boost::asio::awaitable<OidcResult> verify(std::string_view token,
                                              const obs::Span& trace = obs::Span::off());

  private:
    [[nodiscard]] bool claimRefreshSlot();
    [[nodiscard]] OidcResult identify(const VerifyResult& result) const;
    [[nodiscard]] KeySet allowedKeys(KeySet keys, std::vector<std::string>* dropped) const;

    OidcIssuer config_;
    std::optional<JwksUrl> url_;
    std::vector<Algorithm> algorithms_;  // the allowlist; empty allows every algorithm
    std::optional<Role> defaultRole_;
    std::map<std::string, Role, std::less<>> roleMap_;
    std::string usernamePrefix_;
    std::shared_ptr<boost::asio::ssl::context> tls_;
    Clock clock_;
    std::chrono::seconds refreshInterval_;
    std::chrono::milliseconds fetchTimeout_;
    JwtVerifier verifier_;

    mutable std::mutex mutex_;  // guards keys_ and lastFetch_
    std::shared_ptr<const KeySet> keys_;
    std::optional<std::chrono::system_clock::time_point> lastFetch_;
    std::atomic<std::size_t> fetches_{0};
};

// Every configured issuer. Build it at start-up (before serving), co_await start() once, then call verify
// from any thread.
class OidcRegistry {
  public:
    // Throws OidcError for a file that fails to load, an unusable URL, or two issuers with one username
    // prefix.
    explicit OidcRegistry(const std::vector<OidcIssuer>& issuers, OidcOptions options = {});

    // The first fetch of every URL provider. A failure is logged and the provider starts with no keys; the
    // next unknown kid retries, at the usual rate.
    boost::asio::awaitable<void> start();

    // Whether the token's (unverified) "iss" is a configured issuer: it is theirs, not ours, to verify.
    [[nodiscard]] bool handles(std::string_view token) const;

    // The identity in a valid token of a configured issuer; nullopt otherwise, with the reason in *failure
    // when given ("unknown_issuer" when no provider claims the token). `token` must outlive the call.
    boost::asio::awaitable<std::optional<ExternalIdentity>> verify(std::string_view token,
                                                                   const obs::Span& trace,
                                                                   std::string* failure = nullptr);

    [[nodiscard]] OidcProvider* find(std::string_view issuer) const;
    [[nodiscard]] std::size_t size() const { return providers_.size(); }
    [[nodiscard]] bool empty() const { return providers_.empty(); }

  private:
    [[nodiscard]] OidcProvider* providerFor(std::string_view token) const;

    std::vector<std::unique_ptr<OidcProvider>> providers_;
    std::map<std::string, OidcProvider*, std::less<>> byIssuer_;
};

// The "iss" of a compact JWS, read without verifying anything: only to choose whom to ask. Nullopt when the
// token is malformed or has no string "iss".
[[nodiscard]] std::optional<std::string> peekIssuer(std::string_view token);

}  // namespace rampart::identity
