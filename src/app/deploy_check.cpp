// `rampart check --deploy`: the rules that decide whether a configuration is fit for production.
// docs/configuration.md lists every finding; keep the two in step.
#include "app/deploy_check.hpp"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <set>
#include <string_view>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <boost/asio/ip/address.hpp>

#include "egress/url.hpp"
#include "redis/redis_url.hpp"

namespace rampart {
namespace {

// Django's rule for SECRET_KEY (security.W009).
constexpr std::size_t kMinSecretKeyLength = 50;
constexpr std::size_t kMinSecretKeyDistinctChars = 5;
// Keys copied from examples and tutorials start like this.
constexpr std::string_view kPlaceholderPrefixes[] = {"django-insecure", "changeme", "change-me", "change_me",
                                                     "secret",          "insecure", "password"};
// One year: what browsers' HSTS preload lists require.
constexpr std::chrono::seconds kMinHstsMaxAge{31'536'000};

// Production refuses to start on a critical finding. Development reports the same findings as
// warnings, so that a developer sees what production would refuse without being stopped by it.
class Findings {
  public:
    explicit Findings(bool production) : production_(production) {}

    void add(std::string_view id, Severity severity, std::string problem, std::string fix) {
        if (!production_ && severity == Severity::critical) severity = Severity::warning;
        list_.push_back(Finding{std::string(id), severity, std::move(problem), std::move(fix)});
    }

    std::vector<Finding> take() { return std::move(list_); }

