// Authentication: turns the credential a request presents (Authorization header, else the session
// cookie) into ex.principal, or refuses it. Whether a route needs a principal is authorization's
// call; this stage only says who is calling.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <string_view>

#include "http/middleware.hpp"
#include "identity/principal.hpp"

namespace rampart::http {

// "__Host-rampart_session" when cookies are Secure (the prefix makes browsers refuse the cookie
// unless it is Secure, host-only and Path=/, so a sibling subdomain cannot plant one), else
// "rampart_session" (plain-HTTP development, where browsers refuse the prefix).
[[nodiscard]] std::string_view sessionCookieName(bool secure);

// The Set-Cookie value that stores a session: HttpOnly (no script can read it), SameSite=Strict (no
// cross-site request carries it), Path=/, no Domain, and Secure when `secure`. Throws
// std::invalid_argument for an empty value, one with characters a cookie cannot hold, or a negative
// max age: the value is always our own random token, so that is a programming error.
[[nodiscard]] std::string sessionSetCookie(std::string_view value, std::chrono::seconds maxAge, bool secure);

// The Set-Cookie value that removes the session cookie (same attributes, Max-Age=0).
[[nodiscard]] std::string sessionClearCookie(bool secure);

// What the request's Cookie headers say about the session cookie. Parsed strictly: a cookie that
// appears twice (a sibling domain or path may have planted a second one) or has a malformed value is
// `invalid`, never "the first one wins".
struct SessionCookie {
    enum class State { absent, present, invalid };
    State state = State::absent;
    std::string_view value;  // into the request; set when present
};
[[nodiscard]] SessionCookie findSessionCookie(const Request& request, bool secure);

class AuthenticationStage : public Middleware {
  public:
    // The client address handed to the authenticator (for throttling and audit) is ex.client. With
    // `deferRefusal` (rate limits on), a
    // refused Authorization header sets ex.credentialRefused and the request goes on as anonymous to the
    // rate-limit stage, which answers the 401 once the attempt has been counted; without, this stage
    // answers 401 itself.
    AuthenticationStage(identity::Authenticator& authenticator, bool secureCookies,
                        bool deferRefusal = false);
    boost::asio::awaitable<void> handle(Exchange& ex, Next next) override;

  private:
    identity::Authenticator& authenticator_;
    bool secureCookies_;
    std::string clearCookie_;
    bool deferRefusal_;
};

}  // namespace rampart::http
