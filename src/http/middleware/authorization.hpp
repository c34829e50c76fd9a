// Authorization: the route's policy (http/policy.hpp; the table is api/policy.hpp) decides whether the
// principal may call it. Deny by default: a route without a policy answers 403 to everyone, admins included.
#pragma once

#include <functional>
#include <memory>
#include <string_view>

#include "http/middleware.hpp"
#include "http/policy.hpp"

namespace rampart::store {
class AuditSink;
}

namespace rampart::http {

// How the stage finds a route's policy: api::policyFor in the server; tests may pass their own. An empty
// lookup finds none, so every route answers 403.
using PolicyLookup = std::function<const Policy*(Verb, std::string_view)>;

class AuthorizationStage : public Middleware {
  public:
    // `audit` receives a "permission.denied" audit event for every 403; null only in unit tests.
    AuthorizationStage(PolicyLookup policies, bool requireAdminTotp, store::AuditSink* audit);
    boost::asio::awaitable<void> handle(Exchange& ex, Next next) override;

  private:
    boost::asio::awaitable<void> auditDenial(const Exchange& ex, std::string_view reason);

    PolicyLookup policies_;
    bool requireAdminTotp_;
    store::AuditSink* audit_;
};

}  // namespace rampart::http
