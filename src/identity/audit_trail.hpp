// How the identity services (and `rampart admin`) write their audit events: the event's time from the
// service's clock, the client and request id from the RequestContext. Only store::AuditSink is needed.
#pragma once

#include <string_view>

#include <boost/asio/awaitable.hpp>
#include <boost/json/object.hpp>

#include "identity/auth_settings.hpp"
#include "identity/jwt.hpp"
#include "store/audit_sink.hpp"

namespace rampart::identity {

class AuditTrail {
  public:
    AuditTrail(store::AuditSink& sink, Clock clock) : sink_(sink), clock_(std::move(clock)) {}

    // Appends an audit event.
    // Not coroutines: they copy their arguments into the event before returning the store's awaitable.
    // (No default argument for details: g++ 12 destroys a defaulted temporary in a co_await twice.)
    boost::asio::awaitable<void> audit(std::string_view action, std::string_view actor,
                                       const RequestContext& context, std::string_view target,
                                       std::string_view outcome, boost::json::object details) const;
    boost::asio::awaitable<void> audit(std::string_view action, std::string_view actor,
                                       const RequestContext& context, std::string_view target,
                                       std::string_view outcome) const;

  private:
    store::AuditSink& sink_;
    Clock clock_;
};

}  // namespace rampart::identity
