// Reads exactly one credential, strictly: an ambiguous request (two Authorization headers, two
// session cookies, odd spacing) is refused rather than guessed at, because two parsers that guess
// differently are how authentication gets bypassed.
#include "http/middleware/authentication.hpp"

#include <optional>
#include <stdexcept>

#include <spdlog/spdlog.h>
#include <boost/beast/core/string.hpp>

#include "http/problem.hpp"

namespace rampart::http {
namespace beast = boost::beast;
namespace {

constexpr std::string_view kSecureName = "__Host-rampart_session";
constexpr std::string_view kPlainName = "rampart_session";

// RFC 6265 cookie-octet: visible ASCII except DQUOTE, comma, semicolon and backslash.
bool isCookieOctet(char c) {
    const auto u = static_cast<unsigned char>(c);
    return u == 0x21 || (u >= 0x23 && u <= 0x2B) || (u >= 0x2D && u <= 0x3A) || (u >= 0x3C && u <= 0x5B) ||
           (u >= 0x5D && u <= 0x7E);
}

bool isCookieValue(std::string_view value) {
    if (value.empty()) return false;
    for (char c : value)
        if (!isCookieOctet(c)) return false;
    return true;
}

// RFC 7235 token68: what a bearer token is made of (JWTs and our rmp_ tokens both fit).
bool isToken68(std::string_view value) {
    std::size_t i = 0;
    for (; i < value.size(); ++i) {
        const auto u = static_cast<unsigned char>(value[i]);
        const bool ok = (u >= 'A' && u <= 'Z') || (u >= 'a' && u <= 'z') || (u >= '0' && u <= '9') ||
                        value[i] == '-' || value[i] == '.' || value[i] == '_' || value[i] == '~' ||
                        value[i] == '+' || value[i] == '/';
        if (!ok) break;
    }
    if (i == 0) return false;
    for (; i < value.size(); ++i)
        if (value[i] != '=') return false;
    return true;
}

std::string_view trimBlanks(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

// The credential of the Authorization header: "Bearer <token68>" or "Token <token68>", the scheme in
// any case, exactly one space. Nothing for anything else.
std::optional<identity::PresentedCredential> parseAuthorization(std::string_view header) {
    const auto space = header.find(' ');
    if (space == std::string_view::npos) return std::nullopt;
    const std::string_view scheme = header.substr(0, space);
    const std::string_view value = header.substr(space + 1);
    if (!isToken68(value)) return std::nullopt;
    if (beast::iequals(scheme, "Bearer"))
        return identity::PresentedCredential{identity::PresentedCredential::Scheme::bearer, value};
    if (beast::iequals(scheme, "Token"))
        return identity::PresentedCredential{identity::PresentedCredential::Scheme::token, value};
    return std::nullopt;
}

bool setsCookie(const Response& response, std::string_view name) {
    auto [it, end] = response.equal_range(beast_http::field::set_cookie);
    for (; it != end; ++it) {
        const std::string_view value = it->value();
        if (value.size() > name.size() && value.starts_with(name) && value[name.size()] == '=') return true;
    }
    return false;
}

}  // namespace

std::string_view sessionCookieName(bool secure) {
    return secure ? kSecureName : kPlainName;
}

std::string sessionSetCookie(std::string_view value, std::chrono::seconds maxAge, bool secure) {
    if (!isCookieValue(value)) throw std::invalid_argument("session cookie value is empty or malformed");
    if (maxAge.count() < 0) throw std::invalid_argument("session cookie max age is negative");
    std::string cookie(sessionCookieName(secure));
    cookie += '=';
    cookie += value;
    cookie += "; Path=/; Max-Age=" + std::to_string(maxAge.count()) + "; HttpOnly; SameSite=Strict";
    if (secure) cookie += "; Secure";
    return cookie;
}

std::string sessionClearCookie(bool secure) {
    std::string cookie(sessionCookieName(secure));
    // Expires as well as Max-Age, for clients that only understand the older attribute.
    cookie += "=; Path=/; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly; SameSite=Strict";
    if (secure) cookie += "; Secure";
    return cookie;
}

SessionCookie findSessionCookie(const Request& request, bool secure) {
    const std::string_view name = sessionCookieName(secure);
    SessionCookie found;
    int seen = 0;
    auto [it, end] = request.equal_range(beast_http::field::cookie);
    for (; it != end; ++it) {
        std::string_view rest = it->value();
        while (!rest.empty()) {
            const auto semicolon = rest.find(';');
            const std::string_view pair = trimBlanks(rest.substr(0, semicolon));
            rest = semicolon == std::string_view::npos ? std::string_view{} : rest.substr(semicolon + 1);
            const auto equals = pair.find('=');
            // Other cookies are not ours to judge; ours must be name=value exactly.
            if (trimBlanks(pair.substr(0, equals)) != name) continue;
            ++seen;
            const std::string_view value =
                equals == std::string_view::npos ? std::string_view{} : pair.substr(equals + 1);
            if (pair.substr(0, equals) != name || !isCookieValue(value)) {
                found.state = SessionCookie::State::invalid;
            } else if (found.state == SessionCookie::State::absent) {
                found.state = SessionCookie::State::present;
                found.value = value;
            }
        }
    }
    if (seen > 1) found.state = SessionCookie::State::invalid;
    if (found.state != SessionCookie::State::present) found.value = {};
    return found;
}

AuthenticationStage::AuthenticationStage(identity::Authenticator& authenticator, bool secureCookies,
                                         bool deferRefusal)
    : authenticator_(authenticator),
      secureCookies_(secureCookies),
      clearCookie_(sessionClearCookie(secureCookies)),
      deferRefusal_(deferRefusal) {}

boost::asio::awaitable<void> AuthenticationStage::handle(Exchange& ex, Next next) {
    const auto& client = ex.client;
    const std::size_t authorizations = ex.request.count(beast_http::field::authorization);
    if (authorizations > 0) {
        // The header wins over the cookie, and a bad header is an error even where no login is needed:
        // a client that sends a credential expects it to count. Every refusal is counted against the
        // client address first when rate limits are on (see deferRefusal), so guessing tokens costs.
        std::optional<identity::PresentedCredential> credential;
        if (authorizations == 1)
            credential = parseAuthorization(ex.request[beast_http::field::authorization]);
        identity::AuthOutcome outcome;
        if (credential) outcome = co_await authenticator_.authenticate(*credential, client, ex.trace);
        if (!outcome.principal) {
            if (credential)
                spdlog::info("request {}: credential refused ({})", ex.requestId, outcome.failure);
            if (!deferRefusal_) throw ApiError::unauthorized();
            ex.credentialRefused = true;
            co_await next(ex);
            co_return;
        }
        ex.userId = outcome.principal->userId;
        ex.principal = std::move(outcome.principal);
        co_await next(ex);
        co_return;
    }

    const SessionCookie cookie = findSessionCookie(ex.request, secureCookies_);
    bool clear = cookie.state == SessionCookie::State::invalid;
    if (cookie.state == SessionCookie::State::present) {
        auto outcome = co_await authenticator_.authenticate(
            {identity::PresentedCredential::Scheme::sessionCookie, cookie.value}, client, ex.trace);
        if (outcome.principal) {
            ex.userId = outcome.principal->userId;
            ex.principal = std::move(outcome.principal);
        } else {
            spdlog::info("request {}: session cookie refused ({})", ex.requestId, outcome.failure);
            clear = true;
        }
    }
    if (!clear) {
        co_await next(ex);
        co_return;
    }
    // A stale cookie continues as anonymous and is removed, so it cannot keep a browser from reaching
    // the login route. The removal must survive errors too (the error stage above builds their
    // responses), and must not undo a new session the login handler has just set.
    try {
        co_await next(ex);
    } catch (ApiError& error) {
        error.withHeader("Set-Cookie", clearCookie_);
        throw;
    }
    if (!setsCookie(ex.response, sessionCookieName(secureCookies_)))
        ex.response.insert(beast_http::field::set_cookie, clearCookie_);
}

}  // namespace rampart::http
