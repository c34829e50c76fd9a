// A hand-written parser rather than Boost.URL: the guard must decide exactly what a browser-like
// resolver would make of a host (numeric IPv4 forms above all), and refuse everything else.
#include "egress/url.hpp"

#include <algorithm>
#include <array>
#include <vector>

#include <fmt/format.h>

namespace rampart::egress {
namespace {

namespace ip = boost::asio::ip;

bool isAsciiAlpha(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
bool isDigit(char c) {
    return c >= '0' && c <= '9';
}
bool isHexDigit(char c) {
    return isDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}
char lower(char c) {
    return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

std::string lowered(std::string_view text) {
    std::string out(text);
    std::transform(out.begin(), out.end(), out.begin(), lower);
    return out;
}

// RFC 3986 scheme syntax; the caller decides which schemes are allowed.
bool isScheme(std::string_view text) {
    if (text.empty() || !isAsciiAlpha(text.front())) return false;
    return std::all_of(text.begin(), text.end(), [](char c) {
        return isAsciiAlpha(c) || isDigit(c) || c == '+' || c == '-' || c == '.';
    });
}

// One part of the WHATWG IPv4 parser: decimal, 0x hex or leading-0 octal. Values past 2^32 are failures, so
// a long run of digits cannot overflow into a small address.
std::optional<std::uint64_t> parseIpv4Number(std::string_view part) {
    if (part.empty()) return std::nullopt;
    unsigned base = 10;
    if (part.size() >= 2 && part[0] == '0' && (part[1] == 'x' || part[1] == 'X')) {
        base = 16;
        part.remove_prefix(2);
        if (part.empty()) return 0;  // "0x" is zero to a browser
    } else if (part.size() >= 2 && part[0] == '0') {
        base = 8;
        part.remove_prefix(1);
    }
    std::uint64_t value = 0;
    for (char c : part) {
        unsigned digit = 0;
        if (isDigit(c)) {
            digit = static_cast<unsigned>(c - '0');
        } else if (base == 16 && isHexDigit(c)) {
            digit = static_cast<unsigned>(lower(c) - 'a' + 10);
        } else {
            return std::nullopt;
        }
        if (digit >= base) return std::nullopt;
        value = value * base + digit;
        if (value > 0xffffffffULL) return std::nullopt;
    }
    return value;
}

std::vector<std::string_view> splitDots(std::string_view host) {
    std::vector<std::string_view> parts;
    std::size_t start = 0;
    while (true) {
        const auto dot = host.find('.', start);
        if (dot == std::string_view::npos) {
            parts.push_back(host.substr(start));
            return parts;
        }
        parts.push_back(host.substr(start, dot - start));
        start = dot + 1;
    }
}

// WHATWG "ends in a number": such a host is an IPv4 address or nothing, never a DNS name.
bool endsInNumber(std::string_view host) {
    auto parts = splitDots(host);
    if (parts.size() > 1 && parts.back().empty()) parts.pop_back();
    const std::string_view last = parts.back();
    if (!last.empty() && std::all_of(last.begin(), last.end(), isDigit)) return true;
    // Hex of any length counts, so 0x100000000 is an IPv4 address too large to be one, not a name.
    return last.size() >= 2 && last[0] == '0' && (last[1] == 'x' || last[1] == 'X') &&
           std::all_of(last.begin() + 2, last.end(), isHexDigit);
}

// WHATWG IPv4 parser: 1 to 4 parts, the last filling the bytes the others left.
std::optional<ip::address_v4> parseIpv4(std::string_view host) {
    auto parts = splitDots(host);
    if (parts.size() > 1 && parts.back().empty()) parts.pop_back();  // one trailing dot
    if (parts.size() > 4) return std::nullopt;
    std::array<std::uint64_t, 4> numbers{};
    for (std::size_t i = 0; i < parts.size(); ++i) {
        const auto number = parseIpv4Number(parts[i]);
        if (!number) return std::nullopt;
        numbers[i] = *number;
    }
    const std::size_t count = parts.size();
    for (std::size_t i = 0; i + 1 < count; ++i) {
        if (numbers[i] > 255) return std::nullopt;
    }
    const unsigned lastBits = 8 * static_cast<unsigned>(5 - count);
    if (lastBits < 64 && numbers[count - 1] >= (std::uint64_t{1} << lastBits)) return std::nullopt;
    std::uint64_t value = numbers[count - 1];
    for (std::size_t i = 0; i + 1 < count; ++i) value += numbers[i] << (8 * (3 - i));
    return ip::address_v4(static_cast<std::uint32_t>(value));
}

bool isDnsName(std::string_view host) {
    if (host.empty() || host.size() > 253) return false;
    for (std::string_view label : splitDots(host)) {
        if (label.empty() || label.size() > 63) return false;
        if (label.front() == '-' || label.back() == '-') return false;
        const bool allowed = std::all_of(label.begin(), label.end(), [](char c) {
            return (c >= 'a' && c <= 'z') || isDigit(c) || c == '-';
        });
        if (!allowed) return false;
    }
    return true;
}

bool hasNonAscii(std::string_view text) {
    return std::any_of(text.begin(), text.end(),
                       [](char c) { return static_cast<unsigned char>(c) >= 0x80; });
}

std::optional<Url> refuse(std::string* error, std::string why) {
    if (error != nullptr) *error = std::move(why);
    return std::nullopt;
}

// Fills url.host and url.address from the authority's host part, or says why it cannot.
bool parseHost(std::string_view raw, Url& url, std::string* error) {
    if (raw.empty()) {
        refuse(error, "has no host");
        return false;
    }
    if (raw.front() == '[') {
        if (raw.back() != ']') {
            refuse(error, "has an unterminated IPv6 literal");
            return false;
        }
        const std::string_view inner = raw.substr(1, raw.size() - 2);
        // Zone identifiers (%25eth0) name an interface of this machine: nothing a task should choose.
        const bool plain = !inner.empty() && std::all_of(inner.begin(), inner.end(), [](char c) {
            return isHexDigit(c) || c == ':' || c == '.';
        });
        boost::system::error_code ec;
        const auto address = plain ? ip::make_address_v6(std::string(inner), ec) : ip::address_v6();
        if (!plain || ec) {
            refuse(error, fmt::format("has an invalid IPv6 literal [{}]", inner));
            return false;
        }
        url.address = address;
        url.host = address.to_string();
        return true;
    }
    if (hasNonAscii(raw)) {
        refuse(error,
               "has a non-ASCII host name; internationalised names are not supported (write the xn-- form)");
        return false;
    }
    std::string host = lowered(raw);
    if (endsInNumber(host)) {
        const auto address = parseIpv4(host);
        if (!address) {
            refuse(error, fmt::format("has a malformed IPv4 host {}", host));
            return false;
        }
        url.address = *address;
        url.host = address->to_string();
        return true;
    }
    if (host.size() > 1 && host.back() == '.') host.pop_back();
    if (!isDnsName(host)) {
        refuse(error,
               fmt::format("has an invalid host name {} (letters, digits, hyphens and dots only)", host));
        return false;
    }
    url.host = std::move(host);
    return true;
}

bool parsePort(std::string_view text, Url& url, std::string* error) {
    if (text.empty() || text.size() > 5 || !std::all_of(text.begin(), text.end(), isDigit)) {
        refuse(error, fmt::format("has an invalid port \"{}\"", text));
        return false;
    }
    unsigned value = 0;
    for (char c : text) value = value * 10 + static_cast<unsigned>(c - '0');
    if (value == 0 || value > 65535) {
        refuse(error, fmt::format("has port {}, outside 1-65535", text));
        return false;
    }
    url.port = static_cast<std::uint16_t>(value);
    return true;
}

// RFC 3986 5.2.4, so a relative redirect cannot climb above the root.
std::string removeDotSegments(std::string_view path) {
    std::vector<std::string_view> kept;
    std::size_t start = 1;  // path starts with '/'
    while (start <= path.size()) {
        auto slash = path.find('/', start);
        if (slash == std::string_view::npos) slash = path.size();
        const std::string_view segment = path.substr(start, slash - start);
        const bool last = slash == path.size();
        if (segment == "..") {
            if (!kept.empty()) kept.pop_back();
            if (last) kept.emplace_back();
        } else if (segment == ".") {
            if (last) kept.emplace_back();
        } else {
            kept.push_back(segment);
        }
        start = slash + 1;
    }
    std::string out;
    for (std::string_view segment : kept) {
        out += '/';
        out += segment;
    }
    return out.empty() ? "/" : out;
}

}  // namespace

std::string Url::authority() const {
    const bool brackets = address && address->is_v6();
    std::string out;
    if (brackets) out += '[';
    out += host;
    if (brackets) out += ']';
    if (port != (tls ? 443 : 80)) {
        out += ':';
        out += std::to_string(port);
    }
    return out;
}

std::string Url::text() const {
    return scheme() + "://" + authority() + target;
}

std::optional<Url> parseUrl(std::string_view text, std::string* error) {
    if (text.empty()) return refuse(error, "is empty");
    if (text.size() > kMaxUrlSize) return refuse(error, fmt::format("is longer than {} bytes", kMaxUrlSize));
    for (char c : text) {
        const auto byte = static_cast<unsigned char>(c);
        if (byte <= 0x20 || byte == 0x7f) return refuse(error, "contains a space or a control character");
        // Browsers read '\' as '/', which turns http://a.example\@127.0.0.1/ into a request to a.example
        // while other parsers see 127.0.0.1: no reading of it is safe.
        if (c == '\\') return refuse(error, "contains a backslash");
    }
    const auto colon = text.find(':');
    if (colon == std::string_view::npos || !isScheme(text.substr(0, colon)))
        return refuse(error, "is not an absolute URL (scheme://host/...)");
    const std::string scheme = lowered(text.substr(0, colon));
    Url url;
    if (scheme == "https") {
        url.tls = true;
        url.port = 443;
    } else if (scheme != "http") {
        return refuse(error,
                      fmt::format("has scheme {}, which is not allowed (http and https only)", scheme));
    }
    std::string_view rest = text.substr(colon + 1);
    if (rest.substr(0, 2) != "//") return refuse(error, "must have the form scheme://host/...");
    rest.remove_prefix(2);
    if (const auto hash = rest.find('#'); hash != std::string_view::npos) rest = rest.substr(0, hash);
    const auto authorityEnd = rest.find_first_of("/?");
    const std::string_view authority = rest.substr(0, authorityEnd);
    const std::string_view target = authorityEnd == std::string_view::npos ? "" : rest.substr(authorityEnd);
    if (authority.find('@') != std::string_view::npos)
        return refuse(error, "must not carry a user name or password (@ in the authority)");

    std::string_view host = authority;
    std::optional<std::string_view> port;
    if (!authority.empty() && authority.front() == '[') {
        const auto close = authority.find(']');
        if (close == std::string_view::npos) return refuse(error, "has an unterminated IPv6 literal");
        host = authority.substr(0, close + 1);
        const std::string_view after = authority.substr(close + 1);
        if (!after.empty()) {
            if (after.front() != ':') return refuse(error, "has text after the IPv6 literal");
            port = after.substr(1);
        }
    } else if (const auto portColon = authority.find(':'); portColon != std::string_view::npos) {
        host = authority.substr(0, portColon);
        port = authority.substr(portColon + 1);
    }
    if (!parseHost(host, url, error)) return std::nullopt;
    if (port && !parsePort(*port, url, error)) return std::nullopt;

    if (hasNonAscii(target)) return refuse(error, "has a non-ASCII path or query (percent-encode it)");
    if (target.empty()) {
        url.target = "/";
    } else if (target.front() == '?') {
        url.target = "/" + std::string(target);
    } else {
        url.target = std::string(target);
    }
    return url;
}

std::optional<Url> resolveLocation(const Url& base, std::string_view location, std::string* error) {
    if (location.empty()) return refuse(error, "is empty");
    const auto schemeEnd = location.find_first_of(":/?#");
    if (schemeEnd != std::string_view::npos && location[schemeEnd] == ':' &&
        isScheme(location.substr(0, schemeEnd))) {
        return parseUrl(location, error);
    }
    if (location.substr(0, 2) == "//") return parseUrl(base.scheme() + ":" + std::string(location), error);

    const std::string origin = base.scheme() + "://" + base.authority();
    const std::string_view basePathAndQuery = base.target;
    const std::string_view basePath = basePathAndQuery.substr(0, basePathAndQuery.find('?'));
    std::string_view reference = location.substr(0, location.find('#'));
    if (reference.empty()) return parseUrl(origin + base.target, error);
    if (reference.front() == '?')
        return parseUrl(origin + std::string(basePath) + std::string(reference), error);

    const auto queryStart = reference.find('?');
    const std::string_view referencePath = reference.substr(0, queryStart);
    const std::string query =
        queryStart == std::string_view::npos ? "" : std::string(reference.substr(queryStart));
    std::string path;
    if (referencePath.front() == '/') {
        path = std::string(referencePath);
    } else {
        path = std::string(basePath.substr(0, basePath.rfind('/') + 1)) + std::string(referencePath);
    }
    return parseUrl(origin + removeDotSegments(path) + query, error);
}

}  // namespace rampart::egress
