// Both halves of the CSRF check are needed: the token proves the page that sent the request could
// read the session's token (same origin), and the Origin check stops a request from a sibling
// origin that somehow obtained it. Either failing gives the same 403.
#include "http/middleware/csrf.hpp"

#include <algorithm>

#include <spdlog/spdlog.h>
#include <boost/algorithm/string/case_conv.hpp>
#include <boost/beast/core/string.hpp>

#include "http/middleware/authentication.hpp"
#include "http/problem.hpp"

namespace rampart::http {
namespace {

bool safeMethod(Verb method) {
    return method == Verb::get || method == Verb::head || method == Verb::options;
}

// Lower-case, with the scheme's default port removed, so "https://A.example:443" and
// "https://a.example" compare equal (browsers omit default ports in Origin; Host may carry them).
std::string normalizeOrigin(std::string_view origin) {
    std::string lower = boost::algorithm::to_lower_copy(std::string(origin));
    if (lower.starts_with("https://") && lower.ends_with(":443")) lower.resize(lower.size() - 4);
    if (lower.starts_with("http://") && lower.ends_with(":80")) lower.resize(lower.size() - 3);
    return lower;
}

}  // namespace

CsrfStage::CsrfStage(std::shared_ptr<const identity::CsrfKey> key,
                     const std::vector<std::string>& allowedOrigins, bool secureCookies)
    : key_(std::move(key)), secureCookies_(secureCookies) {
    for (const auto& origin : allowedOrigins)
        if (origin != "*") origins_.push_back(normalizeOrigin(origin));
}

std::optional<std::string> CsrfStage::originOf(std::string_view url) {
    std::size_t schemeEnd = 0;
    if (boost::beast::iequals(url.substr(0, 8), "https://")) {
        schemeEnd = 8;
    } else if (boost::beast::iequals(url.substr(0, 7), "http://")) {
        schemeEnd = 7;
    } else {
        return std::nullopt;
    }
    const auto authorityEnd = url.find_first_of("/?#", schemeEnd);
    const std::string_view authority = url.substr(schemeEnd, authorityEnd - schemeEnd);
    if (authority.empty() || authority.find_first_of("@ \t\\") != std::string_view::npos) return std::nullopt;
    return normalizeOrigin(url.substr(0, schemeEnd + authority.size()));
}

bool CsrfStage::originAccepted(const Exchange& ex, std::string_view origin) const {
    const std::string presented = normalizeOrigin(origin);
    if (std::find(origins_.begin(), origins_.end(), presented) != origins_.end()) return true;
    const bool secure = ex.secure;
    const std::string_view host = ex.request[beast_http::field::host];
    if (host.empty()) return false;
    return presented == normalizeOrigin(std::string(secure ? "https://" : "http://") + std::string(host));
}

std::string_view CsrfStage::failure(const Exchange& ex) const {
    if (!key_) return "no_key";
    if (ex.request.count("X-CSRF-Token") != 1) return "token_missing";
    const SessionCookie cookie = findSessionCookie(ex.request, secureCookies_);
    if (cookie.state != SessionCookie::State::present) return "no_session_cookie";
    if (!key_->verify(cookie.value, ex.request["X-CSRF-Token"])) return "token_mismatch";

    const std::size_t origins = ex.request.count(beast_http::field::origin);
    if (origins > 1) return "origin_ambiguous";
    if (origins == 1) {
        const std::string_view origin = ex.request[beast_http::field::origin];
        // "null" comes from sandboxed frames, data: URLs and privacy redirects: never trusted.
        if (origin == "null" || !originAccepted(ex, origin)) return "origin_refused";
        return {};
    }
    // No Origin (older browsers on same-origin POSTs): fall back to the origin of the Referer.
    if (ex.request.count(beast_http::field::referer) != 1) return "origin_missing";
    const auto refererOrigin = originOf(ex.request[beast_http::field::referer]);
    if (!refererOrigin || !originAccepted(ex, *refererOrigin)) return "referer_refused";
    return {};
}

boost::asio::awaitable<void> CsrfStage::handle(Exchange& ex, Next next) {
    if (ex.principal && ex.principal->credential == identity::CredentialKind::session &&
        !safeMethod(ex.request.method())) {
        if (const std::string_view why = failure(ex); !why.empty()) {
            spdlog::warn("request {}: CSRF check failed ({}) for user {}", ex.requestId, why, ex.userId);
            throw ApiError::csrfFailed();
        }
    }
    co_await next(ex);
}

}  // namespace rampart::http
