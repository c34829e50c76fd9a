// External OIDC providers: JWKS from a file or over verified HTTPS (Beast, on the caller's executor), refresh
// on an unknown kid with a per-provider rate limit, and the mapping of a verified token to an
// ExternalIdentity (prefixed username, role from a claim).
#include "identity/oidc.hpp"

#include <openssl/evp.h>
#include <openssl/ssl.h>

#include <algorithm>
#include <fstream>
#include <iterator>
#include <set>
#include <utility>

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <boost/url/parse.hpp>

#include "core/base64url.hpp"
#include "core/strict_json.hpp"
#include "identity/jwks.hpp"
#include "net/tls.hpp"

namespace rampart::identity {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using asio::ip::tcp;

constexpr std::size_t kMaxResponseHeaderSize = 16 * 1024;
constexpr std::string_view kUserAgent = "rampart-oidc/" RAMPART_VERSION;

bool isLoopbackHost(const std::string& host) {
    if (host == "localhost") return true;
    boost::system::error_code ec;
    const auto address = asio::ip::make_address(host, ec);
    return !ec && address.is_loopback();
}

std::string hostHeader(const JwksUrl& url) {
    const bool v6 = url.host.find(':') != std::string::npos;
    std::string host = v6 ? "[" + url.host + "]" : url.host;
    if (url.port != (url.tls ? 443 : 80)) host += ":" + std::to_string(url.port);
    return host;
}

// First 8 hex digits of SHA-256(issuer): short, stable, and free of anything the issuer string could smuggle
// into a username (':', spaces, non-ASCII).
std::string usernamePrefixFor(std::string_view issuer) {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int length = 0;
    if (EVP_Digest(issuer.data(), issuer.size(), digest, &length, EVP_sha256(), nullptr) != 1)
        throw OidcError("oidc: SHA-256 is unavailable");
    return fmt::format("oidc:{:02x}{:02x}{:02x}{:02x}:", digest[0], digest[1], digest[2], digest[3]);
}

// Printable ASCII without the space: a value a log line or an admin can show without ambiguity.
bool isAcceptableUsername(std::string_view value) {
    return !value.empty() && value.size() <= kMaxExternalUsernameSize &&
           std::all_of(value.begin(), value.end(), [](char c) { return c > 0x20 && c < 0x7f; });
}

struct Fetched {
    bool ok = false;
    std::string body;
    std::string error;        // for the log line: what went wrong, never the body
    unsigned status = 0;      // 0: no answer
    std::string peerAddress;  // the address connected to; empty when none was
};

Fetched fetchFailed(std::string error, unsigned status = 0) {
    return Fetched{.ok = false, .body = {}, .error = std::move(error), .status = status, .peerAddress = {}};
}

// Sends the GET and reads one response of at most kMaxJwksSize bytes; the stream's lowest layer carries the
// deadline. A redirect is a failure like any other status but 200: the configured URL is the only source.
template <class Stream>
asio::awaitable<Fetched> exchange(Stream& stream, const JwksUrl& url) {
    http::request<http::empty_body> request{http::verb::get, url.target, 11};
    request.set(http::field::host, hostHeader(url));
    request.set(http::field::user_agent, kUserAgent);
    request.set(http::field::accept, "application/json, application/jwk-set+json");
    request.set(http::field::connection, "close");
    co_await http::async_write(stream, request, asio::use_awaitable);

    beast::flat_buffer buffer;
    http::response_parser<http::string_body> parser;
    parser.header_limit(kMaxResponseHeaderSize);
    parser.body_limit(kMaxJwksSize);
    co_await http::async_read(stream, buffer, parser, asio::use_awaitable);
    const auto& response = parser.get();
    if (response.result() != http::status::ok) {
        co_return fetchFailed(fmt::format("HTTP status {}", response.result_int()), response.result_int());
    }
    co_return Fetched{.ok = true, .body = response.body(), .error = {}, .status = 200, .peerAddress = {}};
}

asio::awaitable<Fetched> fetchJwks(const JwksUrl& url, asio::ssl::context* tls,
                                   std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    auto executor = co_await asio::this_coro::executor;
    try {
        // The system resolver cannot be interrupted; the deadline covers everything after it.
        tcp::resolver resolver(executor);
        const auto endpoints =
            co_await resolver.async_resolve(url.host, std::to_string(url.port), asio::use_awaitable);
        if (std::chrono::steady_clock::now() >= deadline) co_return fetchFailed("timed out resolving");
        if (!url.tls) {
            beast::tcp_stream stream(executor);
            stream.expires_at(deadline);
            const tcp::endpoint peer = co_await stream.async_connect(endpoints, asio::use_awaitable);
            Fetched fetched = co_await exchange(stream, url);
            fetched.peerAddress = peer.address().to_string();
            beast::error_code ignored;
            stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
            co_return fetched;
        }
        beast::ssl_stream<beast::tcp_stream> stream(executor, *tls);
        if (!net::expectPeerName(stream.native_handle(), url.host))
            co_return fetchFailed("cannot set the expected certificate name");
        beast::get_lowest_layer(stream).expires_at(deadline);
        const tcp::endpoint peer =
            co_await beast::get_lowest_layer(stream).async_connect(endpoints, asio::use_awaitable);
        co_await stream.async_handshake(asio::ssl::stream_base::client, asio::use_awaitable);
        Fetched fetched = co_await exchange(stream, url);
        fetched.peerAddress = peer.address().to_string();
        // The whole response has been read by its framing; no close_notify exchange is needed.
        beast::error_code ignored;
        beast::get_lowest_layer(stream).socket().shutdown(tcp::socket::shutdown_both, ignored);
        co_return fetched;
    } catch (const boost::system::system_error& error) {
        co_return fetchFailed(error.code().message());
    }
}

std::string readJwksFile(const std::filesystem::path& path, std::string_view issuer) {
    std::ifstream in(path, std::ios::binary);
    if (!in)
        throw OidcError(fmt::format("oidc: issuer {}: cannot read the JWKS file {}", issuer, path.string()));
    std::string content;
    char buffer[4096];
    while (in.read(buffer, sizeof buffer) || in.gcount() > 0) {
        content.append(buffer, static_cast<std::size_t>(in.gcount()));
        if (content.size() > kMaxJwksSize) {
            throw OidcError(fmt::format("oidc: issuer {}: the JWKS file {} is larger than {} bytes", issuer,
                                        path.string(), kMaxJwksSize));
        }
    }
    return content;
}

}  // namespace

