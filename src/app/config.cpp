// Loads Config from built-in defaults, a TOML file, RAMPART_* variables and overrides, in that order,
// and creates the development secret key.
#include "app/config.hpp"

#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <fstream>
#include <functional>
#include <limits>
#include <set>
#include <sstream>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <toml++/toml.h>
#include <boost/asio/ip/address.hpp>

#include "core/strict_json.hpp"
#include "egress/egress_client.hpp"
#include "egress/url.hpp"
#include "identity/jwt.hpp"
#include "identity/oidc.hpp"
#include "identity/principal.hpp"
#include "jobs/builtin_tasks.hpp"
#include "jobs/task_registry.hpp"
#include "redis/redis_url.hpp"

extern char** environ;

namespace rampart {
namespace {

constexpr std::string_view kEnvPrefix = "RAMPART_";
constexpr std::string_view kOtelPrefix = "OTEL_";
constexpr std::string_view kSecretKeyVariable = "RAMPART_SECRET_KEY";
constexpr std::string_view kOverrideOrigin = "command-line override";
constexpr std::uint64_t kMaxSize = std::numeric_limits<std::size_t>::max();
// A day: longer timeouts are mistakes, and a bound keeps deadline arithmetic far from overflow.
constexpr std::uint64_t kMaxTimeoutMs = 24ULL * 60 * 60 * 1000;
constexpr std::uint64_t kMaxSeconds = 10ULL * 365 * 24 * 60 * 60;
constexpr std::uint64_t kMaxThreads = 1024;
constexpr std::uint64_t kMaxConcurrency = 1024;
constexpr std::uint64_t kMaxHashQueue = 65'536;
constexpr std::uint64_t kMaxRetentionHours = 10ULL * 365 * 24;
// libsodium's own upper bounds for Argon2id on 64-bit systems (crypto_pwhash_OPSLIMIT_MAX and
// crypto_pwhash_MEMLIMIT_MAX / 1024), so a loaded value never makes hashing fail at run time.
constexpr std::uint64_t kMaxArgon2Ops = 0xFFFF'FFFFULL;
constexpr std::uint64_t kMaxArgon2MemoryKib = 0xFFFF'FFFFULL;
constexpr std::size_t kGeneratedKeyLength = 64;

std::string_view tomlTypeName(const toml::node& node) {
    switch (node.type()) {
        case toml::node_type::string:
            return "a string";
        case toml::node_type::integer:
            return "an integer";
        case toml::node_type::floating_point:
            return "a floating-point number";
        case toml::node_type::boolean:
            return "a boolean";
        case toml::node_type::array:
            return "an array";
        case toml::node_type::table:
            return "a table";
        default:
            return "a date or time";
    }
}

std::string_view trim(std::string_view text) {
    const auto first = text.find_first_not_of(" \t");
    if (first == std::string_view::npos) return {};
    const auto last = text.find_last_not_of(" \t");
    return text.substr(first, last - first + 1);
}

std::string toLower(std::string_view text) {
    std::string lower(text);
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return lower;
}

std::optional<std::uint64_t> parseUnsigned(std::string_view text) {
    std::uint64_t value = 0;
    const auto* end = text.data() + text.size();
    const auto [ptr, ec] = std::from_chars(text.data(), end, value);
    if (text.empty() || ec != std::errc{} || ptr != end) return std::nullopt;
    return value;
}

// One value for one setting before conversion: a TOML node from the file, or text from the
// environment or the command line. It remembers where it came from so that an error can say where
// to look, and whether it is secret so that an error never repeats it.
class RawValue {
  public:
    RawValue(std::string_view setting, bool secret, const toml::node& node, std::string origin)
        : setting_(setting), secret_(secret), node_(&node), origin_(std::move(origin)) {}
    RawValue(std::string_view setting, bool secret, std::string_view text, std::string origin)
        : setting_(setting), secret_(secret), text_(text), origin_(std::move(origin)) {}

    [[noreturn]] void fail(std::string_view why) const {
        throw ConfigError(fmt::format("invalid setting {} (from {}): {}", setting_, origin_, why));
    }

    // ", got 'value'" for ordinary settings; nothing for secrets.
    [[nodiscard]] std::string got(std::string_view value) const {
        return secret_ ? std::string{} : fmt::format(", got '{}'", value);
    }

    [[nodiscard]] std::string text() const {
        if (node_ == nullptr) return std::string(text_);
        if (!node_->is_string()) fail(fmt::format("must be a string, not {}", tomlTypeName(*node_)));
        return node_->as_string()->get();
    }

    [[nodiscard]] std::string nonEmptyText() const {
        std::string value = text();
        if (value.empty()) fail("must not be empty");
        return value;
    }

    [[nodiscard]] bool boolean() const {
        if (node_ != nullptr) {
            if (!node_->is_boolean())
                fail(fmt::format("must be true or false, not {}", tomlTypeName(*node_)));
            return node_->as_boolean()->get();
        }
        const std::string lower = toLower(trim(text_));
        if (lower == "true" || lower == "1" || lower == "yes") return true;
        if (lower == "false" || lower == "0" || lower == "no") return false;
        fail("must be true or false (or 1/0, yes/no)" + got(text_));
    }

    [[nodiscard]] std::uint64_t number(std::uint64_t min, std::uint64_t max) const {
        std::optional<std::uint64_t> value;
        if (node_ != nullptr) {
            if (!node_->is_integer()) fail(fmt::format("must be an integer, not {}", tomlTypeName(*node_)));
            const std::int64_t integer = node_->as_integer()->get();
            if (integer >= 0) value = static_cast<std::uint64_t>(integer);
        } else {
            value = parseUnsigned(trim(text_));
        }
        if (!value || *value < min || *value > max) {
            const std::string shown =
                node_ != nullptr ? std::to_string(node_->as_integer()->get()) : std::string(text_);
            fail(fmt::format("must be a whole number from {} to {}", min, max) + got(shown));
        }
        return *value;
    }

    // A TOML array of strings, or comma-separated text (blanks around items ignored).
    [[nodiscard]] std::vector<std::string> list() const {
        std::vector<std::string> items;
        if (node_ != nullptr) {
            const toml::array* array = node_->as_array();
            if (array == nullptr)
                fail(fmt::format("must be an array of strings, not {}", tomlTypeName(*node_)));
            for (const toml::node& element : *array) {
                if (!element.is_string()) fail("must be an array of strings");
                items.push_back(element.as_string()->get());
            }
            return items;
        }
        std::string_view rest = text_;
        while (!rest.empty()) {
            const auto comma = rest.find(',');
            const std::string_view item = trim(rest.substr(0, comma));
            if (!item.empty()) items.emplace_back(item);
            if (comma == std::string_view::npos) break;
            rest.remove_prefix(comma + 1);
        }
        return items;
    }

    // A TOML table of strings ({ name = "value" }), or comma-separated name=value text.
    [[nodiscard]] std::vector<std::pair<std::string, std::string>> entries() const {
        std::vector<std::pair<std::string, std::string>> result;
        if (node_ != nullptr) {
            const toml::table* table = node_->as_table();
            if (table == nullptr)
                fail(fmt::format("must be a table of strings, not {}", tomlTypeName(*node_)));
            for (auto&& [key, value] : *table) {
                if (!value.is_string()) fail(fmt::format("the value of '{}' must be a string", key.str()));
                result.emplace_back(std::string(key.str()), value.as_string()->get());
            }
            return result;
        }
        for (const std::string& item : list()) {
            const auto equals = item.find('=');
            if (equals == std::string::npos) fail("each entry must be name=value" + got(item));
            result.emplace_back(std::string(trim(std::string_view(item).substr(0, equals))),
                                std::string(trim(std::string_view(item).substr(equals + 1))));
        }
        return result;
    }

    // A number from min to max: a TOML float or integer, or decimal text.
    [[nodiscard]] double real(double min, double max) const {
        std::optional<double> value;
        std::string shown;
        if (node_ != nullptr) {
            if (node_->is_floating_point()) value = node_->as_floating_point()->get();
            if (node_->is_integer()) value = static_cast<double>(node_->as_integer()->get());
            if (!value) fail(fmt::format("must be a number, not {}", tomlTypeName(*node_)));
            shown = fmt::format("{}", *value);
        } else {
            const std::string_view text = trim(text_);
            double parsed = 0;
            const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), parsed);
            if (!text.empty() && ec == std::errc{} && ptr == text.data() + text.size()) value = parsed;
            shown = std::string(text_);
        }
        if (!value || !(*value >= min && *value <= max))  // NaN fails both
            fail(fmt::format("must be a number from {} to {}", min, max) + got(shown));
        return *value;
    }

    // Text from the environment or the command line (not a TOML node).
    [[nodiscard]] bool isText() const { return node_ == nullptr; }

    [[nodiscard]] std::chrono::milliseconds milliseconds(std::uint64_t min) const {
        return std::chrono::milliseconds(static_cast<std::int64_t>(number(min, kMaxTimeoutMs)));
    }

    [[nodiscard]] std::chrono::seconds seconds(std::uint64_t min = 0, std::uint64_t max = kMaxSeconds) const {
        return std::chrono::seconds(static_cast<std::int64_t>(number(min, max)));
    }

  private:
    std::string_view setting_;
    bool secret_;
    const toml::node* node_ = nullptr;
    std::string_view text_;
    std::string origin_;
};

bool isHostNameChar(char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-';
}

bool isIpOrCidr(std::string_view text) {
    const auto slash = text.find('/');
    boost::system::error_code ec;
    const auto address = boost::asio::ip::make_address(std::string(text.substr(0, slash)), ec);
    if (ec) return false;
    if (slash == std::string_view::npos) return true;
    const auto prefix = parseUnsigned(text.substr(slash + 1));
    return prefix && *prefix <= (address.is_v4() ? 32U : 128U);
}

