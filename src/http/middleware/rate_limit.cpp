// The rate-limit stage. Order of spending: the caller's own policy first, then the route's scope, then
// the global limit, and the first refusal stops, so a client refused by its own limit never spends the
// shared global budget. Decisions of the in-memory backend are taken without a coroutine of their own.
#include "http/middleware/rate_limit.hpp"

#include <algorithm>

#include <fmt/format.h>
#include <prometheus/counter.h>
#include <spdlog/spdlog.h>

#include "core/address_key.hpp"
#include "http/problem.hpp"
#include "http/router.hpp"
#include "obs/metrics.hpp"

namespace rampart::http {
namespace {

using ratelimit::Decision;
using ratelimit::LimitKey;

// Whole seconds, rounded up: a client that waits this long is not refused again for the same reason.
std::int64_t ceilSeconds(std::chrono::nanoseconds duration) {
    const std::int64_t ns = duration.count();
    if (ns <= 0) return 0;
    return (ns + 999'999'999) / 1'000'000'000;
}

// Is `a` more restrictive than `b`: fewer requests left, or as few and longer to wait.
bool tighter(const Decision& a, const Decision& b) {
    if (a.allowed != b.allowed) return !a.allowed;
    if (a.remaining != b.remaining) return a.remaining < b.remaining;
    return a.resetAfter > b.resetAfter;
}

std::string policyItem(const ratelimit::Policy& policy) {
    return fmt::format("\"{}\";q={};w={}", policy.name, policy.rate.requests, policy.rate.window.count());
}

void appendUserKey(LimitKey& key, const identity::Principal& principal) {
    key.append("u:").append(principal.userId);
}

// The client's address as the trusted proxies report it (the TCP peer without them), as a key: IPv6 by
// its /64 (core/address_key.hpp, the same key the login lockout counts under).
void appendClientKey(LimitKey& key, const Exchange& ex) {
    key.append(AddressKey(ex.client).view());
}

}  // namespace

void RateLimitContext::record(const BoundPolicy& policy, const Decision& decision) {
    for (std::size_t i = 0; i < count; ++i) {
        if (entries[i].policy->policy.name != policy.policy.name) continue;
        if (tighter(decision, entries[i].decision)) entries[i] = {&policy, decision};
        return;
    }
    if (count < entries.size()) entries[count++] = {&policy, decision};
}

RateLimitStage::RateLimitStage(const ratelimit::RateLimitSettings& config,
                               std::shared_ptr<ratelimit::RateLimiter> limiter,
                               obs::RateLimitMetrics* metrics)
    : limiter_(std::move(limiter)), metrics_(metrics) {
    auto make = [](std::string_view name, const std::optional<ratelimit::Rate>& rate) {
        return rate ? std::optional<ratelimit::Policy>(ratelimit::Policy{std::string(name), *rate})
                    : std::nullopt;
    };
    anon_ = bind(make("anon", config.anon));
    user_ = bind(make("user", config.user));
    worker_ = bind(make("worker", config.worker));
    global_ = bind(make("global", config.global));
    if (auto* login = bind(make(kLoginScope, config.login))) scopes_.emplace(std::string(kLoginScope), login);
    if (auto* submit = bind(make(kJobsSubmitScope, config.jobsSubmit)))
        scopes_.emplace(std::string(kJobsSubmitScope), submit);
    for (const auto& [token, rate] : config.tokens) tokens_.emplace(token, bind(make("token", rate)));
}

const BoundPolicy* RateLimitStage::bind(std::optional<ratelimit::Policy> policy) {
    if (!policy) return nullptr;
    auto bound = std::make_unique<BoundPolicy>();
    bound->policyItem = policyItem(*policy);
    if (metrics_) {
        bound->allowed = &metrics_->decisions(policy->name, "allowed");
        bound->limited = &metrics_->decisions(policy->name, "limited");
    }
    bound->policy = std::move(*policy);
    owned_.push_back(std::move(bound));
    return owned_.back().get();
}

const BoundPolicy* RateLimitStage::scopePolicy(std::string_view scope) const {
    auto it = scopes_.find(scope);
    return it == scopes_.end() ? nullptr : it->second;
}

std::string RateLimitStage::policyHeader(const RateLimitContext& context) {
    std::string value;
    for (std::size_t i = 0; i < context.count; ++i) {
        if (i > 0) value += ", ";
        value += context.entries[i].policy->policyItem;
    }
    return value;
}

std::string RateLimitStage::stateHeader(const RateLimitContext& context) {
    fmt::memory_buffer out;
    for (std::size_t i = 0; i < context.count; ++i) {
        const auto& entry = context.entries[i];
        fmt::format_to(std::back_inserter(out), "{}\"{}\";r={};t={}", i > 0 ? ", " : "",
                       entry.policy->policy.name, entry.decision.remaining,
                       ceilSeconds(entry.decision.resetAfter));
    }
    return fmt::to_string(out);
}

void RateLimitStage::refuse(Exchange& ex, RateLimitContext& context, const BoundPolicy& policy,
                            const Decision& decision) const {
    const std::int64_t retry = std::max<std::int64_t>(1, ceilSeconds(decision.retryAfter));
    ApiError error(Status::too_many_requests, "rate-limited", "Too many requests",
                   fmt::format("The \"{}\" rate limit ({}) is used up; retry after {} s.", policy.policy.name,
                               policy.policy.rate.text(), retry));
    error.withHeader("Retry-After", std::to_string(retry));
    error.withHeader("RateLimit-Policy", policyHeader(context));
    error.withHeader("RateLimit", stateHeader(context));
    throw error;
}

void RateLimitStage::apply(Exchange& ex, RateLimitContext& context, const BoundPolicy& policy,
                           const Decision& decision) const {
    context.record(policy, decision);
    if (decision.allowed) {
        if (policy.allowed) policy.allowed->Increment();
        return;
    }
    if (policy.limited) policy.limited->Increment();
    refuse(ex, context, policy, decision);
}

namespace {
[[noreturn]] void unavailable(const Exchange& ex, const char* why) {
    // The limiter warns about an outage itself, at most every few seconds; per request it is debug.
    spdlog::debug("request {}: rate limiter unavailable ({}); answered 503 (rate_limits.fail_closed)",
                  ex.requestId, why);
    throw ApiError::serviceUnavailable("The rate limiter is not reachable; try again shortly.")
        .withHeader("Retry-After", "1");
}
}  // namespace

bool RateLimitStage::tryCheck(Exchange& ex, RateLimitContext& context, const BoundPolicy& policy,
                              std::string_view key) const {
    std::optional<Decision> decision;
    try {
        decision = limiter_->tryDecide(policy.policy, key);
    } catch (const ratelimit::LimiterUnavailable& error) {
        unavailable(ex, error.what());
    }
    if (!decision) return false;
    apply(ex, context, policy, *decision);
    return true;
}

boost::asio::awaitable<void> RateLimitStage::awaitCheck(Exchange& ex, RateLimitContext& context,
                                                        const BoundPolicy& policy,
                                                        std::string_view key) const {
    Decision decision;
    std::string failure;
    try {
        decision = co_await limiter_->decide(policy.policy, key, ex.trace);
    } catch (const ratelimit::LimiterUnavailable& error) {
        failure = error.what();
    }
    if (!failure.empty()) unavailable(ex, failure.c_str());
    apply(ex, context, policy, decision);
}

boost::asio::awaitable<void> RateLimitStage::spend(Exchange& ex, RateLimitContext& context,
                                                   std::string_view scope, std::string_view key) const {
    const BoundPolicy* policy = scopePolicy(scope);
    if (policy == nullptr) co_return;
    if (!tryCheck(ex, context, *policy, key)) co_await awaitCheck(ex, context, *policy, key);
}

boost::asio::awaitable<void> RateLimitStage::handle(Exchange& ex, Next next) {
    if (ex.credentialRefused) {
        // A refused Authorization header (see AuthenticationStage) spends the client address's anonymous
        // budget on every route, limited or not, before its 401: a 401 tells a guesser whether a token is
        // good, so without this, guessing tokens would cost nothing.
        ApiError refused = ApiError::unauthorized();
        if (anon_ != nullptr) {
            RateLimitContext context;
            context.stage = this;
            LimitKey address;
            appendClientKey(address, ex);
            if (!tryCheck(ex, context, *anon_, address.view()))
                co_await awaitCheck(ex, context, *anon_, address.view());
            refused.withHeader("RateLimit-Policy", policyHeader(context));
            refused.withHeader("RateLimit", stateHeader(context));
        }
        throw refused;
    }
    if (ex.route == nullptr || !ex.route->rateLimited) {
        co_await next(ex);
        co_return;
    }
    RateLimitContext context;
    context.stage = this;

    // Who is counted: the user under `user`, or `worker` for the worker role (or the service token with
    // its own override), else the client address as the trusted proxies report it, never as the client
    // claims it.
    LimitKey caller;
    const BoundPolicy* own = nullptr;
    if (ex.principal) {
        own = ex.principal->role == identity::Role::worker ? worker_ : user_;
        if (ex.principal->credential == identity::CredentialKind::apiToken && !tokens_.empty()) {
            auto it = tokens_.find(ex.principal->credentialId);
            if (it != tokens_.end()) {
                own = it->second;
                caller.append("t:").append(ex.principal->credentialId);
            }
        }
        if (caller.view().empty()) appendUserKey(caller, *ex.principal);
    } else {
        own = anon_;
        appendClientKey(caller, ex);
    }
    if (own != nullptr && !tryCheck(ex, context, *own, caller.view()))
        co_await awaitCheck(ex, context, *own, caller.view());
    if (!ex.route->rateLimitScope.empty()) {
        // Scopes are keyed like the caller's own policy: the user, else the address.
        LimitKey scoped;
        if (ex.principal) {
            appendUserKey(scoped, *ex.principal);
        } else {
            appendClientKey(scoped, ex);
        }
        const BoundPolicy* policy = scopePolicy(ex.route->rateLimitScope);
        if (policy != nullptr && !tryCheck(ex, context, *policy, scoped.view()))
            co_await awaitCheck(ex, context, *policy, scoped.view());
    }
    if (global_ != nullptr && !tryCheck(ex, context, *global_, {}))
        co_await awaitCheck(ex, context, *global_, {});

    ex.rateLimit = &context;
    try {
        co_await next(ex);
    } catch (ApiError& error) {
        ex.rateLimit = nullptr;
        if (context.count > 0) {
            error.withHeader("RateLimit-Policy", policyHeader(context));
            error.withHeader("RateLimit", stateHeader(context));
        }
        throw;
    } catch (...) {
        ex.rateLimit = nullptr;
        throw;
    }
    ex.rateLimit = nullptr;
    if (context.count > 0) {
        ex.response.set("RateLimit-Policy", policyHeader(context));
        ex.response.set("RateLimit", stateHeader(context));
    }
}

boost::asio::awaitable<void> limitScope(Exchange& ex, std::string_view scope, std::string_view key) {
    if (ex.rateLimit == nullptr || ex.rateLimit->stage == nullptr) co_return;
    co_await ex.rateLimit->stage->spend(ex, *ex.rateLimit, scope, key);
}

}  // namespace rampart::http