std::optional<JwksUrl> parseJwksUrl(std::string_view text, bool development, std::string* error) {
    auto refuse = [&](std::string_view why) -> std::optional<JwksUrl> {
        if (error != nullptr) *error = std::string(why);
        return std::nullopt;
    };
    const auto parsed = boost::urls::parse_absolute_uri(text);
    if (!parsed) return refuse("must be an absolute https:// URL");
    const boost::urls::url_view& url = *parsed;
    JwksUrl result;
    if (url.scheme() == "https") {
        result.tls = true;
    } else if (url.scheme() == "http") {
        result.tls = false;
    } else {
        return refuse("must start with https://");
    }
    if (url.has_userinfo()) return refuse("must not carry a user name or password");
    if (url.has_fragment()) return refuse("must not have a fragment (#...)");
    switch (url.host_type()) {
        case boost::urls::host_type::name:
            result.host = url.host_name();
            break;
        case boost::urls::host_type::ipv4:
        case boost::urls::host_type::ipv6:
            result.host = url.host_address();
            break;
        default:
            return refuse("must name a host");
    }
    if (result.host.empty()) return refuse("must name a host");
    if (url.has_port()) {
        if (url.port().empty() || url.port_number() == 0) return refuse("has an invalid port");
        result.port = url.port_number();
    } else {
        result.port = result.tls ? 443 : 80;
    }
    if (!result.tls && !(development && isLoopbackHost(result.host))) {
        return refuse(
            "must start with https:// (http:// is accepted only in development, to a loopback host)");
    }
    result.target = url.encoded_path().empty() ? "/" : std::string(url.encoded_path());
    if (url.has_query()) result.target += "?" + std::string(url.encoded_query());
    return result;
}