// Exactly "scheme://host[:port]": browsers send the Origin header in this form, so anything else
// (a trailing slash, a path) would silently never match.
bool isOrigin(std::string_view text) {
    if (text == "*") return true;
    std::string_view rest;
    if (text.starts_with("https://")) {
        rest = text.substr(8);
    } else if (text.starts_with("http://")) {
        rest = text.substr(7);
    } else {
        return false;
    }
    return !rest.empty() && rest.find_first_of("/?#@ \t") == std::string_view::npos;
}

bool isHeaderName(std::string_view text) {
    constexpr std::string_view kTokenPunctuation = "!#$%&'*+-.^_`|~";
    return !text.empty() && std::all_of(text.begin(), text.end(), [&](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) ||
               kTokenPunctuation.find(c) != std::string_view::npos;
    });
}

// "*", a name or IPv4 address (".example.com" for a domain and its subdomains), or "[v6]" as the
// Host header carries it. No port: the Host check compares names only.
bool isAllowedHost(std::string_view text) {
    if (text == "*") return true;
    if (text.size() > 2 && text.starts_with('[') && text.ends_with(']')) {
        boost::system::error_code ec;
        (void)boost::asio::ip::make_address_v6(std::string(text.substr(1, text.size() - 2)), ec);
        return !ec;
    }
    return !text.empty() && std::all_of(text.begin(), text.end(), isHostNameChar);
}

Mode parseMode(const RawValue& value) {
    const std::string text = value.text();
    if (text == "development") return Mode::development;
    if (text == "production") return Mode::production;
    value.fail("must be development or production" + value.got(text));
}

identity::AuthSettings::HashPriority parseHashPriority(const RawValue& value) {
    using Priority = identity::AuthSettings::HashPriority;
    const std::string text = value.text();
    if (text == "idle") return Priority::idle;
    if (text == "low") return Priority::low;
    if (text == "normal") return Priority::normal;
    value.fail("must be idle, low or normal" + value.got(text));
}

std::string parseListen(const RawValue& value) {
    std::string text = value.text();
    try {
        (void)parseListenAddress(text);
    } catch (const ConfigError& error) {
        value.fail(error.what() + value.got(text));
    }
    return text;
}

// jobs.worker_metrics_listen: metrics describe the jobs, so a worker serves them to its own machine only
// (a scraper there, or a proxy that decides who may see them); empty turns the listener off.
std::string parseLoopbackListen(const RawValue& value) {
    std::string text = value.text();
    if (text.empty()) return text;
    ListenAddress address;
    try {
        address = parseListenAddress(text);
    } catch (const ConfigError& error) {
        value.fail(error.what() + value.got(text));
    }
    boost::system::error_code ec;
    const auto ip = boost::asio::ip::make_address(address.host, ec);
    if (address.host != "localhost" && (ec || !ip.is_loopback()))
        value.fail("must be a loopback address (127.0.0.1, [::1] or localhost), or empty for none" +
                   value.got(text));
    return text;
}

SecretString parseUrl(const RawValue& value, std::initializer_list<std::string_view> schemes) {
    std::string text = value.nonEmptyText();
    for (std::string_view scheme : schemes) {
        if (text.starts_with(scheme) && text.size() > scheme.size()) return SecretString(std::move(text));
    }
    std::string expected;
    for (std::string_view scheme : schemes) expected += (expected.empty() ? "" : ", ") + std::string(scheme);
    sodium_memzero(text.data(), text.size());
    value.fail("must be a URL starting with one of " + expected);
}

std::string parseLogLevel(const RawValue& value) {
    std::string text = value.text();
    for (std::string_view level : {"trace", "debug", "info", "warn", "error"}) {
        if (text == level) return text;
    }
    value.fail("must be one of trace, debug, info, warn, error" + value.got(text));
}

std::vector<std::string> parseList(const RawValue& value, bool (*valid)(std::string_view),
                                   std::string_view rule) {
    std::vector<std::string> items = value.list();
    for (const std::string& item : items) {
        if (!valid(item)) value.fail(fmt::format("{}, got '{}'", rule, item));
    }
    return items;
}

// "example.com", ".example.com" (every name under it) or an IP address in its usual form.
constexpr std::string_view kDomainRule =
    "each entry must be a host name (example.com), .example.com for every name under it, or an IP address";

bool isDomainRule(std::string_view text) {
    if (text.starts_with('.')) text.remove_prefix(1);
    return !text.empty() && text != "*" && isAllowedHost(text);
}

std::vector<std::string> parseQueueNames(const RawValue& value) {
    std::vector<std::string> names =
        parseList(value, jobs::isValidName, "each queue name must be 1-64 characters of [a-z0-9._-]");
    if (names.empty()) value.fail("must name at least one queue");
    std::set<std::string_view> seen;
    for (const std::string& name : names)
        if (!seen.insert(name).second) value.fail(fmt::format("names queue '{}' twice", name));
    return names;
}

std::optional<ratelimit::Rate> parseRateSetting(const RawValue& value, bool mayBeOff) {
    const std::string text = value.text();
    try {
        if (mayBeOff) return ratelimit::parseOptionalRate(text);
        return ratelimit::parseRate(text);
    } catch (const ratelimit::RateError& error) {
        value.fail(error.what());
    }
}

// An API token id as `rampart admin token create` and GET /api/v1/tokens show it.
bool isTokenId(std::string_view text) {
    return !text.empty() && text.size() <= 64 && std::all_of(text.begin(), text.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_';
    });
}

std::map<std::string, ratelimit::Rate> parseTokenRates(const RawValue& value) {
    std::map<std::string, ratelimit::Rate> rates;
    for (auto& [token, text] : value.entries()) {
        if (!isTokenId(token))
            value.fail(
                fmt::format("each key must be an API token id (letters, digits, - and _), got '{}'", token));
        try {
            rates.insert_or_assign(token, ratelimit::parseRate(text));
        } catch (const ratelimit::RateError& error) {
            value.fail(fmt::format("token {}: {}", token, error.what()));
        }
    }
    return rates;
}

// %XX escapes decoded (OpenTelemetry's comma-separated key=value variables, W3C Baggage's encoding);
// nullopt on a broken escape.
std::optional<std::string> percentDecoded(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    auto hex = [](char c) -> int {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        if (c >= 'A' && c <= 'F') return c - 'A' + 10;
        return -1;
    };
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (text[i] != '%') {
            out += text[i];
            continue;
        }
        if (i + 2 >= text.size()) return std::nullopt;
        const int high = hex(text[i + 1]);
        const int low = hex(text[i + 2]);
        if (high < 0 || low < 0) return std::nullopt;
        out += static_cast<char>(high * 16 + low);
        i += 2;
    }
    return out;
}

// "k=v,k2=v2" as OTEL_RESOURCE_ATTRIBUTES and OTEL_EXPORTER_OTLP_HEADERS write it: blanks around items,
// keys and values trimmed, values percent-decoded, empty items skipped. `fail` (which throws) is never
// given a value (a header's may be a credential): it names the item by its position.
std::vector<std::pair<std::string, std::string>> otelPairs(std::string_view text,
                                                           const std::function<void(std::string)>& fail) {
    std::vector<std::pair<std::string, std::string>> pairs;
    std::size_t position = 0;
    while (!text.empty()) {
        const auto comma = text.find(',');
        const std::string_view item = trim(text.substr(0, comma));
        text = comma == std::string_view::npos ? std::string_view{} : text.substr(comma + 1);
        if (item.empty()) continue;
        ++position;
        const auto equals = item.find('=');
        if (equals == std::string_view::npos || trim(item.substr(0, equals)).empty())
            fail(fmt::format("entry {} must be key=value", position));
        auto key = percentDecoded(trim(item.substr(0, equals)));
        auto value = percentDecoded(trim(item.substr(equals + 1)));
        if (!key || !value) fail(fmt::format("entry {} has a broken %XX escape", position));
        pairs.emplace_back(std::move(*key), std::move(*value));
    }
    return pairs;
}

// telemetry.endpoint and traces_endpoint: empty (off), or an http(s) URL the egress client accepts. The
// message does not repeat the URL: a collector's URL may carry a key in its query.
std::string parseCollectorUrl(const RawValue& value) {
    std::string text = value.text();
    if (text.empty()) return text;
    if (!text.starts_with("http://") && !text.starts_with("https://"))
        value.fail("must be an http:// or https:// URL (OTLP/HTTP), or empty for no tracing");
    std::string why;
    if (!egress::parseUrl(text, &why)) value.fail("the URL " + why);
    return text;
}

obs::SamplerKind parseSampler(const RawValue& value) {
    const std::string text = value.text();
    using Kind = obs::SamplerKind;
    constexpr std::pair<std::string_view, Kind> kSamplers[] = {
        {"always_on", Kind::alwaysOn},
        {"always_off", Kind::alwaysOff},
        {"traceidratio", Kind::traceIdRatio},
        {"parentbased_always_on", Kind::parentBasedAlwaysOn},
        {"parentbased_always_off", Kind::parentBasedAlwaysOff},
        {"parentbased_traceidratio", Kind::parentBasedTraceIdRatio},
    };
    for (const auto& [name, kind] : kSamplers)
        if (text == name) return kind;
    value.fail(
        "must be one of always_on, always_off, traceidratio, parentbased_always_on, parentbased_always_off, "
        "parentbased_traceidratio" +
        value.got(text));
}

std::vector<std::pair<std::string, std::string>> parseResourceAttributes(const RawValue& value) {
    // A TOML table is taken as written; text is OpenTelemetry's format (OTEL_RESOURCE_ATTRIBUTES).
    auto pairs =
        value.isText() ? otelPairs(value.text(), [&](std::string why) { value.fail(why); }) : value.entries();
    for (const auto& [key, text] : pairs)
        if (key.empty()) value.fail("a key is empty");
    return pairs;
}