  private:
    bool production_;
    std::vector<Finding> list_;
};

bool startsWithIgnoringCase(std::string_view text, std::string_view prefix) {
    return text.size() >= prefix.size() &&
           std::equal(prefix.begin(), prefix.end(), text.begin(), [](char a, char b) {
               return std::tolower(static_cast<unsigned char>(a)) ==
                      std::tolower(static_cast<unsigned char>(b));
           });
}

bool isLoopbackHost(std::string_view host) {
    if (host.starts_with('[') && host.ends_with(']')) host = host.substr(1, host.size() - 2);
    if (host == "localhost") return true;
    boost::system::error_code ec;
    const auto address = boost::asio::ip::make_address(std::string(host), ec);
    return !ec && address.is_loopback();
}

// "host:port", "[v6]:port" or "host" -> host (with the brackets of an IPv6 literal removed).
std::string_view hostOf(std::string_view authority) {
    if (authority.starts_with('[')) {
        const auto close = authority.find(']');
        return close == std::string_view::npos ? authority : authority.substr(1, close - 1);
    }
    return authority.substr(0, authority.find(':'));
}

std::string modeText(std::filesystem::perms perms) {
    return fmt::format("{:04o}", static_cast<unsigned>(perms) & 07777U);
}

std::optional<std::filesystem::perms> permissionsOf(const std::filesystem::path& path) {
    std::error_code ec;
    const auto status = std::filesystem::status(path, ec);
    if (ec || !std::filesystem::exists(status)) return std::nullopt;
    return status.permissions();
}

bool readableByOthers(std::filesystem::perms mode) {
    using enum std::filesystem::perms;
    return (mode & (group_read | others_read)) != none;
}

bool isReadableFile(const std::filesystem::path& path) {
    std::error_code ec;
    return std::filesystem::is_regular_file(path, ec) && ::access(path.c_str(), R_OK) == 0;
}

// The parts of a database or Redis URL that the checks need; the URL itself is never shown.
struct UrlFacts {
    std::vector<std::string> hosts;  // empty: Unix socket or default local host
    bool hasPassword = false;
    std::string sslmode;
};

UrlFacts urlFacts(std::string_view url) {
    UrlFacts facts;
    const auto schemeEnd = url.find("://");
    std::string_view rest = schemeEnd == std::string_view::npos ? url : url.substr(schemeEnd + 3);
    const std::string_view authority = rest.substr(0, rest.find_first_of("/?"));
    const auto query = rest.find('?');
    std::string_view hostList = authority;
    if (const auto at = authority.rfind('@'); at != std::string_view::npos) {
        const std::string_view userInfo = authority.substr(0, at);
        const auto colon = userInfo.find(':');
        facts.hasPassword = colon != std::string_view::npos && colon + 1 < userInfo.size();
        hostList = authority.substr(at + 1);
    }
    while (!hostList.empty()) {  // PostgreSQL allows "host1:5432,host2:5432"
        const auto comma = hostList.find(',');
        const std::string_view host = hostOf(hostList.substr(0, comma));
        if (!host.empty()) facts.hosts.emplace_back(host);
        if (comma == std::string_view::npos) break;
        hostList.remove_prefix(comma + 1);
    }
    std::string_view params = query == std::string_view::npos ? std::string_view{} : rest.substr(query + 1);
    while (!params.empty()) {
        const auto amp = params.find('&');
        const std::string_view param = params.substr(0, amp);
        if (param.starts_with("sslmode=")) facts.sslmode = param.substr(8);
        if (param.starts_with("password=") && param.size() > 9) facts.hasPassword = true;
        if (param.starts_with("host=")) {
            const std::string_view host = param.substr(5);
            if (!host.starts_with('/')) facts.hosts.emplace_back(host);  // a path is a local socket
        }
        if (amp == std::string_view::npos) break;
        params.remove_prefix(amp + 1);
    }
    return facts;
}

bool anyRemoteHost(const UrlFacts& facts) {
    return std::any_of(facts.hosts.begin(), facts.hosts.end(),
                       [](const std::string& h) { return !isLoopbackHost(h); });
}

void checkSecretKey(const Config& config, Findings& findings) {
    const SecretString& key = config.secretKey;
    if (key.empty()) {
        findings.add(
            "secret_key.missing", Severity::critical,
            "No secret key is configured, so session, CSRF and signed values cannot be protected.",
            "Set RAMPART_SECRET_KEY, or RAMPART_SECRET_KEY_FILE naming a file, to at least 50 random "
            "characters (for example the output of `openssl rand -base64 48`).");
        return;
    }
    const std::string& value = key.reveal();  // only measured here, never copied into a finding
    const std::set<char> distinct(value.begin(), value.end());
    const bool placeholder =
        std::any_of(std::begin(kPlaceholderPrefixes), std::end(kPlaceholderPrefixes),
                    [&](std::string_view prefix) { return startsWithIgnoringCase(value, prefix); });
    std::string problem;
    if (placeholder) {
        problem =
            "The secret key starts with a well-known placeholder, so it was probably copied from an example.";
    } else if (value.size() < kMinSecretKeyLength) {
        problem = fmt::format("The secret key has only {} characters; at least {} are needed.", value.size(),
                              kMinSecretKeyLength);
    } else if (distinct.size() < kMinSecretKeyDistinctChars) {
        problem =
            fmt::format("The secret key uses fewer than {} distinct characters, so it is easy to guess.",
                        kMinSecretKeyDistinctChars);
    }
    if (!problem.empty()) {
        findings.add("secret_key.weak", Severity::critical, std::move(problem),
                     "Replace it with at least 50 random characters (for example the output of `openssl rand "
                     "-base64 48`) and keep it out of version control.");
    }
    if (!config.secretKeyFile.empty()) {
        const auto perms = permissionsOf(config.secretKeyFile);
        if (perms && readableByOthers(*perms)) {
            findings.add("secret_key.file_permissions", Severity::warning,
                         fmt::format("The secret key file {} can be read by other users (mode {}).",
                                     config.secretKeyFile.string(), modeText(*perms)),
                         fmt::format("Run `chmod 600 {}`.", config.secretKeyFile.string()));
        }
    }
}

void checkHosts(const Config& config, Findings& findings) {
    if (config.verboseErrors) {
        findings.add("debug.verbose_errors", Severity::critical,
                     "Verbose errors are on, so error responses can reveal internal details to any client.",
                     "Remove verbose_errors = true (RAMPART_VERBOSE_ERRORS) from the configuration.");
    }
    const auto& hosts = config.allowedHosts;
    if (hosts.empty()) {
        findings.add(
            "hosts.empty", Severity::critical,
            "No allowed hosts are configured, so the server cannot tell its own names from forged Host "
            "headers.",
            "Set allowed_hosts (RAMPART_ALLOWED_HOSTS) to the names clients use, e.g. api.example.com.");
    }
    if (std::find(hosts.begin(), hosts.end(), "*") != hosts.end()) {
        findings.add(
            "hosts.wildcard", Severity::critical,
            "allowed_hosts contains *, so any Host header is accepted, which allows host-header "
            "poisoning of links and caches.",
            "Replace * with the exact host names, or .example.com for a domain and all its subdomains.");
    }
}

void checkTransport(const Config& config, Findings& findings) {
    const bool behindTrustedProxy = config.tlsTerminatedByProxy && !config.trustedProxies.empty();
    if (config.tlsTerminatedByProxy && config.trustedProxies.empty()) {
        findings.add(
            "tls.missing", Severity::critical,
            "tls_terminated_by_proxy is set but trusted_proxies is empty, so no proxy's word about HTTPS "
            "can be believed.",
            "List the TLS proxy's addresses in trusted_proxies (RAMPART_TRUSTED_PROXIES).");
    } else if (!config.tls.enabled() && !behindTrustedProxy) {
        findings.add(
            "tls.missing", Severity::critical,
            "Neither a TLS certificate nor a TLS-terminating proxy is configured, so passwords and tokens "
            "travel in plain text.",
            "Set RAMPART_TLS_CERT and RAMPART_TLS_KEY, or set tls_terminated_by_proxy = true with the "
            "proxy's addresses in trusted_proxies.");
    }

    for (const auto& [file, setting] : {std::pair{config.tls.certFile, "tls.cert (RAMPART_TLS_CERT)"},
                                        std::pair{config.tls.keyFile, "tls.key (RAMPART_TLS_KEY)"}}) {
        if (!file.empty() && !isReadableFile(file)) {
            findings.add("tls.files", Severity::critical,
                         fmt::format("The TLS file {} named by {} is missing or cannot be read.",
                                     file.string(), setting),
                         fmt::format("Point {} at a readable PEM file.", setting));
        }
    }
    if (!config.tls.keyFile.empty()) {
        const auto perms = permissionsOf(config.tls.keyFile);
        if (perms && readableByOthers(*perms)) {
            findings.add("tls.files", Severity::warning,
                         fmt::format("The TLS private key {} can be read by other users (mode {}).",
                                     config.tls.keyFile.string(), modeText(*perms)),
                         fmt::format("Run `chmod 600 {}`.", config.tls.keyFile.string()));
        }
    }

    if (config.production() && !config.requireTls) {
        findings.add(
            "https.redirect_off", Severity::critical,
            "require_tls is off, so plain-HTTP requests are served instead of being redirected to HTTPS.",
            "Remove require_tls = false (RAMPART_REQUIRE_TLS); production turns it on by default.");
    }
    if (config.hsts.maxAge < kMinHstsMaxAge) {
        findings.add(
            "hsts.short", Severity::critical,
            fmt::format("The HSTS max-age is {} seconds, less than a year, so browsers soon stop insisting "
                        "on HTTPS.",
                        config.hsts.maxAge.count()),
            "Set hsts.max_age_seconds to at least 31536000 (the default).");
    }
    // A warning, not critical: some domains still have subdomains that cannot serve HTTPS.
    if (!config.hsts.includeSubdomains) {
        findings.add(
            "hsts.no_subdomains", Severity::warning,
            "HSTS does not cover subdomains, so a spoofed http:// subdomain can set cookies for this "
            "site.",
            "Set hsts.include_subdomains = true once every subdomain serves HTTPS.");
    }
    if (!config.secureCookies) {
        findings.add(
            "cookies.insecure", Severity::critical,
            "secure_cookies is off, so session and CSRF cookies can be sent over plain HTTP and stolen.",
            "Set secure_cookies = true (RAMPART_SECURE_COOKIES), which is the production default.");
    }

    bool publicListener = true;  // an address that does not parse is assumed reachable
    try {
        publicListener = !isLoopbackHost(parseListenAddress(config.listen).host);
    } catch (const ConfigError&) {
    }
    if (publicListener && !config.tls.enabled() && !behindTrustedProxy) {
        findings.add(
            "listen.public_plaintext", Severity::critical,
            fmt::format("Rampart listens on {}, reachable from other machines, without TLS.", config.listen),
            "Configure TLS (RAMPART_TLS_CERT, RAMPART_TLS_KEY), or listen on 127.0.0.1 behind a TLS proxy "
            "named in trusted_proxies with tls_terminated_by_proxy = true.");
    }
}

void checkCors(const Config& config, Findings& findings) {
    const auto& origins = config.cors.allowedOrigins;
    if (std::find(origins.begin(), origins.end(), "*") != origins.end()) {
        findings.add(
            "cors.wildcard", Severity::critical,
            config.cors.allowCredentials
                ? "cors.allowed_origins contains * together with allow_credentials, so any web site could "
                  "make authenticated requests with a visitor's credentials."
                : "cors.allowed_origins contains *, so any web site may read API responses in a visitor's "
                  "browser.",
            "List the exact origins (scheme://host[:port]) of the front ends that call the API.");
    }
    std::vector<std::string> insecure;
    for (const std::string& origin : origins) {
        if (origin.starts_with("http://") && !isLoopbackHost(hostOf(std::string_view(origin).substr(7)))) {
            insecure.push_back(origin);
        }
    }
    if (!insecure.empty()) {
        findings.add(
            "cors.insecure_origin", Severity::warning,
            fmt::format("CORS allows plain-HTTP origins ({}), whose pages a network attacker can alter to "
                        "call the API.",
                        fmt::join(insecure, ", ")),
            "Use https:// origins only; http:// is fine for localhost.");
    }
}

void checkBackends(const Config& config, Findings& findings) {
    const std::string& database = config.databaseUrl.reveal();
    if (database.starts_with("postgres://") || database.starts_with("postgresql://")) {
        const UrlFacts facts = urlFacts(database);
        // verify-ca checks the chain but not the host name: any certificate from that CA passes.
        const bool verified = facts.sslmode == "verify-full";
        const bool encrypted = facts.sslmode == "require" || facts.sslmode == "verify-ca";
        if (anyRemoteHost(facts) && !verified) {
            findings.add("database.tls", encrypted ? Severity::warning : Severity::critical,
                         encrypted
                             ? "The PostgreSQL connection is encrypted but the server's host name is not "
                               "verified against its certificate, so it can be intercepted."
                             : "The PostgreSQL connection to another host may be unencrypted, exposing the "
                               "database password and data.",
                         "Add sslmode=verify-full (with sslrootcert if needed) to RAMPART_DATABASE_URL.");
        }
    }
    // A password in the TOML file travels with it: into backups, configuration management and every
    // account that may read the file.
    for (const std::string& setting : config.secretsInFile) {
        const bool database = setting == "database_url";
        const std::string& url = database ? config.databaseUrl.reveal()
                                          : (config.redisUrl ? config.redisUrl->reveal() : std::string());
        if (!urlFacts(url).hasPassword) continue;
        findings.add(database ? "database.password_in_file" : "redis.password_in_file", Severity::critical,
                     fmt::format("The configuration file holds a password ({}).", setting),
                     database
                         ? "Pass the URL in RAMPART_DATABASE_URL instead, or leave the password out of "
                           "it and use a PostgreSQL password file (passfile=... in the URL, or PGPASSFILE)."
                         : "Pass the URL in RAMPART_REDIS_URL instead.");
    }
    if (config.redisUrl) {
        // Configuration loading has already parsed the URL; a URL that does not parse is reported there.
        std::optional<redis::RedisUrl> url;
        try {
            url = redis::parseRedisUrl(config.redisUrl->reveal());
        } catch (const redis::InvalidRedisUrl&) {
        }
        if (url && !url->tls && !url->isLoopback()) {
            findings.add(
                "redis.plaintext", Severity::critical,
                "Redis on another host is reached over plain redis://, so its password and data travel "
                "unencrypted.",
                "Use a rediss:// URL in RAMPART_REDIS_URL (Redis with TLS).");
        }
        if (url && url->password.empty()) {
            findings.add(
                "redis.no_auth", Severity::critical,
                "The Redis URL has no password, so anyone who can reach Redis can change rate-limit "
                "state and lift every limit.",
                "Enable Redis ACLs (or requirepass) and put the user and password in RAMPART_REDIS_URL.");
        }
    }
}

void checkExposure(const Config& config, Findings& findings) {
    // A warning, not critical: a deployment may have no administrators who log in interactively
    // (only the CLI), and refusing to start would push people to weaker workarounds.
    if (config.production() && !config.auth.requireAdminTotp) {
        findings.add("auth.admin_totp_optional", Severity::warning,
                     "auth.require_admin_totp is off, so an administrator's password alone opens every "
                     "admin route.",
                     "Remove auth.require_admin_totp = false (RAMPART_AUTH__REQUIRE_ADMIN_TOTP); production "
                     "turns it on by default.");
    }
    if (config.metricsPublic) {
        findings.add(
            "metrics.public", Severity::warning,
            "/metrics is open to every client, which reveals traffic, queue and error details.",
            "Set metrics_public = false and scrape from loopback, or protect /metrics at the proxy.");
    }
    if (const auto perms = permissionsOf(config.dataDir)) {
        using enum std::filesystem::perms;
        if ((*perms & (group_write | others_write)) != none) {
            findings.add("data_dir.permissions", Severity::warning,
                         fmt::format("The data directory {} is writable by other users (mode {}), who could "
                                     "replace the database or keys.",
                                     config.dataDir.string(), modeText(*perms)),
                         fmt::format("Run `chmod 700 {}`.", config.dataDir.string()));
        }
    }
}

// Spans carry routes, job ids, task names and the identities of callers: across a network they need TLS
// like any other data, and a collector's credentials (telemetry.headers_file) would travel in the clear.
void checkTelemetry(const Config& config, Findings& findings) {
    const std::string url = config.telemetry.tracesUrl();
    if (url.empty()) return;
    const auto parsed = egress::parseUrl(url);
    if (!parsed || parsed->tls || isLoopbackHost(parsed->host)) return;
    // The host only: the URL itself may carry a key in its query.
    findings.add(
        "telemetry.plaintext", Severity::warning,
        fmt::format("Traces are exported over plain HTTP to {}, another machine: a network attacker "
                    "can read the spans{}.",
                    parsed->host, config.telemetry.headers.empty() ? "" : " and the collector's credentials"),
        "Use an https:// collector endpoint (telemetry.endpoint, OTEL_EXPORTER_OTLP_ENDPOINT), or a "
        "collector on this machine (127.0.0.1) that forwards over TLS.");
}

std::string_view severityName(Severity severity) {
    switch (severity) {
        case Severity::critical:
            return "CRITICAL";
        case Severity::warning:
            return "WARNING";
        case Severity::info:
            return "INFO";
    }
    return "UNKNOWN";
}

}  // namespace

std::vector<Finding> runDeployChecks(const Config& config) {
    Findings findings(config.production());
    checkSecretKey(config, findings);
    checkHosts(config, findings);
    checkTransport(config, findings);
    checkCors(config, findings);
    checkBackends(config, findings);
    checkExposure(config, findings);
    checkTelemetry(config, findings);
    return findings.take();
}

std::string formatFinding(const Finding& finding) {
    return fmt::format("{} {}: {} Fix: {}", severityName(finding.severity), finding.id, finding.problem,
                       finding.fix);
}

bool hasCritical(const std::vector<Finding>& findings) {
    return std::any_of(findings.begin(), findings.end(),
                       [](const Finding& finding) { return finding.severity == Severity::critical; });
}

}  // namespace rampart
