// Host allowlist: the Host header must name this service (exact name, or ".example.com" for the name
// and its subdomains); anything else is refused with 400 before any stage uses the host.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "http/middleware.hpp"

namespace rampart::http {

class HostAllowlistStage : public Middleware {
  public:
    explicit HostAllowlistStage(std::vector<std::string> allowed);
    boost::asio::awaitable<void> handle(Exchange& ex, Next next) override;

    [[nodiscard]] bool allowed(std::string_view hostHeader) const;

    // The host part of a Host header value, lower-cased, without the port; nullopt when malformed.
    static std::optional<std::string> hostName(std::string_view hostHeader);

  private:
    std::vector<std::string> allowed_;
    bool any_ = false;
};

}  // namespace rampart::http