std::optional<std::string> peekIssuer(std::string_view token) {
    if (token.size() > kMaxTokenSize) return std::nullopt;
    const auto first = token.find('.');
    if (first == std::string_view::npos) return std::nullopt;
    const auto second = token.find('.', first + 1);
    if (second == std::string_view::npos) return std::nullopt;
    const auto payload = base64UrlDecode(token.substr(first + 1, second - first - 1));
    if (!payload) return std::nullopt;
    const auto claims = parseStrictJsonObject(*payload, StrictJsonLimits{kMaxTokenSize, 16});
    if (!claims) return std::nullopt;
    const auto* iss = claims->if_contains("iss");
    if (iss == nullptr || !iss->is_string()) return std::nullopt;
    return std::string(iss->get_string());
}

OidcProvider::OidcProvider(OidcIssuer config, const OidcOptions& options,
                           std::shared_ptr<asio::ssl::context> tls)
    : config_(std::move(config)),
      usernamePrefix_(usernamePrefixFor(config_.issuer)),
      tls_(std::move(tls)),
      clock_(options.clock),
      refreshInterval_(options.refreshInterval),
      fetchTimeout_(options.fetchTimeout),
      verifier_(VerifyOptions{config_.issuer, config_.audience, std::nullopt, std::nullopt, options.leeway},
                options.clock, options.cache),
      keys_(std::make_shared<const KeySet>()) {
    auto fail = [&](std::string_view why) {
        throw OidcError(fmt::format("oidc: issuer {}: {}", config_.issuer, why));
    };
    if (config_.issuer.empty()) throw OidcError("oidc: an issuer has no issuer value");
    if (config_.audience.empty()) fail("audience is required");
    if (config_.usernameClaim.empty()) fail("username_claim must not be empty");
    if (config_.jwksFile.empty() == config_.jwksUrl.empty())
        fail("set exactly one of jwks_file and jwks_url");
    for (const std::string& name : config_.algorithms) {
        const auto alg = parseAlgorithm(name);
        if (!alg) fail(fmt::format("algorithm '{}' is not one of EdDSA, ES256, RS256", name));
        algorithms_.push_back(*alg);
    }
    for (const auto& [value, name] : config_.roleMap) {
        const auto role = parseRole(name);
        if (!role) fail(fmt::format("role_map names an unknown role '{}'", name));
        roleMap_.emplace(value, *role);
    }
    if (config_.defaultRole) {
        defaultRole_ = parseRole(*config_.defaultRole);
        if (!defaultRole_) fail(fmt::format("default_role '{}' is not a role", *config_.defaultRole));
    }

    if (!config_.jwksUrl.empty()) {
        std::string error;
        url_ = parseJwksUrl(config_.jwksUrl, options.development, &error);
        if (!url_) fail("jwks_url " + error);
        if (url_->tls && tls_ == nullptr) fail("no TLS context for the jwks_url");
        return;
    }
    const JwksResult parsed = parseJwks(readJwksFile(config_.jwksFile, config_.issuer));
    if (!parsed.ok)
        fail(fmt::format("the JWKS file {} was refused: {}", config_.jwksFile.string(), parsed.error));
    std::vector<std::string> dropped = parsed.skipped;
    KeySet allowed = allowedKeys(parsed.keys, &dropped);
    for (const std::string& line : dropped) spdlog::info("oidc: issuer {}: {}", config_.issuer, line);
    if (allowed.empty())
        fail(fmt::format("the JWKS file {} holds no key of an allowed algorithm", config_.jwksFile.string()));
    keys_ = std::make_shared<const KeySet>(std::move(allowed));
}

std::shared_ptr<const KeySet> OidcProvider::keys() const {
    std::lock_guard lock(mutex_);
    return keys_;
}

