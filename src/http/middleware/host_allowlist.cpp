// Host header validation in the style of Django's ALLOWED_HOSTS.
#include "http/middleware/host_allowlist.hpp"

#include <algorithm>
#include <cctype>

#include "http/problem.hpp"

namespace rampart::http {

HostAllowlistStage::HostAllowlistStage(std::vector<std::string> allowed) {
    for (auto& entry : allowed) {
        std::transform(entry.begin(), entry.end(), entry.begin(),
                       [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
        if (entry == "*")
            any_ = true;
        else
            allowed_.push_back(std::move(entry));
    }
}

std::optional<std::string> HostAllowlistStage::hostName(std::string_view value) {
    if (value.empty() || value.size() > 255) return std::nullopt;
    std::string_view host = value;
    std::string_view port;
    if (value.front() == '[') {
        auto close = value.find(']');
        if (close == std::string_view::npos) return std::nullopt;
        host = value.substr(0, close + 1);
        auto rest = value.substr(close + 1);
        if (!rest.empty()) {
            if (rest.front() != ':') return std::nullopt;
            port = rest.substr(1);
        }
        for (char c : host.substr(1, host.size() - 2))
            if (!std::isxdigit(static_cast<unsigned char>(c)) && c != ':' && c != '.') return std::nullopt;
    } else {
        auto colon = value.find(':');
        if (colon != std::string_view::npos) {
            host = value.substr(0, colon);
            port = value.substr(colon + 1);
        }
        if (host.empty()) return std::nullopt;
        for (char c : host)
            if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '.') return std::nullopt;
    }
    if (!port.empty() || value.back() == ':') {
        if (port.empty() || port.size() > 5) return std::nullopt;
        int number = 0;
        for (char c : port) {
            if (!std::isdigit(static_cast<unsigned char>(c))) return std::nullopt;
            number = number * 10 + (c - '0');
        }
        if (number > 65535) return std::nullopt;  // "localhost:99999" names no port at all
    }
    std::string out(host);
    std::transform(out.begin(), out.end(), out.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return out;
}

bool HostAllowlistStage::allowed(std::string_view hostHeader) const {
    auto host = hostName(hostHeader);
    if (!host) return false;
    if (any_) return true;
    for (const auto& entry : allowed_) {
        if (entry.front() == '.') {
            // ".example.com" matches example.com and any subdomain of it.
            std::string_view bare = std::string_view(entry).substr(1);
            if (*host == bare) return true;
            if (host->size() > entry.size() && host->ends_with(entry)) return true;
        } else if (*host == entry) {
            return true;
        }
    }
    return false;
}

boost::asio::awaitable<void> HostAllowlistStage::handle(Exchange& ex, Next next) {
    // Exactly one Host header (RFC 9112 3.2); two could be read differently by a proxy and by us.
    if (ex.request.count(beast_http::field::host) != 1 || !allowed(ex.request[beast_http::field::host]))
        throw ApiError::invalidHost();
    co_await next(ex);
}

}  // namespace rampart::http