// The collector's headers, from headers_file (one or more lines in the comma format; # starts a comment
// line) or OTEL_EXPORTER_OTLP_HEADERS. Each must be one egress::requestHeaderProblem lets through: no
// CR/LF/NUL, no framing header. Errors name the source and the header (never the value).
std::vector<std::pair<std::string, SecretString>> parseHeaders(std::string_view text,
                                                               std::string_view source) {
    auto fail = [&](std::string why) {
        throw ConfigError(fmt::format("invalid collector headers (from {}): {}", source, why));
    };
    std::vector<std::pair<std::string, SecretString>> headers;
    std::string_view rest = text;
    while (!rest.empty()) {
        const auto newline = rest.find('\n');
        std::string_view line = rest.substr(0, newline);
        rest = newline == std::string_view::npos ? std::string_view{} : rest.substr(newline + 1);
        if (line.ends_with('\r')) line.remove_suffix(1);
        if (trim(line).starts_with('#')) continue;
        for (auto& [name, value] : otelPairs(line, fail)) {
            if (auto problem = egress::requestHeaderProblem(name, value)) {
                sodium_memzero(value.data(), value.size());
                fail(*problem);
            }
            headers.emplace_back(std::move(name), SecretString(std::move(value)));
        }
    }
    if (headers.empty()) fail("no name=value header");
    return headers;
}

using Apply = void (*)(Config&, const RawValue&);

struct Setting {
    std::string_view name;  // the TOML name; dotted for tables
    bool secret;            // never repeated in an error message
    Apply apply;
};

