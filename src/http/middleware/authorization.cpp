// Checks, in order: a policy exists, the route is public, someone is authenticated, the role is
// allowed, the credential kind is allowed, the credential carries the scopes, an admin has TOTP.
// Every refusal after authentication is audited, since probing for permissions is worth knowing about.
#include "http/middleware/authorization.hpp"

#include <chrono>
#include <optional>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "http/problem.hpp"
#include "http/router.hpp"
#include "store/audit_sink.hpp"

namespace rampart::http {
namespace {

bool interactive(identity::CredentialKind kind) {
    return kind == identity::CredentialKind::accessToken || kind == identity::CredentialKind::session;
}

}  // namespace

AuthorizationStage::AuthorizationStage(PolicyLookup policies, bool requireAdminTotp, store::AuditSink* audit)
    : policies_(std::move(policies)), requireAdminTotp_(requireAdminTotp), audit_(audit) {}

boost::asio::awaitable<void> AuthorizationStage::auditDenial(const Exchange& ex, std::string_view reason) {
    if (audit_ == nullptr) co_return;
    obs::AuditEvent event;
    event.time = std::chrono::system_clock::now();
    event.action = "permission.denied";
    event.actor = ex.principal ? ex.principal->userId : std::string("anonymous");
    event.client = ex.client.to_string();
    event.requestId = ex.requestId;
    event.target = fmt::format("{} {}", beast_http::to_string(ex.route->method), ex.route->pattern);
    event.outcome = "denied";
    // The reason and the role only: never the credential, its id or anything from the request.
    event.details["reason"] = reason;
    if (ex.principal) event.details["role"] = identity::roleName(ex.principal->role);
    try {
        co_await audit_->appendAudit(std::move(event));
    } catch (const std::exception& error) {
        // The request is refused either way; a failing audit log must not turn 403 into 500.
        spdlog::error("request {}: could not audit a permission denial: {}", ex.requestId, error.what());
    }
}

boost::asio::awaitable<void> AuthorizationStage::handle(Exchange& ex, Next next) {
    // Unknown paths and wrong methods: the router answers 404/405, revealing nothing a policy protects.
    if (ex.route == nullptr) {
        co_await next(ex);
        co_return;
    }
    const Policy* policy = policies_ ? policies_(ex.route->method, ex.route->pattern) : nullptr;
    std::optional<ApiError> refusal;
    std::string_view reason;
    if (policy == nullptr) {
        spdlog::error("route {} {} has no authorization policy; refusing it (add it to src/api/policy.cpp)",
                      beast_http::to_string(ex.route->method), ex.route->pattern);
        refusal = ApiError::forbidden("You are not allowed to do this.");
        reason = "no_policy";
    } else if (policy->publicRoute) {
        co_await next(ex);
        co_return;
    } else if (!ex.principal) {
        throw ApiError::authenticationRequired();
    } else {
        const identity::Principal& who = *ex.principal;
        if (!policy->allows(who.role)) {
            reason = "role";
        } else if (policy->interactiveOnly && !interactive(who.credential)) {
            reason = "interactive_only";
        } else if ((!policy->scope.empty() && !who.hasScope(policy->scope)) ||
                   (!policy->alsoScope.empty() && !who.hasScope(policy->alsoScope))) {
            reason = "scope";
        } else if (requireAdminTotp_ && who.role == identity::Role::admin && !who.totpEnabled &&
                   !policy->allowWithoutTotp) {
            reason = "totp_required";
            refusal = ApiError::totpRequired();
        }
        if (!reason.empty() && !refusal) refusal = ApiError::forbidden("You are not allowed to do this.");
    }
    if (refusal) {
        co_await auditDenial(ex, reason);
        throw *refusal;
    }
    co_await next(ex);
}

}  // namespace rampart::http
