// Route matching on whole path segments; parameters are percent-decoded, separators never are.
#include "http/router.hpp"

#include <stdexcept>

#include <boost/beast/core/string.hpp>

#include "http/problem.hpp"

namespace rampart::http {
namespace beast = boost::beast;
namespace {

Router::Segments splitSegments(std::string_view path) {
    Router::Segments out;
    std::size_t start = 1;  // path starts with '/'
    while (start <= path.size()) {
        auto end = path.find('/', start);
        if (end == std::string_view::npos) end = path.size();
        if (out.count == Router::kMaxSegments) {
            out.tooMany = true;
            break;
        }
        out.items[out.count++] = path.substr(start, end - start);
        start = end + 1;
    }
    return out;
}

int hexValue(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

// Decodes %XX in a path segment. Refuses encoded '/', '\\' and NUL, which would let a client smuggle
// a separator past the matcher, and malformed escapes.
bool decodeSegment(std::string_view in, std::string& out) {
    out.clear();
    out.reserve(in.size());
    for (std::size_t i = 0; i < in.size(); ++i) {
        if (in[i] != '%') {
            out.push_back(in[i]);
            continue;
        }
        if (i + 2 >= in.size()) return false;
        int hi = hexValue(in[i + 1]), lo = hexValue(in[i + 2]);
        if (hi < 0 || lo < 0) return false;
        char c = static_cast<char>(hi * 16 + lo);
        if (c == '/' || c == '\\' || c == '\0') return false;
        out.push_back(c);
        i += 2;
    }
    return true;
}

// ASCII-only and allocation-free: this runs on every request (boost::algorithm's versions build a
// std::locale per call).
bool containsNoCase(std::string_view haystack, std::string_view needle) {
    auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; };
    for (std::size_t i = 0; i + needle.size() <= haystack.size(); ++i) {
        std::size_t j = 0;
        while (j < needle.size() && lower(haystack[i + j]) == needle[j]) ++j;
        if (j == needle.size()) return true;
    }
    return false;
}

bool isPathChar(char c) {
    // RFC 3986 pchar plus '/', as bytes; anything else (spaces, quotes, controls, non-ASCII) is refused.
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
    switch (c) {
        case '-':
        case '.':
        case '_':
        case '~':
        case '!':
        case '$':
        case '&':
        case '\'':
        case '(':
        case ')':
        case '*':
        case '+':
        case ',':
        case ';':
        case '=':
        case ':':
        case '@':
        case '%':
        case '/':
            return true;
        default:
            return false;
    }
}

}  // namespace

void Router::add(Route route) {
    if (route.pattern.empty() || route.pattern[0] != '/')
        throw std::invalid_argument("route pattern must start with '/'");
    for (std::size_t i = 0; i < routes_.size(); ++i)
        if (routes_[i].method == route.method && routes_[i].pattern == route.pattern)
            throw std::invalid_argument("duplicate route " + route.pattern);
    const auto segments = splitSegments(route.pattern);
    if (segments.tooMany) throw std::invalid_argument("route pattern has too many segments");
    Compiled compiled;
    for (std::size_t i = 0; i < segments.count; ++i) compiled.segments.emplace_back(segments.items[i]);
    compiled_.push_back(std::move(compiled));
    route.spanName = std::string(beast_http::to_string(route.method)) + " " + route.pattern;
    routes_.push_back(std::move(route));
}

bool Router::matches(const Compiled& compiled, const Segments& path,
                     std::vector<std::pair<std::string_view, std::string>>* params) {
    if (path.tooMany || path.count != compiled.segments.size()) return false;
    std::string decoded;
    for (std::size_t i = 0; i < path.count; ++i) {
        const auto& want = compiled.segments[i];
        const std::string_view segment = path.items[i];
        if (want.size() > 2 && want.front() == '{' && want.back() == '}') {
            if (segment.empty()) return false;
            if (segment.find('%') == std::string_view::npos) {  // the common case: nothing to decode
                if (params) params->emplace_back(std::string_view(want).substr(1, want.size() - 2), segment);
                continue;
            }
            if (!decodeSegment(segment, decoded)) return false;
            if (params) params->emplace_back(std::string_view(want).substr(1, want.size() - 2), decoded);
        } else if (segment != want) {
            return false;
        }
    }
    return true;
}

void Router::match(Exchange& ex) const {
    std::string_view target = ex.request.target();
    // Origin-form only: absolute-form ("http://host/..."), authority-form and "*" are for proxies.
    if (target.empty() || target[0] != '/') throw ApiError::badRequest("The request target must be a path.");
    auto question = target.find('?');
    ex.path = target.substr(0, question);
    ex.query = question == std::string_view::npos ? std::string_view{} : target.substr(question + 1);

    for (char c : ex.path)
        if (!isPathChar(c))
            throw ApiError::badRequest("The request path contains characters that are not allowed.");
    // Every segment, however many (the split below keeps the first kMaxSegments only).
    for (std::size_t start = 1; start <= ex.path.size();) {
        auto end = ex.path.find('/', start);
        if (end == std::string_view::npos) end = ex.path.size();
        const std::string_view segment = ex.path.substr(start, end - start);
        start = end + 1;
        if (segment == "." || segment == "..")
            throw ApiError::badRequest("The request path may not contain dot segments.");
        if (segment.find('%') == std::string_view::npos) continue;  // the common case: nothing encoded
        if (containsNoCase(segment, "%2e"))
            throw ApiError::badRequest("The request path may not contain dot segments.");
        if (containsNoCase(segment, "%2f") || containsNoCase(segment, "%5c") ||
            segment.find("%00") != std::string_view::npos)
            throw ApiError::badRequest("The request path may not contain encoded separators.");
    }

    const Segments segments = splitSegments(ex.path);
    const Route* candidate = nullptr;
    for (std::size_t i = 0; i < routes_.size(); ++i) {
        if (!matches(compiled_[i], segments, nullptr)) continue;
        ex.routeTemplate = routes_[i].pattern;
        bool methodMatches = routes_[i].method == ex.request.method() ||
                             (ex.request.method() == Verb::head && routes_[i].method == Verb::get);
        if (methodMatches && (!candidate || routes_[i].method == ex.request.method())) {
            candidate = &routes_[i];
            ex.pathParams.clear();
            (void)matches(compiled_[i], segments, &ex.pathParams);  // known to match: fills the parameters
        }
    }
    ex.route = candidate;
}

std::size_t Router::bodyLimit(const Request& header, std::size_t fallback) const {
    std::string_view target = header.target();
    auto path = target.substr(0, target.find('?'));
    if (path.empty() || path[0] != '/') return fallback;
    const Segments segments = splitSegments(path);
    for (std::size_t i = 0; i < routes_.size(); ++i)
        if (routes_[i].method == header.method() && matches(compiled_[i], segments, nullptr))
            return routes_[i].maxBodyBytes ? routes_[i].maxBodyBytes : fallback;
    return fallback;
}

std::string Router::allowedMethods(std::string_view path) const {
    std::string allow;
    const Segments segments = splitSegments(path);
    for (std::size_t i = 0; i < routes_.size(); ++i) {
        if (!matches(compiled_[i], segments, nullptr)) continue;
        if (!allow.empty()) allow += ", ";
        allow += std::string(beast_http::to_string(routes_[i].method));
        if (routes_[i].method == Verb::get) allow += ", HEAD";
    }
    return allow;
}

namespace {

bool isJsonContentType(std::string_view value) {
    auto semicolon = value.find(';');
    auto type = value.substr(0, semicolon);
    while (!type.empty() && type.back() == ' ') type.remove_suffix(1);
    if (!beast::iequals(type, "application/json")) return false;
    if (semicolon == std::string_view::npos) return true;
    // Only charset=utf-8 may follow: JSON is UTF-8 (RFC 8259).
    auto params = value.substr(semicolon + 1);
    while (!params.empty() && params.front() == ' ') params.remove_prefix(1);
    return beast::iequals(params, "charset=utf-8") || beast::iequals(params, "charset=\"utf-8\"");
}

}  // namespace

boost::asio::awaitable<void> dispatch(const Router& router, Exchange& ex) {
    if (!ex.route) {
        if (ex.routeTemplate == "unmatched") throw ApiError::notFound();
        throw ApiError::methodNotAllowed(router.allowedMethods(ex.path));
    }
    if (ex.route->jsonBody) {
        auto contentType = ex.request[beast_http::field::content_type];
        if (!isJsonContentType(contentType))
            throw ApiError::unsupportedMediaType("This route accepts application/json bodies only.");
    } else if (!ex.request.body().empty()) {
        throw ApiError::unsupportedMediaType("This route takes no request body.");
    }
    co_await ex.route->handler(ex);
}

}  // namespace rampart::http