// Every setting, by its TOML name. The environment variable and the override key follow from it.
constexpr Setting kSettings[] = {
    {"env", false, [](Config& c, const RawValue& v) { c.mode = parseMode(v); }},
    {"listen", false, [](Config& c, const RawValue& v) { c.listen = parseListen(v); }},
    {"data_dir", false, [](Config& c, const RawValue& v) { c.dataDir = v.nonEmptyText(); }},
    {"database_url", true,
     [](Config& c, const RawValue& v) {
         c.databaseUrl = parseUrl(v, {"sqlite://", "postgres://", "postgresql://"});
     }},
    {"database_pool_size", false,
     [](Config& c, const RawValue& v) { c.databasePoolSize = static_cast<unsigned>(v.number(1, 500)); }},
    {"store.encrypt_payloads", false, [](Config& c, const RawValue& v) { c.encryptPayloads = v.boolean(); }},
    {"redis_url", true,
     [](Config& c, const RawValue& v) {
         c.redisUrl = parseUrl(v, {"redis://", "rediss://"});
         // The whole URL is checked now, not when the first request needs Redis; the message never
         // quotes it (it may hold a password).
         try {
             redis::parseRedisUrl(c.redisUrl->reveal());
         } catch (const redis::InvalidRedisUrl& error) {
             c.redisUrl.reset();
             v.fail(error.what());
         }
     }},
    {"redis_ca_file", false, [](Config& c, const RawValue& v) { c.redisCaFile = v.nonEmptyText(); }},
    {"secret_key_file", false, [](Config& c, const RawValue& v) { c.secretKeyFile = v.nonEmptyText(); }},
    {"allowed_hosts", false,
     [](Config& c, const RawValue& v) {
         c.allowedHosts = parseList(v, isAllowedHost,
                                    "each host must be a name or address without scheme, port or path "
                                    "(e.g. api.example.com, .example.com for every subdomain, or [::1])");
     }},
    {"threads", false,
     [](Config& c, const RawValue& v) { c.threads = static_cast<unsigned>(v.number(0, kMaxThreads)); }},
    {"log_level", false, [](Config& c, const RawValue& v) { c.logLevel = parseLogLevel(v); }},
    {"log_format", false,
     [](Config& c, const RawValue& v) {
         c.logFormat = v.text();
         if (c.logFormat != "text" && c.logFormat != "json") v.fail("must be text or json" + v.got(c.logFormat));
     }},
    {"verbose_errors", false, [](Config& c, const RawValue& v) { c.verboseErrors = v.boolean(); }},
    {"require_tls", false, [](Config& c, const RawValue& v) { c.requireTls = v.boolean(); }},
    {"trusted_proxies", false,
     [](Config& c, const RawValue& v) {
         c.trustedProxies =
             parseList(v, isIpOrCidr, "each proxy must be an IP address or CIDR range (10.0.0.0/8)");
     }},
    {"tls_terminated_by_proxy", false,
     [](Config& c, const RawValue& v) { c.tlsTerminatedByProxy = v.boolean(); }},
    {"secure_cookies", false, [](Config& c, const RawValue& v) { c.secureCookies = v.boolean(); }},
    {"metrics_public", false, [](Config& c, const RawValue& v) { c.metricsPublic = v.boolean(); }},
    {"access_log", false, [](Config& c, const RawValue& v) { c.accessLog = v.boolean(); }},
    {"admin_password_file", false,
     [](Config& c, const RawValue& v) { c.adminPasswordFile = v.nonEmptyText(); }},
    {"tls.cert", false, [](Config& c, const RawValue& v) { c.tls.certFile = v.nonEmptyText(); }},
    {"tls.key", false, [](Config& c, const RawValue& v) { c.tls.keyFile = v.nonEmptyText(); }},
    {"hsts.max_age_seconds", false, [](Config& c, const RawValue& v) { c.hsts.maxAge = v.seconds(); }},
    {"hsts.include_subdomains", false,
     [](Config& c, const RawValue& v) { c.hsts.includeSubdomains = v.boolean(); }},
    {"hsts.preload", false, [](Config& c, const RawValue& v) { c.hsts.preload = v.boolean(); }},
    {"limits.max_header_bytes", false,
     [](Config& c, const RawValue& v) { c.limits.maxHeaderBytes = v.number(1, kMaxSize); }},
    {"limits.max_body_bytes", false,
     [](Config& c, const RawValue& v) { c.limits.maxBodyBytes = v.number(1, kMaxSize); }},
    {"limits.header_timeout_ms", false,
     [](Config& c, const RawValue& v) { c.limits.headerTimeout = v.milliseconds(1); }},
    {"limits.body_timeout_ms", false,
     [](Config& c, const RawValue& v) { c.limits.bodyTimeout = v.milliseconds(1); }},
    {"limits.idle_timeout_ms", false,
     [](Config& c, const RawValue& v) { c.limits.idleTimeout = v.milliseconds(1); }},
    {"limits.write_timeout_ms", false,
     [](Config& c, const RawValue& v) { c.limits.writeTimeout = v.milliseconds(1); }},
    {"limits.shutdown_grace_ms", false,
     [](Config& c, const RawValue& v) { c.limits.shutdownGrace = v.milliseconds(0); }},
    {"limits.max_connections", false,
     [](Config& c, const RawValue& v) { c.limits.maxConnections = v.number(1, kMaxSize); }},
    {"cors.allowed_origins", false,
     [](Config& c, const RawValue& v) {
         c.cors.allowedOrigins = parseList(
             v, isOrigin, "each origin must be exactly scheme://host[:port] with no path or trailing slash");
     }},
    {"cors.allowed_headers", false,
     [](Config& c, const RawValue& v) {
         c.cors.allowedHeaders = parseList(v, isHeaderName, "each entry must be an HTTP header name");
     }},
    {"cors.allow_credentials", false,
     [](Config& c, const RawValue& v) { c.cors.allowCredentials = v.boolean(); }},
    {"cors.max_age_seconds", false, [](Config& c, const RawValue& v) { c.cors.maxAge = v.seconds(); }},
    {"auth.issuer", false, [](Config& c, const RawValue& v) { c.auth.issuer = v.nonEmptyText(); }},
    {"auth.audience", false, [](Config& c, const RawValue& v) { c.auth.audience = v.nonEmptyText(); }},
    // Access tokens cannot be revoked before they expire, so they stay short.
    {"auth.access_token_ttl_s", false,
     [](Config& c, const RawValue& v) { c.auth.accessTokenTtl = v.seconds(300, 900); }},
    {"auth.refresh_token_ttl_s", false,
     [](Config& c, const RawValue& v) { c.auth.refreshTokenTtl = v.seconds(3'600, 7'776'000); }},
    {"auth.session_ttl_s", false,
     [](Config& c, const RawValue& v) { c.auth.sessionTtl = v.seconds(300, 604'800); }},
    {"auth.api_token_max_ttl_s", false,
     [](Config& c, const RawValue& v) { c.auth.apiTokenMaxTtl = v.seconds(3'600, kMaxSeconds); }},
    {"auth.require_admin_totp", false,
     [](Config& c, const RawValue& v) { c.auth.requireAdminTotp = v.boolean(); }},
    // Below 12 characters even a random password is within reach of offline guessing (NIST 800-63B).
    {"auth.password_min_length", false,
     [](Config& c, const RawValue& v) { c.auth.passwordMinLength = v.number(12, 128); }},
    {"auth.argon2_ops_limit", false,
     [](Config& c, const RawValue& v) { c.auth.argon2OpsLimit = v.number(2, kMaxArgon2Ops); }},
    // 19 MiB with 2 passes is OWASP's floor for Argon2id.
    {"auth.argon2_memory_kib", false,
     [](Config& c, const RawValue& v) { c.auth.argon2MemoryKib = v.number(19'456, kMaxArgon2MemoryKib); }},
    // Each running hash holds argon2_memory_kib: threads x 64 MiB by default (docs/configuration.md).
    {"auth.password_hash_threads", false,
     [](Config& c, const RawValue& v) { c.auth.passwordHashThreads = v.number(0, kMaxThreads); }},
    {"auth.password_hash_priority", false,
     [](Config& c, const RawValue& v) { c.auth.passwordHashPriority = parseHashPriority(v); }},
    {"auth.password_hash_queue", false,
     [](Config& c, const RawValue& v) { c.auth.passwordHashQueue = v.number(0, kMaxHashQueue); }},
    {"auth.login_max_failures", false,
     [](Config& c, const RawValue& v) { c.auth.loginMaxFailures = static_cast<unsigned>(v.number(1, 100)); }},
    {"auth.lockout_base_s", false,
     [](Config& c, const RawValue& v) { c.auth.lockoutBase = v.seconds(1, kMaxSeconds); }},
    {"auth.lockout_max_s", false,
     [](Config& c, const RawValue& v) { c.auth.lockoutMax = v.seconds(1, kMaxSeconds); }},
    {"jobs.run_workers", false, [](Config& c, const RawValue& v) { c.jobs.runWorkers = v.boolean(); }},
    {"jobs.worker_concurrency", false,
     [](Config& c, const RawValue& v) {
         c.jobs.workerConcurrency = static_cast<unsigned>(v.number(1, kMaxConcurrency));
     }},
    {"jobs.worker_prefetch", false,
     [](Config& c, const RawValue& v) {
         c.jobs.workerPrefetch = static_cast<unsigned>(v.number(0, kMaxConcurrency));
     }},
    // Below 2 s a heartbeat (every third of the lease) could not keep up with a busy store.
    {"jobs.lease_seconds", false, [](Config& c, const RawValue& v) { c.jobs.lease = v.seconds(2, 3'600); }},
    {"jobs.retention_hours", false,
     [](Config& c, const RawValue& v) {
         c.jobs.retention = std::chrono::hours(static_cast<std::int64_t>(v.number(0, kMaxRetentionHours)));
     }},
    {"jobs.max_batch", false, [](Config& c, const RawValue& v) { c.jobs.maxBatch = v.number(1, 10'000); }},
    {"jobs.max_waiting_leases", false,
     [](Config& c, const RawValue& v) { c.jobs.maxWaitingLeases = v.number(1, 100'000); }},
    {"jobs.max_waiting_leases_per_account", false,
     [](Config& c, const RawValue& v) { c.jobs.maxWaitingLeasesPerAccount = v.number(1, 100'000); }},
    {"jobs.worker_metrics_listen", false,
     [](Config& c, const RawValue& v) { c.jobs.workerMetricsListen = parseLoopbackListen(v); }},
    {"jobs.queues", false,
     [](Config& c, const RawValue& v) {
         c.jobs.queues.clear();
         for (std::string& name : parseQueueNames(v))
             c.jobs.queues.push_back(QueueConfig{.name = std::move(name)});
     }},
    {"schedules.allow_users", false,
     [](Config& c, const RawValue& v) { c.schedules.allowUsers = v.boolean(); }},
    {"schedules.max_per_user", false,
     [](Config& c,
        const RawValue& v) { c.schedules.maxPerUser = static_cast<unsigned>(v.number(1, 100'000)); }},
    {"schedules.max_total", false,
     [](Config& c,
        const RawValue& v) { c.schedules.maxTotal = static_cast<unsigned>(v.number(1, 1'000'000)); }},
    {"schedules.min_interval_seconds", false,
     [](Config& c,
        const RawValue& v) { c.schedules.minIntervalSeconds = static_cast<unsigned>(v.number(1, 86'400)); }},
    {"schedules.max_jobs_per_owner_per_minute", false,
     [](Config& c,
        const RawValue&
            v) { c.schedules.maxJobsPerOwnerPerMinute = static_cast<unsigned>(v.number(1, 1'000'000)); }},
    {"scheduler.enabled", false, [](Config& c, const RawValue& v) { c.scheduler.enabled = v.boolean(); }},
    {"scheduler.misfire_grace_seconds", false,
     [](Config& c, const RawValue& v) { c.scheduler.misfireGrace = v.seconds(1, 3'600); }},
    {"egress.allow_domains", false,
     [](Config& c, const RawValue& v) { c.egress.allowDomains = parseList(v, isDomainRule, kDomainRule); }},
    {"egress.block_domains", false,
     [](Config& c, const RawValue& v) { c.egress.blockDomains = parseList(v, isDomainRule, kDomainRule); }},
    {"egress.max_response_bytes", false,
     [](Config& c, const RawValue& v) { c.egress.maxResponseBytes = v.number(1, kMaxSize); }},
    {"egress.timeout_ms", false, [](Config& c, const RawValue& v) { c.egress.timeout = v.milliseconds(1); }},
    {"egress.max_redirects", false,
     [](Config& c, const RawValue& v) { c.egress.maxRedirects = static_cast<unsigned>(v.number(0, 10)); }},
    {"rate_limits.enabled", false, [](Config& c, const RawValue& v) { c.rateLimits.enabled = v.boolean(); }},
    {"rate_limits.anon", false,
     [](Config& c, const RawValue& v) { c.rateLimits.anon = parseRateSetting(v, true); }},
    {"rate_limits.user", false,
     [](Config& c, const RawValue& v) { c.rateLimits.user = parseRateSetting(v, true); }},
    {"rate_limits.worker", false,
     [](Config& c, const RawValue& v) { c.rateLimits.worker = parseRateSetting(v, true); }},
    {"rate_limits.global", false,
     [](Config& c, const RawValue& v) { c.rateLimits.global = parseRateSetting(v, true); }},
    {"rate_limits.scopes.login", false,
     [](Config& c, const RawValue& v) { c.rateLimits.login = parseRateSetting(v, true); }},
    {"rate_limits.scopes.jobs.submit", false,
     [](Config& c, const RawValue& v) { c.rateLimits.jobsSubmit = parseRateSetting(v, true); }},
    {"rate_limits.tokens", false,
     [](Config& c, const RawValue& v) { c.rateLimits.tokens = parseTokenRates(v); }},
    {"rate_limits.fail_closed", false,
     [](Config& c, const RawValue& v) { c.rateLimits.failClosed = v.boolean(); }},
    {"rate_limits.max_keys", false,
     [](Config& c, const RawValue& v) { c.rateLimits.maxKeys = v.number(1'000, 100'000'000); }},
    {"audit.checkpoint_dir", false,
     [](Config& c, const RawValue& v) { c.audit.checkpointDir = v.nonEmptyText(); }},
    {"audit.checkpoint_interval_seconds", false,
     [](Config& c, const RawValue& v) { c.audit.checkpointInterval = v.seconds(60, 7 * 86'400); }},
    {"telemetry.endpoint", false,
     [](Config& c, const RawValue& v) { c.telemetry.endpoint = parseCollectorUrl(v); }},
    {"telemetry.traces_endpoint", false,
     [](Config& c, const RawValue& v) { c.telemetry.tracesEndpoint = parseCollectorUrl(v); }},
    {"telemetry.service_name", false,
     [](Config& c, const RawValue& v) {
         c.telemetry.serviceName = v.nonEmptyText();
         c.telemetry.serviceNameSet = true;
     }},
    {"telemetry.resource_attributes", false,
     [](Config& c, const RawValue& v) { c.telemetry.resourceAttributes = parseResourceAttributes(v); }},
    {"telemetry.sampler", false, [](Config& c, const RawValue& v) { c.telemetry.sampler.kind = parseSampler(v); }},
    {"telemetry.sampler_arg", false,
     [](Config& c, const RawValue& v) { c.telemetry.sampler.ratio = v.real(0.0, 1.0); }},
    {"telemetry.trust_incoming_sampled", false,
     [](Config& c, const RawValue& v) { c.telemetry.sampler.trustRemoteSampled = v.boolean(); }},
    {"telemetry.ca_file", false, [](Config& c, const RawValue& v) { c.telemetry.caFile = v.nonEmptyText(); }},
    {"telemetry.headers_file", false,
     [](Config& c, const RawValue& v) { c.telemetry.headersFile = v.nonEmptyText(); }},
    {"telemetry.max_queue_size", false,
     [](Config& c, const RawValue& v) { c.telemetry.maxQueueSize = v.number(1, 1'000'000); }},
    {"telemetry.max_export_batch_size", false,
     [](Config& c, const RawValue& v) { c.telemetry.maxExportBatchSize = v.number(1, 100'000); }},
    {"telemetry.schedule_delay_ms", false,
     [](Config& c, const RawValue& v) { c.telemetry.scheduleDelay = v.milliseconds(1); }},
    {"telemetry.export_timeout_ms", false,
     [](Config& c, const RawValue& v) { c.telemetry.exportTimeout = v.milliseconds(1); }},
};

// OpenTelemetry's own variables (the SDK environment specification), applied after the file and before the
// RAMPART_* variables. A signal-specific name comes after its generic one, so it wins.
constexpr std::pair<std::string_view, std::string_view> kOtelVariables[] = {
    {"OTEL_EXPORTER_OTLP_ENDPOINT", "telemetry.endpoint"},
    {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "telemetry.traces_endpoint"},
    {"OTEL_SERVICE_NAME", "telemetry.service_name"},
    {"OTEL_RESOURCE_ATTRIBUTES", "telemetry.resource_attributes"},
    {"OTEL_TRACES_SAMPLER", "telemetry.sampler"},
    {"OTEL_TRACES_SAMPLER_ARG", "telemetry.sampler_arg"},
    {"OTEL_EXPORTER_OTLP_CERTIFICATE", "telemetry.ca_file"},
    {"OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE", "telemetry.ca_file"},
    {"OTEL_EXPORTER_OTLP_TIMEOUT", "telemetry.export_timeout_ms"},
    {"OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "telemetry.export_timeout_ms"},
    {"OTEL_BSP_MAX_QUEUE_SIZE", "telemetry.max_queue_size"},
    {"OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "telemetry.max_export_batch_size"},
    {"OTEL_BSP_SCHEDULE_DELAY", "telemetry.schedule_delay_ms"},
};
// The collector's headers in the environment (secret: never echoed); the traces one wins.
constexpr std::string_view kOtelHeaderVariables[] = {"OTEL_EXPORTER_OTLP_HEADERS",
                                                     "OTEL_EXPORTER_OTLP_TRACES_HEADERS"};

// The tables of the TOML file; every other dotted name is a typo.
constexpr std::string_view kSections[] = {"tls",   "hsts",   "limits",    "cors",      "auth",
                                          "jobs",  "egress", "schedules", "scheduler", "rate_limits",
                                          "audit", "store",  "telemetry"};

// Names users and scripts already rely on (docs/configuration.md) that differ from the generic rule.
constexpr std::pair<std::string_view, std::string_view> kEnvironmentAliases[] = {
    {"RAMPART_TLS_CERT", "tls.cert"},
    {"RAMPART_TLS_KEY", "tls.key"},
};

const Setting* findSetting(std::string_view name) {
    for (const Setting& setting : kSettings) {
        if (setting.name == name) return &setting;
    }
    return nullptr;
}

bool isSection(std::string_view name) {
    return std::find(std::begin(kSections), std::end(kSections), name) != std::end(kSections);
}

// The generic rule: RAMPART_ + the upper-case name, "." written as "__".
std::string environmentName(std::string_view setting) {
    std::string name(kEnvPrefix);
    for (char c : setting) {
        if (c == '.') {
            name += "__";
        } else {
            name += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
        }
    }
    return name;
}

std::size_t editDistance(std::string_view a, std::string_view b) {
    std::vector<std::size_t> row(b.size() + 1);
    for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
    for (std::size_t i = 1; i <= a.size(); ++i) {
        std::size_t diagonal = row[0];
        row[0] = i;
        for (std::size_t j = 1; j <= b.size(); ++j) {
            const std::size_t above = row[j];
            row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
            diagonal = above;
        }
    }
    return row[b.size()];
}

[[noreturn]] void failUnknownSetting(std::string_view name, std::string_view origin) {
    std::string hint;
    std::size_t best = 3;  // suggest only near misses
    for (const Setting& setting : kSettings) {
        const std::size_t distance = editDistance(name, setting.name);
        if (distance < best) {
            best = distance;
            hint = fmt::format(" (did you mean '{}'?)", setting.name);
        }
    }
    throw ConfigError(fmt::format("unknown setting '{}' in {}{}; docs/configuration.md lists every setting",
                                  name, origin, hint));
}

[[noreturn]] void failHeadersInFile(std::string_view origin) {
    throw ConfigError(fmt::format(
        "telemetry.headers must not be written in the configuration file ({}): the collector's headers are "
        "credentials; put them in a file of their own named by telemetry.headers_file, or in "
        "OTEL_EXPORTER_OTLP_HEADERS",
        origin));
}

[[noreturn]] void failSecretInFile(std::string_view origin) {
    throw ConfigError(fmt::format(
        "secret_key must not be written in the configuration file ({}): secrets belong in the environment "
        "(RAMPART_SECRET_KEY) or in a file of their own named by secret_key_file (RAMPART_SECRET_KEY_FILE)",
        origin));
}

std::string fileOrigin(const std::filesystem::path& file, const toml::node& node) {
    return fmt::format("{} line {}", file.string(), node.source().begin.line);
}

toml::table parseFile(const std::filesystem::path& file) {
    try {
        return toml::parse_file(file.string());
    } catch (const toml::parse_error& error) {
        // Only the position and toml++'s description: the offending line may hold a secret.
        throw ConfigError(fmt::format("cannot load configuration file {} (line {}, column {}): {}",
                                      file.string(), error.source().begin.line, error.source().begin.column,
                                      error.description()));
    }
}

// Reads a file holding one secret; the message on failure names the file, never the content.
std::string readSecretFile(const std::filesystem::path& path, std::string_view what) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        throw ConfigError(fmt::format("cannot read {} {}: {}", what, path.string(), std::strerror(errno)));
    struct stat info {};
    if (::fstat(fd, &info) != 0 || !S_ISREG(info.st_mode)) {
        ::close(fd);
        throw ConfigError(fmt::format("{} {} is not a regular file", what, path.string()));
    }
    std::string content;
    char buffer[4096];
    for (;;) {
        const ssize_t n = ::read(fd, buffer, sizeof buffer);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            const int error = errno;
            ::close(fd);
            sodium_memzero(buffer, sizeof buffer);
            sodium_memzero(content.data(), content.size());
            throw ConfigError(
                fmt::format("cannot read {} {}: {}", what, path.string(), std::strerror(error)));
        }
        if (n == 0) break;
        content.append(buffer, static_cast<std::size_t>(n));
    }
    ::close(fd);
    sodium_memzero(buffer, sizeof buffer);
    // Editors and `echo` add a final newline; it is never part of the key.
    while (!content.empty() && (content.back() == '\n' || content.back() == '\r')) content.pop_back();
    if (content.empty()) throw ConfigError(fmt::format("{} {} is empty", what, path.string()));
    return content;
}

// The directory itself gets 0700 from mkdir, so there is no moment when others could enter it.
void createPrivateDirectory(std::filesystem::path dir) {
    dir = dir.lexically_normal();
    if (!dir.has_filename()) dir = dir.parent_path();  // "var/" would otherwise be made by the parent step
    std::error_code ec;
    if (std::filesystem::is_directory(dir, ec)) return;
    const std::filesystem::path parent = dir.parent_path();
    if (!parent.empty()) std::filesystem::create_directories(parent, ec);
    if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
        throw ConfigError(
            fmt::format("cannot create data directory {}: {}", dir.string(), std::strerror(errno)));
    }
}

// Returns false when the file already exists (another process won the race); throws on other errors.
bool createKeyFile(const std::filesystem::path& path) {
    if (sodium_init() < 0) throw ConfigError("cannot initialise libsodium to generate the secret key");
    constexpr std::string_view kUrlSafe = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    std::string key(kGeneratedKeyLength, '\0');
    for (char& c : key) c = kUrlSafe[randombytes_uniform(static_cast<std::uint32_t>(kUrlSafe.size()))];
    key += '\n';

    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        const int error = errno;
        sodium_memzero(key.data(), key.size());
        if (error == EEXIST) return false;
        throw ConfigError(
            fmt::format("cannot create secret key file {}: {}", path.string(), std::strerror(error)));
    }
    std::size_t written = 0;
    int error = 0;
    while (written < key.size()) {
        const ssize_t n = ::write(fd, key.data() + written, key.size() - written);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            error = n < 0 ? errno : EIO;
            break;
        }
        written += static_cast<std::size_t>(n);
    }
    if (error == 0 && ::fsync(fd) != 0) error = errno;
    if (::close(fd) != 0 && error == 0) error = errno;
    sodium_memzero(key.data(), key.size());
    if (error != 0) {
        // A half-written key would be loaded on the next start; better no file at all.
        ::unlink(path.c_str());
        throw ConfigError(
            fmt::format("cannot write secret key file {}: {}", path.string(), std::strerror(error)));
    }
    // The new name must survive a crash too, or the next start would create a different key.
    const int dirFd = ::open(path.parent_path().empty() ? "." : path.parent_path().c_str(),
                             O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dirFd >= 0) {
        ::fsync(dirFd);
        ::close(dirFd);
    }
    return true;
}

// [[oidc.issuers]]: an array of tables, so it has no place in kSettings (one value per name). Types are
// checked as the file is read; rules that depend on the final mode wait for finish().
constexpr std::string_view kOidcKeys[] = {"issuer",   "audience",       "jwks_file",
                                          "jwks_url", "username_claim", "role_claim",
                                          "role_map", "default_role",   "algorithms"};

std::string oidcSetting(std::size_t index, std::string_view key) {
    return fmt::format("oidc.issuers[{}].{}", index, key);
}

identity::OidcIssuer parseOidcIssuer(const toml::table& table, std::size_t index,
                                     const std::filesystem::path& file) {
    identity::OidcIssuer issuer;
    for (auto&& [key, node] : table) {
        const std::string name(key.str());
        const std::string setting = oidcSetting(index, name);
        const RawValue value(setting, false, node, fileOrigin(file, node));
        if (std::find(std::begin(kOidcKeys), std::end(kOidcKeys), name) == std::end(kOidcKeys)) {
            throw ConfigError(
                fmt::format("unknown setting '{}' in {}; docs/configuration.md lists every setting", setting,
                            fileOrigin(file, node)));
        }
        if (name == "issuer") {
            issuer.issuer = value.nonEmptyText();
        } else if (name == "audience") {
            issuer.audience = value.nonEmptyText();
        } else if (name == "jwks_file") {
            issuer.jwksFile = value.nonEmptyText();
        } else if (name == "jwks_url") {
            // Never echoed: a URL can carry a key in its query.
            const RawValue secretValue(setting, true, node, fileOrigin(file, node));
            issuer.jwksUrl = secretValue.nonEmptyText();
        } else if (name == "username_claim") {
            issuer.usernameClaim = value.nonEmptyText();
        } else if (name == "role_claim") {
            issuer.roleClaim = value.nonEmptyText();
        } else if (name == "default_role") {
            std::string role = value.text();
            if (!identity::parseRole(role))
                value.fail("must be one of admin, user, auditor, worker" + value.got(role));
            issuer.defaultRole = std::move(role);
        } else if (name == "algorithms") {
            for (std::string& algorithm : value.list()) {
                if (!identity::parseAlgorithm(algorithm))
                    value.fail("each entry must be EdDSA, ES256 or RS256" + value.got(algorithm));
                if (std::find(issuer.algorithms.begin(), issuer.algorithms.end(), algorithm) ==
                    issuer.algorithms.end())
                    issuer.algorithms.push_back(std::move(algorithm));
            }
            // An empty allowlist would accept no token at all: surely not what was meant.
            if (issuer.algorithms.empty()) value.fail("must name at least one algorithm");
        } else {  // role_map
            const toml::table* map = node.as_table();
            if (map == nullptr) value.fail(fmt::format("must be a table, not {}", tomlTypeName(node)));
            for (auto&& [claimValue, roleNode] : *map) {
                const std::string entry = fmt::format("{}.\"{}\"", setting, claimValue.str());
                const RawValue role(entry, false, roleNode, fileOrigin(file, roleNode));
                std::string roleText = role.text();
                if (!identity::parseRole(roleText))
                    role.fail("must be one of admin, user, auditor, worker" + role.got(roleText));
                issuer.roleMap.emplace(std::string(claimValue.str()), std::move(roleText));
            }
        }
    }
    return issuer;
}

// The rules across keys and those that depend on the mode; `origins` says where each issuer's table is.
void validateOidcIssuers(const Config& config, const std::vector<std::string>& origins) {
    std::set<std::string_view> seen;
    for (std::size_t i = 0; i < config.oidcIssuers.size(); ++i) {
        const identity::OidcIssuer& issuer = config.oidcIssuers[i];
        auto fail = [&](std::string_view key, std::string_view why) {
            throw ConfigError(
                fmt::format("invalid setting {} (from {}): {}", oidcSetting(i, key), origins[i], why));
        };
        if (issuer.issuer.empty()) fail("issuer", "is required");
        if (issuer.audience.empty()) fail("audience", "is required");
        if (config.production() && !issuer.issuer.starts_with("https://"))
            fail("issuer",
                 fmt::format("must start with https:// outside development, got '{}'", issuer.issuer));
        if (!seen.insert(issuer.issuer).second)
            fail("issuer",
                 fmt::format("'{}' is configured twice; each issuer may appear once", issuer.issuer));
        if (issuer.jwksFile.empty() == issuer.jwksUrl.empty())
            fail("jwks_file", "set exactly one of jwks_file and jwks_url");
        if (!issuer.jwksUrl.empty()) {
            std::string error;
            if (!identity::parseJwksUrl(issuer.jwksUrl, !config.production(), &error))
                fail("jwks_url", error);
        }
        if (!issuer.roleMap.empty() && issuer.roleClaim.empty())
            fail("role_map", "needs role_claim: the claim whose values it maps");
        if (!issuer.roleClaim.empty() && issuer.roleMap.empty())
            fail("role_claim", "needs role_map: which claim values give which role");
        if (issuer.roleClaim.empty() && !issuer.defaultRole)
            fail("default_role",
                 "is required when there is no role_claim (otherwise every token is refused)");
    }
}

// [jobs.queue.NAME]: one table per queue, file only. The queue must be named in jobs.queues; that check
// waits for finish(), since the environment may still set the list.
struct QueueTable {
    std::optional<unsigned> concurrency{};
    std::optional<std::vector<std::string>> submitRoles{};
    std::optional<bool> externalWorkers{};
    std::string origin{};
};

QueueTable parseQueueTable(const std::string& queue, const toml::node& node,
                           const std::filesystem::path& file) {
    const toml::table* table = node.as_table();
    if (table == nullptr)
        throw ConfigError(fmt::format("'jobs.queue.{}' in {} must be a table ([jobs.queue.{}])", queue,
                                      fileOrigin(file, node), queue));
    QueueTable result{.origin = fileOrigin(file, node)};
    for (auto&& [key, valueNode] : *table) {
        const std::string setting = fmt::format("jobs.queue.{}.{}", queue, key.str());
        const RawValue value(setting, false, valueNode, fileOrigin(file, valueNode));
        if (key.str() == "concurrency") {
            result.concurrency = static_cast<unsigned>(value.number(0, kMaxConcurrency));
        } else if (key.str() == "submit_roles") {
            std::vector<std::string> roles = value.list();
            for (const std::string& role : roles)
                if (!identity::parseRole(role))
                    value.fail("each entry must be one of admin, user, auditor, worker" + value.got(role));
            result.submitRoles = std::move(roles);
        } else if (key.str() == "external_workers") {
            result.externalWorkers = value.boolean();
        } else {
            throw ConfigError(fmt::format(
                "unknown setting '{}' in {}; a queue has concurrency, submit_roles and external_workers",
                setting, fileOrigin(file, valueNode)));
        }
    }
    return result;
}

// [tasks.NAME]: one table per declared task type, file only. Schemas are JSON Schema, written inline (a
// TOML table, or a string of JSON) or in a JSON file named relative to the configuration file.
constexpr std::size_t kMaxSchemaFileBytes = 1024 * 1024;
constexpr const char* kTaskKeys[] = {
    "description", "args_schema",     "args_schema_file", "result_schema",      "result_schema_file", "queue",
    "priority",    "timeout_seconds", "max_attempts",     "retry_base_seconds", "retry_max_seconds"};

boost::json::object schemaFromText(const RawValue& value, std::string_view text) {
    auto parsed =
        parseStrictJsonObject(text, StrictJsonLimits{.maxSize = kMaxSchemaFileBytes, .maxDepth = 32});
    if (!parsed) value.fail("must be a JSON object (a JSON Schema), with no duplicate keys");
    return std::move(*parsed);
}

boost::json::object inlineSchema(const RawValue& value, const toml::node& node) {
    if (node.is_string()) return schemaFromText(value, node.as_string()->get());
    const toml::table* table = node.as_table();
    if (table == nullptr) value.fail("must be a table (the schema inline) or a string of JSON");
    std::ostringstream json;
    json << toml::json_formatter{*table};
    return schemaFromText(value, json.str());
}

boost::json::object schemaFile(const RawValue& value, const std::filesystem::path& configFile) {
    std::filesystem::path path = value.nonEmptyText();
    if (path.is_relative()) path = configFile.parent_path() / path;
    std::ifstream in(path, std::ios::binary);
    if (!in) value.fail(fmt::format("cannot read {}", path.string()));
    std::string text(kMaxSchemaFileBytes + 1, '\0');
    in.read(text.data(), static_cast<std::streamsize>(text.size()));
    text.resize(static_cast<std::size_t>(in.gcount()));
    if (text.size() > kMaxSchemaFileBytes) value.fail(fmt::format("{} is larger than 1 MiB", path.string()));
    return schemaFromText(value, text);
}

DeclaredTaskConfig parseTaskTable(const std::string& name, const toml::node& node,
                                  const std::filesystem::path& file) {
    const toml::table* table = node.as_table();
    if (table == nullptr)
        throw ConfigError(
            fmt::format("'tasks.{}' in {} must be a table ([tasks.{}])", name, fileOrigin(file, node), name));
    if (!jobs::isValidTaskName(name))
        throw ConfigError(
            fmt::format("[tasks.{}] in {}: a task type's name is 1-128 letters, digits, '.', '_' "
                        "and '-'",
                        name, fileOrigin(file, node)));
    DeclaredTaskConfig task{.name = name, .origin = fileOrigin(file, node)};
    bool hasArgs = false;
    for (auto&& [key, valueNode] : *table) {
        const std::string field(key.str());
        const std::string setting = fmt::format("tasks.{}.{}", name, field);
        const RawValue value(setting, false, valueNode, fileOrigin(file, valueNode));
        if (std::find(std::begin(kTaskKeys), std::end(kTaskKeys), field) == std::end(kTaskKeys)) {
            throw ConfigError(fmt::format("unknown setting '{}' in {}; a task type has {}", setting,
                                          fileOrigin(file, valueNode),
                                          fmt::join(std::begin(kTaskKeys), std::end(kTaskKeys), ", ")));
        }
        if ((field == "args_schema" || field == "args_schema_file") && hasArgs)
            value.fail("give args_schema or args_schema_file, not both");
        if ((field == "result_schema" || field == "result_schema_file") && task.resultSchema)
            value.fail("give result_schema or result_schema_file, not both");
        if (field == "description") {
            task.description = value.text();
            if (task.description.size() > 500) value.fail("must be at most 500 characters");
        } else if (field == "args_schema") {
            task.argsSchema = inlineSchema(value, valueNode);
            hasArgs = true;
        } else if (field == "args_schema_file") {
            task.argsSchema = schemaFile(value, file);
            hasArgs = true;
        } else if (field == "result_schema") {
            task.resultSchema = inlineSchema(value, valueNode);
        } else if (field == "result_schema_file") {
            task.resultSchema = schemaFile(value, file);
        } else if (field == "queue") {
            task.queue = value.nonEmptyText();
        } else if (field == "priority") {
            const auto* number = valueNode.as_integer();
            if (number == nullptr || number->get() < -100 || number->get() > 100)
                value.fail("must be a whole number from -100 to 100");
            task.priority = static_cast<int>(number->get());
        } else if (field == "timeout_seconds") {
            task.timeout = value.seconds(1, 86400);
        } else if (field == "max_attempts") {
            task.maxAttempts = static_cast<int>(value.number(1, 100));
        } else if (field == "retry_base_seconds") {
            task.retryBase = value.seconds(1, 86400);
        } else if (field == "retry_max_seconds") {
            task.retryMax = value.seconds(1, 7 * 86400);
        }
    }
    if (!hasArgs)
        throw ConfigError(
            fmt::format("[tasks.{}] in {} needs args_schema or args_schema_file (the JSON Schema "
                        "of its arguments)",
                        name, task.origin));
    if (task.retryBase && task.retryMax && *task.retryMax < *task.retryBase)
        throw ConfigError(fmt::format(
            "[tasks.{}] in {}: retry_max_seconds must not be below retry_base_seconds", name, task.origin));
    return task;
}

class Loader {
  public:
    Config load(const ConfigSources& sources) {
        if (sources.file) applyFile(*sources.file);
        applyEnvironment(sources.environment);
        applyOverrides(sources.overrides);
        finish();
        return std::move(config_);
    }

  private:
    void apply(const Setting& setting, const RawValue& value) {
        setting.apply(config_, value);
        explicitlySet_.insert(setting.name);
    }

    void applyFile(const std::filesystem::path& file) {
        const toml::table table = parseFile(file);
        for (auto&& [key, node] : table) {
            const std::string name(key.str());
            const std::string origin = fileOrigin(file, node);
            if (name == "secret_key") failSecretInFile(origin);
            if (name == "oidc") {
                applyOidc(file, node, origin);
            } else if (name == "tasks") {
                applyTaskTables(file, node, origin);
            } else if (isSection(name)) {
                const toml::table* section = node.as_table();
                if (section == nullptr) {
                    throw ConfigError(fmt::format("'{}' in {} must be a table ([{}])", name, origin, name));
                }
                for (auto&& [subKey, subNode] : *section) {
                    if (name == "jobs" && subKey.str() == "queue") {
                        applyQueueTables(file, subNode);
                        continue;
                    }
                    applyFileNode(file, fmt::format("{}.{}", name, subKey.str()), subNode);
                }
            } else {
                applyFileValue(name, node, origin);
            }
        }
    }

    void applyOidc(const std::filesystem::path& file, const toml::node& node, const std::string& origin) {
        const toml::table* section = node.as_table();
        if (section == nullptr) throw ConfigError(fmt::format("'oidc' in {} must be a table", origin));
        for (auto&& [key, value] : *section) {
            if (key.str() != "issuers")
                failUnknownSetting(fmt::format("oidc.{}", key.str()), fileOrigin(file, value));
            const toml::array* issuers = value.as_array();
            if (issuers == nullptr || !issuers->is_array_of_tables()) {
                throw ConfigError(fmt::format(
                    "invalid setting oidc.issuers (from {}): must be an array of tables ([[oidc.issuers]])",
                    fileOrigin(file, value)));
            }
            for (const toml::node& element : *issuers) {
                config_.oidcIssuers.push_back(
                    parseOidcIssuer(*element.as_table(), config_.oidcIssuers.size(), file));
                oidcOrigins_.push_back(fileOrigin(file, element));
            }
        }
    }

    void applyTaskTables(const std::filesystem::path& file, const toml::node& node,
                         const std::string& origin) {
        const toml::table* tasks = node.as_table();
        if (tasks == nullptr)
            throw ConfigError(
                fmt::format("'tasks' in {} must hold one table per task type ([tasks.NAME])", origin));
        for (auto&& [name, table] : *tasks)
            config_.tasks.push_back(parseTaskTable(std::string(name.str()), table, file));
    }

    void applyQueueTables(const std::filesystem::path& file, const toml::node& node) {
        const toml::table* queues = node.as_table();
        if (queues == nullptr)
            throw ConfigError(
                fmt::format("'jobs.queue' in {} must hold one table per queue ([jobs.queue.NAME])",
                            fileOrigin(file, node)));
        for (auto&& [queue, table] : *queues) {
            const std::string name(queue.str());
            queueTables_.insert_or_assign(name, parseQueueTable(name, table, file));
        }
    }

    // Each [jobs.queue.NAME] onto the queue jobs.queues names.
    void applyQueueTablesToQueues() {
        for (auto& [name, table] : queueTables_) {
            auto queue = std::find_if(config_.jobs.queues.begin(), config_.jobs.queues.end(),
                                      [&name = name](const QueueConfig& q) { return q.name == name; });
            if (queue == config_.jobs.queues.end()) {
                throw ConfigError(
                    fmt::format("[jobs.queue.{}] (from {}) configures a queue that jobs.queues does not "
                                "name; add it there",
                                name, table.origin));
            }
            if (table.concurrency) queue->concurrency = table.concurrency;
            if (table.submitRoles) queue->submitRoles = *table.submitRoles;
            if (table.externalWorkers) queue->externalWorkers = *table.externalWorkers;
        }
    }

    // A value, or a table of values whose names continue the dotted name ([rate_limits.scopes] login =
    // ... is rate_limits.scopes.login), unless the table itself is the value of a setting.
    void applyFileNode(const std::filesystem::path& file, const std::string& name, const toml::node& node) {
        if (name == "telemetry.headers") failHeadersInFile(fileOrigin(file, node));
        const toml::table* table = node.as_table();
        if (table != nullptr && findSetting(name) == nullptr) {
            for (auto&& [key, child] : *table)
                applyFileNode(file, fmt::format("{}.{}", name, key.str()), child);
            return;
        }
        applyFileValue(name, node, fileOrigin(file, node));
    }

    void applyFileValue(const std::string& name, const toml::node& node, const std::string& origin) {
        if (name == "telemetry.headers") failHeadersInFile(origin);
        const Setting* setting = findSetting(name);
        if (setting == nullptr) failUnknownSetting(name, origin);
        apply(*setting, RawValue(setting->name, setting->secret, node, origin));
        if (setting->secret) config_.secretsInFile.emplace_back(setting->name);
    }

    void applyEnvironment(const std::map<std::string, std::string>& environment) {
        // Empty variables count as unset: `FOO=` in a compose file or unit usually means "not set".
        auto lookup = [&](std::string_view name) -> const std::string* {
            const auto it = environment.find(std::string(name));
            return it == environment.end() || it->second.empty() ? nullptr : &it->second;
        };
        applyOtelEnvironment(lookup);
        for (const Setting& setting : kSettings) {
            const std::string generic = environmentName(setting.name);
            std::string_view variable = generic;
            const std::string* value = lookup(generic);
            for (const auto& [alias, target] : kEnvironmentAliases) {
                if (target != setting.name) continue;
                if (const std::string* aliased = lookup(alias)) {
                    if (value != nullptr) {
                        throw ConfigError(
                            fmt::format("both {} and {} are set; they are the same setting ({}), "
                                        "set only one",
                                        alias, generic, setting.name));
                    }
                    value = aliased;
                    variable = alias;
                }
            }
            if (value != nullptr)
                apply(setting, RawValue(setting.name, setting.secret, *value, std::string(variable)));
        }
        if (const std::string* key = lookup(kSecretKeyVariable)) {
            config_.secretKey = SecretString(*key);
            secretKeyFromEnvironment_ = true;
        }
    }

    template <class Lookup>
    void applyOtelEnvironment(const Lookup& lookup) {
        for (const auto& [variable, name] : kOtelVariables) {
            const std::string* value = lookup(variable);
            if (value == nullptr) continue;
            const Setting* setting = findSetting(name);
            apply(*setting, RawValue(setting->name, setting->secret, *value, std::string(variable)));
        }
        for (const std::string_view variable : kOtelHeaderVariables) {
            if (const std::string* value = lookup(variable)) {
                config_.telemetry.headers = parseHeaders(*value, variable);
                headersVariable_ = variable;
            }
        }
        // Tracing is exported over OTLP/HTTP with protobuf only: a collector set up for gRPC or JSON would
        // refuse every batch, so say so now.
        for (const std::string_view variable :
             {"OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"}) {
            const std::string* value = lookup(variable);
            if (value != nullptr && *value != "http/protobuf")
                throw ConfigError(
                    fmt::format("invalid setting {}: must be http/protobuf (the only OTLP protocol "
                                "Rampart exports), got '{}'",
                                variable, *value));
        }
        if (const std::string* value = lookup("OTEL_TRACES_EXPORTER")) {
            if (*value == "none") {
                config_.telemetry.sdkDisabled = true;
            } else if (*value != "otlp") {
                throw ConfigError(fmt::format(
                    "invalid setting OTEL_TRACES_EXPORTER: must be otlp or none, got '{}'", *value));
            }
        }
        if (const std::string* value = lookup("OTEL_SDK_DISABLED")) {
            // The specification: only a case-insensitive "true" disables; anything else leaves tracing as
            // set.
            if (toLower(trim(*value)) == "true") config_.telemetry.sdkDisabled = true;
        }
    }

    void applyOverrides(const std::map<std::string, std::string>& overrides) {
        for (const auto& [name, value] : overrides) {
            if (name == "telemetry.headers") {
                throw ConfigError(
                    "telemetry.headers cannot be given as a command-line override (other users can read the "
                    "process list); use telemetry.headers_file or OTEL_EXPORTER_OTLP_HEADERS");
            }
            if (name == "secret_key") {
                throw ConfigError(
                    "secret_key cannot be given as a command-line override (other users can read the process "
                    "list); use RAMPART_SECRET_KEY or secret_key_file");
            }
            const Setting* setting = findSetting(name);
            if (setting == nullptr) failUnknownSetting(name, kOverrideOrigin);
            apply(*setting, RawValue(setting->name, setting->secret, value, std::string(kOverrideOrigin)));
        }
    }

    void finish() {
        // Declared task types: their schemas compile and no name is a built-in's.
        if (!config_.tasks.empty()) {
            jobs::TaskRegistry registry;
            jobs::addBuiltinTasks(registry);
            addDeclaredTasks(registry, config_.tasks);
        }
        // A declared task type's queue must be one the server has (the environment may set the list).
        for (const DeclaredTaskConfig& task : config_.tasks) {
            if (!task.queue) continue;
            const bool known =
                std::any_of(config_.jobs.queues.begin(), config_.jobs.queues.end(),
                            [&](const QueueConfig& queue) { return queue.name == *task.queue; });
            if (!known)
                throw ConfigError(
                    fmt::format("invalid setting tasks.{}.queue (from {}): '{}' is not one of jobs.queues",
                                task.name, task.origin, *task.queue));
        }
        // Production is safe without any setting; development works over plain HTTP on localhost.
        const bool production = config_.production();
        if (!explicitlySet_.contains("require_tls")) config_.requireTls = production;
        if (!explicitlySet_.contains("secure_cookies")) config_.secureCookies = production;
        if (!explicitlySet_.contains("auth.require_admin_totp")) config_.auth.requireAdminTotp = production;
        if (!explicitlySet_.contains("log_format")) config_.logFormat = production ? "json" : "text";
        if (!explicitlySet_.contains("database_url")) {
            config_.databaseUrl = SecretString("sqlite://" + (config_.dataDir / "rampart.db").string());
        }
        // A ceiling below the first step would make the back-off shrink.
        if (config_.auth.lockoutMax < config_.auth.lockoutBase) {
            throw ConfigError(
                fmt::format("auth.lockout_max_s ({} s) must not be below auth.lockout_base_s ({} s)",
                            config_.auth.lockoutMax.count(), config_.auth.lockoutBase.count()));
        }
        // One without the other would quietly serve plain HTTP.
        if (config_.tls.certFile.empty() != config_.tls.keyFile.empty()) {
            throw ConfigError(
                "tls.cert and tls.key must be set together (RAMPART_TLS_CERT and RAMPART_TLS_KEY); only one "
                "is set");
        }
        if (!config_.secretKeyFile.empty()) {
            if (secretKeyFromEnvironment_) {
                throw ConfigError(
                    "the secret key is set twice: RAMPART_SECRET_KEY and a secret key file (secret_key_file "
                    "/ "
                    "RAMPART_SECRET_KEY_FILE); set only one");
            }
            config_.secretKey = SecretString(readSecretFile(config_.secretKeyFile, "secret key file"));
        }
        validateOidcIssuers(config_, oidcOrigins_);
        applyQueueTablesToQueues();
        finishTelemetry();
    }

    void finishTelemetry() {
        TelemetryConfig& telemetry = config_.telemetry;
        if (!telemetry.headersFile.empty()) {
            if (!headersVariable_.empty()) {
                throw ConfigError(fmt::format(
                    "the collector's headers are set twice: {} and telemetry.headers_file; set only one",
                    headersVariable_));
            }
            std::string content = readSecretFile(telemetry.headersFile, "telemetry headers file");
            const std::string source = "telemetry.headers_file " + telemetry.headersFile.string();
            try {
                telemetry.headers = parseHeaders(content, source);
            } catch (...) {
                sodium_memzero(content.data(), content.size());
                throw;
            }
            sodium_memzero(content.data(), content.size());
        }
        if (telemetry.maxExportBatchSize > telemetry.maxQueueSize) {
            throw ConfigError(fmt::format(
                "telemetry.max_export_batch_size ({}) must not be above telemetry.max_queue_size ({})",
                telemetry.maxExportBatchSize, telemetry.maxQueueSize));
        }
        // OpenTelemetry's rule: OTEL_SERVICE_NAME (service_name) wins over a service.name resource attribute.
        if (!telemetry.serviceNameSet) {
            for (const auto& [key, value] : telemetry.resourceAttributes)
                if (key == "service.name" && !value.empty()) telemetry.serviceName = value;
        }
    }

    Config config_;
    std::set<std::string_view> explicitlySet_;
    bool secretKeyFromEnvironment_ = false;
    std::vector<std::string> oidcOrigins_;  // where each [[oidc.issuers]] table starts, for errors
    std::map<std::string, QueueTable> queueTables_;
    std::string_view headersVariable_;  // the OTEL_* variable the collector's headers came from
};

}  // namespace

Config loadConfig(const ConfigSources& sources) {
    return Loader().load(sources);
}

ListenAddress parseListenAddress(std::string_view text) {
    std::string_view host;
    std::string_view port;
    if (text.starts_with('[')) {
        const auto close = text.find(']');
        if (close == std::string_view::npos) throw ConfigError("missing ']' after the IPv6 address");
        host = text.substr(1, close - 1);
        const std::string_view rest = text.substr(close + 1);
        if (!rest.starts_with(':')) throw ConfigError("expected [address]:port, e.g. [::1]:8080");
        port = rest.substr(1);
        boost::system::error_code ec;
        if (!host.empty()) (void)boost::asio::ip::make_address_v6(std::string(host), ec);
        if (ec) throw ConfigError("the address in brackets is not an IPv6 address");
    } else {
        const auto colon = text.rfind(':');
        if (colon == std::string_view::npos) throw ConfigError("expected host:port, e.g. 127.0.0.1:8080");
        host = text.substr(0, colon);
        port = text.substr(colon + 1);
        if (host.find(':') != std::string_view::npos) {
            throw ConfigError("an IPv6 address must be written in brackets, e.g. [::1]:8080");
        }
        if (!std::all_of(host.begin(), host.end(), isHostNameChar)) {
            throw ConfigError("the host may contain only letters, digits, '.' and '-'");
        }
    }
    if (host.empty())
        throw ConfigError("the host is empty (0.0.0.0 listens on every interface, 127.0.0.1 locally)");
    const auto number = parseUnsigned(port);
    if (!number || *number > 65535) throw ConfigError("the port must be a number from 0 to 65535");
    return ListenAddress{std::string(host), static_cast<std::uint16_t>(*number)};
}

namespace {

jobs::TaskType declaredTaskType(const DeclaredTaskConfig& task) {
    jobs::TaskType type{.name = task.name,
                        .description = task.description,
                        .argsSchema = task.argsSchema,
                        .defaultQueue = task.queue.value_or("default"),
                        .priority = task.priority,
                        .external = true,
                        .resultSchema = task.resultSchema};
    if (task.timeout) type.timeout = *task.timeout;
    if (task.maxAttempts) type.maxAttempts = *task.maxAttempts;
    if (task.retryBase) type.retry.base = *task.retryBase;
    if (task.retryMax) type.retry.cap = *task.retryMax;
    return type;
}

}  // namespace

void addDeclaredTasks(jobs::TaskRegistry& registry, const std::vector<DeclaredTaskConfig>& tasks) {
    for (const DeclaredTaskConfig& task : tasks) {
        if (registry.find(task.name) != nullptr)
            throw ConfigError(
                fmt::format("[tasks.{}] in {}: '{}' is a built-in task type (or declared twice); "
                            "give it another name",
                            task.name, task.origin, task.name));
        try {
            registry.add(declaredTaskType(task));
        } catch (const std::invalid_argument& error) {
            throw ConfigError(fmt::format("[tasks.{}] in {}: {}", task.name, task.origin, error.what()));
        }
    }
}

std::string TelemetryConfig::tracesUrl() const {
    if (sdkDisabled) return {};
    if (!tracesEndpoint.empty()) return tracesEndpoint;
    if (endpoint.empty()) return {};
    // OTLP/HTTP: the base endpoint gets the signal's path, /v1/traces.
    std::string url = endpoint;
    while (url.ends_with('/')) url.pop_back();
    return url + "/v1/traces";
}

http::ServerSettings serverSettings(const Config& config) {
    const ListenAddress listen = parseListenAddress(config.listen);
    return http::ServerSettings{.listenHost = listen.host,
                                .listenPort = listen.port,
                                .threads = config.threads,
                                .tls = config.tls,
                                .limits = config.limits};
}

store::StoreOptions storeOptions(const Config& config) {
    return store::StoreOptions{.poolSize = config.databasePoolSize,
                               .auditKey = obs::AuditChainKey::derive(config.secretKey)};
}

std::optional<http::ServerSettings> workerMetricsServerSettings(const Config& config) {
    if (config.jobs.workerMetricsListen.empty()) return std::nullopt;
    const ListenAddress listen = parseListenAddress(config.jobs.workerMetricsListen);
    // One I/O thread is plenty for a scraper and probes, and leaves the cores to the jobs.
    return http::ServerSettings{.listenHost = listen.host,
                                .listenPort = listen.port,
                                .threads = 1,
                                .tls = {},
                                .limits = config.limits};
}

http::PipelineSettings pipelineSettings(const Config& config) {
    return http::PipelineSettings{.secretKey = config.secretKey,
                                  .allowedHosts = config.allowedHosts,
                                  .trustedProxies = config.trustedProxies,
                                  // Details of internal errors are for developers, never in production.
                                  .verboseErrors = config.verboseErrors && !config.production(),
                                  .requireTls = config.requireTls,
                                  .secureCookies = config.secureCookies,
                                  .requireAdminTotp = config.auth.requireAdminTotp,
                                  .cors = config.cors,
                                  .hsts = config.hsts,
                                  .rateLimits = config.rateLimits};
}

api::RouteSettings routeSettings(const Config& config) {
    return api::RouteSettings{.secureCookies = config.secureCookies,
                              .metricsPublic = config.metricsPublic,
                              .redisRequired = config.rateLimits.enabled && config.rateLimits.failClosed};
}

std::map<std::string, std::string> rampartEnvironment() {
    std::map<std::string, std::string> result;
    for (char** entry = environ; entry != nullptr && *entry != nullptr; ++entry) {
        const std::string_view text(*entry);
        const auto equals = text.find('=');
        if (equals == std::string_view::npos ||
            !(text.starts_with(kEnvPrefix) || text.starts_with(kOtelPrefix)))
            continue;
        result.emplace(text.substr(0, equals), text.substr(equals + 1));
    }
    return result;
}

void ensureDevelopmentSecretKey(Config& config) {
    if (config.production() || !config.secretKey.empty()) return;
    const std::filesystem::path path = config.dataDir / "secret_key";
    std::error_code ec;
    if (!std::filesystem::exists(std::filesystem::symlink_status(path, ec))) {
        createPrivateDirectory(config.dataDir);
        (void)createKeyFile(path);  // false: a concurrent start created it first; read that one
    }
    config.secretKey = SecretString(readSecretFile(path, "development secret key file"));
    config.secretKeyFile = path;
}

}  // namespace rampart
