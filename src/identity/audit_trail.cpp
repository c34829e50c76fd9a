// Audit events of the identity services.
#include "identity/audit_trail.hpp"

#include "identity/credential_rules.hpp"
#include "obs/traced.hpp"

namespace rampart::identity {

boost::asio::awaitable<void> AuditTrail::audit(std::string_view action, std::string_view actor,
                                               const RequestContext& context, std::string_view target,
                                               std::string_view outcome, boost::json::object details) const {
    auto append = sink_.appendAudit(obs::AuditEvent{
        .time = clock_(),
        .action = std::string(action),
        .actor = std::string(actor),
        .client = clientText(context.client),
        .requestId = context.requestId,
        .target = std::string(target),
        .outcome = std::string(outcome),
        .details = std::move(details),
    });
    return obs::tracedStore(context.span(), sink_, "appendAudit", std::move(append));
}

boost::asio::awaitable<void> AuditTrail::audit(std::string_view action, std::string_view actor,
                                               const RequestContext& context, std::string_view target,
                                               std::string_view outcome) const {
    return audit(action, actor, context, target, outcome, boost::json::object());
}

}  // namespace rampart::identity