KeySet OidcProvider::allowedKeys(KeySet keys, std::vector<std::string>* dropped) const {
    if (algorithms_.empty()) return keys;
    KeySet allowed;
    for (const auto& [kid, key] : keys.keys()) {
        if (std::find(algorithms_.begin(), algorithms_.end(), key.algorithm()) != algorithms_.end()) {
            allowed.add(key);
        } else if (dropped != nullptr) {
            dropped->push_back(fmt::format("key {} skipped: algorithm {} is not in the allowlist", kid,
                                           algorithmName(key.algorithm())));
        }
    }
    return allowed;
}

bool OidcProvider::claimRefreshSlot() {
    const auto now = clock_();
    std::lock_guard lock(mutex_);
    // A clock stepped backwards (now < last) must not stop refreshes until it catches up.
    if (lastFetch_ && now >= *lastFetch_ && now - *lastFetch_ < refreshInterval_) return false;
    lastFetch_ = now;
    return true;
}

asio::awaitable<bool> OidcProvider::refresh(const obs::Span& trace) {
    if (!url_ || !claimRefreshSlot()) co_return false;
    fetches_.fetch_add(1);
    // A client span as the egress client's: the host, the port and the address reached, never the URL's
    // path (the operator's, but the span's readers need not see it).
    auto span = trace.child(obs::StaticText{"GET"}, obs::SpanKind::client);
    span.setAttribute("http.request.method", obs::StaticText{"GET"});
    span.setAttribute("server.address", std::string_view(url_->host));
    span.setAttribute("server.port", static_cast<std::int64_t>(url_->port));
    const Fetched fetched = co_await fetchJwks(*url_, tls_.get(), fetchTimeout_);
    if (!fetched.peerAddress.empty()) span.setAttribute("network.peer.address", fetched.peerAddress);
    if (fetched.status != 0)
        span.setAttribute("http.response.status_code", static_cast<std::int64_t>(fetched.status));
    std::string error;
    if (!fetched.ok) {
        error = fetched.error;
    } else {
        JwksResult parsed = parseJwks(fetched.body);
        if (!parsed.ok) {
            error = "the JWKS was refused: " + parsed.error;
        } else {
            std::vector<std::string> dropped = std::move(parsed.skipped);
            KeySet allowed = allowedKeys(std::move(parsed.keys), &dropped);
            if (allowed.empty()) {
                error = "the JWKS holds no key of an allowed algorithm";
            } else {
                for (const std::string& line : dropped)
                    spdlog::debug("oidc: issuer {}: {}", config_.issuer, line);
                auto fresh = std::make_shared<const KeySet>(std::move(allowed));
                std::lock_guard lock(mutex_);
                keys_ = std::move(fresh);
                co_return true;  // the span ends here, as an answer that was used
            }
        }
    }
    // A set that was fetched but refused is an error of the fetch too: nothing usable came back.
    span.setStatus(obs::SpanStatus::error);
    spdlog::warn("oidc: issuer {}: JWKS fetch failed ({}); keeping the {} keys held", config_.issuer, error,
                 keys()->size());
    co_return false;
}

asio::awaitable<OidcResult> OidcProvider::verify(std::string_view token, const obs::Span& trace) {
    VerifyResult result = verifier_.verify(token, *keys());
    // A provider that rotated its keys signs with a kid we have not seen: fetch once, then decide.
    if (!result.ok && result.error == VerifyError::kKidUnknown && url_) {
        // (Awaited into a local: g++ 12 miscompiles co_await inside a condition.)
        const bool refreshed = co_await refresh(trace);
        if (refreshed) result = verifier_.verify(token, *keys());
    }
    if (!result.ok) co_return OidcResult{std::nullopt, std::string(verifyErrorName(result.error))};
    co_return identify(result);
}

OidcResult OidcProvider::identify(const VerifyResult& result) const {
    const boost::json::object& claims = result.claims->raw;
    const auto* username = claims.if_contains(config_.usernameClaim);
    if (username == nullptr || !username->is_string()) return {std::nullopt, "username_missing"};
    if (!isAcceptableUsername(username->get_string())) return {std::nullopt, "username_invalid"};

    std::optional<Role> role;
    if (!config_.roleClaim.empty()) {
        std::vector<std::string_view> values;
        if (const auto* claim = claims.if_contains(config_.roleClaim)) {
            if (claim->is_string()) {
                values.push_back(claim->get_string());
            } else if (claim->is_array()) {
                for (const auto& element : claim->get_array()) {
                    if (!element.is_string()) return {std::nullopt, "role_claim_invalid"};
                    values.push_back(element.get_string());
                }
            } else {
                return {std::nullopt, "role_claim_invalid"};
            }
        }
        std::set<Role> mapped;
        for (std::string_view value : values) {
            if (const auto it = roleMap_.find(value); it != roleMap_.end()) mapped.insert(it->second);
        }
        // Two different roles from one token: no order among roles is obviously right (auditor and user
        // each can do what the other cannot), so the operator must make the mapping unambiguous.
        if (mapped.size() > 1) return {std::nullopt, "role_ambiguous"};
        if (mapped.size() == 1) role = *mapped.begin();
    }
    if (!role) role = defaultRole_;
    if (!role) return {std::nullopt, "role_unmapped"};

    ExternalIdentity identity;
    identity.issuer = result.claims->issuer;
    identity.subject = result.claims->subject;
    identity.username = usernamePrefix_ + std::string(username->get_string());
    identity.role = *role;
    identity.issuedAt = result.claims->issuedAt;
    identity.claims = claims;
    return {std::move(identity), {}};
}

OidcRegistry::OidcRegistry(const std::vector<OidcIssuer>& issuers, OidcOptions options) {
    std::shared_ptr<asio::ssl::context> tls;
    const bool anyUrl = std::any_of(issuers.begin(), issuers.end(),
                                    [](const OidcIssuer& issuer) { return !issuer.jwksUrl.empty(); });
    if (anyUrl) tls = net::makeClientTlsContext(options.caFile, "oidc");
    std::set<std::string> prefixes;
    for (const OidcIssuer& issuer : issuers) {
        if (byIssuer_.contains(issuer.issuer))
            throw OidcError(fmt::format("oidc: issuer {} is configured twice", issuer.issuer));
        auto provider = std::make_unique<OidcProvider>(issuer, options, tls);
        // 32 bits of SHA-256 make a clash between two configured issuers vanishingly rare; refuse it anyway,
        // since it would merge two providers' users.
        if (!prefixes.insert(provider->usernamePrefix()).second)
            throw OidcError(fmt::format(
                "oidc: issuer {} has the username prefix of another issuer; rename one", issuer.issuer));
        byIssuer_.emplace(issuer.issuer, provider.get());
        providers_.push_back(std::move(provider));
    }
}

asio::awaitable<void> OidcRegistry::start() {
    for (const auto& provider : providers_) {
        if (provider->fetchesFromUrl()) (void)co_await provider->refresh();
    }
}

OidcProvider* OidcRegistry::find(std::string_view issuer) const {
    const auto it = byIssuer_.find(issuer);
    return it == byIssuer_.end() ? nullptr : it->second;
}

OidcProvider* OidcRegistry::providerFor(std::string_view token) const {
    const auto issuer = peekIssuer(token);
    if (!issuer) return nullptr;
    const auto it = byIssuer_.find(*issuer);
    return it == byIssuer_.end() ? nullptr : it->second;
}

bool OidcRegistry::handles(std::string_view token) const {
    return providerFor(token) != nullptr;
}

asio::awaitable<std::optional<ExternalIdentity>> OidcRegistry::verify(std::string_view token,
                                                                      const obs::Span& trace,
                                                                      std::string* failure) {
    OidcProvider* provider = providerFor(token);
    if (provider == nullptr) {
        if (failure != nullptr) *failure = "unknown_issuer";
        co_return std::nullopt;
    }
    OidcResult result = co_await provider->verify(token, trace);
    if (failure != nullptr) *failure = std::move(result.failure);
    co_return std::move(result.identity);
}

}  // namespace rampart::identity
