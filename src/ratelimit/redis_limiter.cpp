// The GCRA step of rate_limiter.hpp in Lua, in microseconds of Redis's clock.
#include "ratelimit/redis_limiter.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string_view>
#include <unordered_map>
#include <utility>

#include <boost/asio/execution/context_as.hpp>
#include <boost/asio/execution_context.hpp>
#include <boost/asio/query.hpp>
#include <boost/asio/this_coro.hpp>

namespace rampart::ratelimit {
namespace {

// KEYS[1]: the key's theoretical arrival time (TAT), in microseconds of Redis's clock.
// ARGV[1]: the interval between requests (window / quota), in microseconds; ARGV[2]: the quota;
// ARGV[3]: how many requests to allow at once, at most (a lease; 1 for one decision); ARGV[4]: how many
// requests of an earlier lease went unspent, given back first (0: none).
// Returns {allowed (0 refused, else how many, at most ARGV[3]), remaining, retry after (us), reset after
// (us)}. One request is the GCRA step of rate_limiter.hpp; n at once are n steps in a row, stopping at the
// first that would be refused. Lua numbers are doubles: exact for integers below 2^53, and now (~1.7e15
// us) plus a 30-day window stays far below. The TAT is written with %.0f because tostring() would write
// 1.7e+15 and lose the digits.
constexpr const char* kGcraScript = R"lua(
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
local interval = tonumber(ARGV[1])
local tolerance = interval * tonumber(ARGV[2])
local wanted = tonumber(ARGV[3])
local refund = tonumber(ARGV[4])
local stored = tonumber(redis.call('GET', KEYS[1]))
local tat = (stored or now) - refund * interval
if tat < now then tat = now end
local fit = math.floor((tolerance - (tat - now)) / interval)
if fit < 1 then
  if refund > 0 and stored then
    redis.call('SET', KEYS[1], string.format('%.0f', tat), 'PX', math.max(1, math.ceil((tat - now) / 1000)))
  end
  return {0, 0, tat + interval - now - tolerance, tat - now}
end
local allowed = math.min(wanted, fit)
local next_tat = tat + allowed * interval
redis.call('SET', KEYS[1], string.format('%.0f', next_tat), 'PX', math.ceil((next_tat - now) / 1000))
return {allowed, math.floor((tolerance - (next_tat - now)) / interval), 0, next_tat - now}
)lua";

// The per-io_context connections of RedisLimiter, by limiter: an Asio service, so they are touched only
// by the thread running the context and closed when the context is destroyed (before its sockets'
// services go: a service registered later is shut down earlier).
class ContextConnections : public boost::asio::execution_context::service {
  public:
    using key_type = ContextConnections;
    static inline boost::asio::execution_context::id id;

    explicit ContextConnections(boost::asio::execution_context& context) : service(context) {}

    std::unique_ptr<redis::Client>& slot(std::uint64_t limiter) { return clients_[limiter]; }

  private:
    void shutdown() override { clients_.clear(); }  // each client closes on destruction

    std::map<std::uint64_t, std::unique_ptr<redis::Client>> clients_;
};

std::atomic<std::uint64_t> nextSerial{1};

using SteadyClock = std::chrono::steady_clock;
constexpr auto kLeaseLife = RedisLimiter::kLeaseLife;
constexpr auto kMaxLeasedKeys = RedisLimiter::kMaxLeasedKeys;

// What one thread may still allow for one key without asking Redis: requests Redis allowed at once (a
// lease) beyond the one that asked.
struct Lease {
    std::uint64_t left = 0;  // leased, not allowed yet
    std::uint64_t used = 0;  // allowed since the last call to Redis for the key
    std::uint64_t size = 1;  // what the next call asks for
    SteadyClock::time_point leasedAt{};
    SteadyClock::time_point expires{};  // `left` is given back, not spent, from then on
    std::uint64_t remaining = 0;        // Redis's figures at leasedAt, for the headers
    std::chrono::nanoseconds resetAfter{0};
};

struct KeyHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view key) const { return std::hash<std::string_view>{}(key); }
};

// One thread's leases for one limiter: touched by that thread only, so without a lock; bounded.
class Leases {
  public:
    // A request allowed from a live lease of `key`; nullopt when none is left or it lapsed.
    std::optional<Decision> spend(std::string_view key, std::chrono::nanoseconds interval,
                                  SteadyClock::time_point now) {
        const auto found = leases_.find(key);
        if (found == leases_.end()) return std::nullopt;
        Lease& lease = found->second;
        if (lease.left == 0 || now >= lease.expires) return std::nullopt;
        --lease.left;
        ++lease.used;
        return decisionFor(lease, interval, now);
    }

    // Before a call to Redis for `key`: how many requests to ask for (the lease grows while each one is
    // spent within its life, and shrinks to what was spent when one lapses), and how many lapsed unspent
    // ones to give back in the same call.
    std::pair<std::uint64_t, std::uint64_t> prepare(std::string_view key, std::uint64_t cap,
                                                    SteadyClock::time_point now) {
        Lease* lease = findOrInsert(key, now);
        if (lease == nullptr) return {1, 0};
        std::uint64_t refund = 0;
        if (now >= lease->expires) {
            refund = lease->left;
            lease->left = 0;
            lease->size = std::max<std::uint64_t>(1, lease->used);
        } else if (lease->left == 0) {
            lease->size *= 2;
        }
        lease->size = std::min(lease->size, cap);
        lease->used = 0;
        return {lease->size, refund};
    }

    // After Redis allowed `allowed` (>= 1) requests for `key`: the first is the caller's, the others are
    // leased until kLeaseLife from now. `redis` holds Redis's remaining and reset figures.
    void add(std::string_view key, std::uint64_t allowed, const Decision& redis,
             SteadyClock::time_point now) {
        Lease* lease = findOrInsert(key, now);
        if (lease == nullptr) return;  // full: the leased requests are lost, never allowed twice
        lease->left += allowed - 1;
        ++lease->used;
        lease->leasedAt = now;
        lease->expires = now + kLeaseLife;
        lease->remaining = redis.remaining;
        lease->resetAfter = redis.resetAfter;
    }

    // A decision for a request of `lease`, its figures as if the unspent leased requests were Redis's.
    static Decision decisionFor(const Lease& lease, std::chrono::nanoseconds interval,
                                SteadyClock::time_point now) {
        Decision decision;
        decision.allowed = true;
        decision.remaining = lease.remaining + lease.left;
        const auto held = interval * static_cast<std::int64_t>(lease.left);
        decision.resetAfter =
            std::max(std::chrono::nanoseconds(0), lease.resetAfter - (now - lease.leasedAt) - held);
        return decision;
    }

  private:
    Lease* findOrInsert(std::string_view key, SteadyClock::time_point now) {
        if (const auto found = leases_.find(key); found != leases_.end()) return &found->second;
        if (leases_.size() >= kMaxLeasedKeys && now - lastSweep_ >= kLeaseLife) {
            lastSweep_ = now;
            // A lapsed lease's unspent requests are dropped with it: fewer allowed, never more.
            std::erase_if(leases_, [now](const auto& entry) { return now >= entry.second.expires; });
        }
        if (leases_.size() >= kMaxLeasedKeys) return nullptr;
        return &leases_.emplace(std::string(key), Lease{}).first->second;
    }

    std::unordered_map<std::string, Lease, KeyHash, std::equal_to<>> leases_;
    SteadyClock::time_point lastSweep_{};
};

// This thread's leases of limiter `serial`.
Leases& threadLeases(std::uint64_t serial) {
    thread_local std::map<std::uint64_t, Leases> byLimiter;
    thread_local std::pair<std::uint64_t, Leases*> last{0, nullptr};
    if (last.first != serial) last = {serial, &byLimiter[serial]};
    return *last.second;
}

// The most requests one lease may hold for `rate`: 1 (no lease) under kMinLeaseQuota, so login and the
// anonymous limits stay exact, then a hundredth of the quota up to kMaxLease.
std::uint64_t leaseCap(const Rate& rate) {
    if (rate.requests < RedisLimiter::kMinLeaseQuota) return 1;
    return std::min<std::uint64_t>(rate.requests / 100, RedisLimiter::kMaxLease);
}

// `policy.name` + ":" + `key`: the lease table's key (the Redis key without the prefix).
void leaseKey(LimitKey& out, const Policy& policy, std::string_view key) {
    out.append(policy.name).append(":").append(key);
}

}  // namespace

const std::string& RedisLimiter::scriptSource() {
    static const std::string source = kGcraScript;
    return source;
}

RedisLimiter::RedisLimiter(redis::Client& client, std::string prefix)
    : client_(&client), serial_(nextSerial++), prefix_(std::move(prefix)), script_(scriptSource()) {}

RedisLimiter::RedisLimiter(redis::RedisUrl url, redis::ClientOptions options, std::string prefix)
    : perContext_(PerContext{std::move(url), std::move(options)}),
      serial_(nextSerial++),
      prefix_(std::move(prefix)),
      script_(scriptSource()) {
    perContext_->options.callerThreadOnly = true;
}

std::uint64_t RedisLimiter::leaseCapFor(const Rate& rate) const {
    return perContext_ ? leaseCap(rate) : 1;
}

std::optional<Decision> RedisLimiter::tryDecide(const Policy& policy, std::string_view key) {
    if (leaseCapFor(policy.rate) < 2) return std::nullopt;
    LimitKey local;
    leaseKey(local, policy, key);
    return threadLeases(serial_).spend(local.view(), policy.rate.interval(), SteadyClock::now());
}

redis::Client& RedisLimiter::clientFor(const boost::asio::any_io_executor& executor) {
    if (client_ != nullptr) return *client_;
    auto& context =
        boost::asio::query(executor, boost::asio::execution::context_as<boost::asio::execution_context&>);
    auto& slot = boost::asio::use_service<ContextConnections>(context).slot(serial_);
    if (!slot) slot = std::make_unique<redis::Client>(executor, perContext_->url, perContext_->options);
    return *slot;
}

boost::asio::awaitable<Decision> RedisLimiter::decide(const Policy& policy, std::string_view key,
                                                      const obs::Span& trace) {
    const std::uint64_t cap = leaseCapFor(policy.rate);
    LimitKey local;
    leaseKey(local, policy, key);
    if (cap >= 2) {
        if (auto leased =
                threadLeases(serial_).spend(local.view(), policy.rate.interval(), SteadyClock::now()))
            co_return *leased;
    }
    const auto executor = co_await boost::asio::this_coro::executor;
    redis::Client& client = clientFor(executor);
    std::vector<std::string> keys;
    keys.push_back(prefix_ + std::string(local.view()));
    // Redis counts in microseconds; a rate faster than one a microsecond is held to one.
    const std::int64_t interval = std::max<std::int64_t>(
        1, std::chrono::duration_cast<std::chrono::microseconds>(policy.rate.interval()).count());
    const auto [wanted, refund] = cap >= 2
                                      ? threadLeases(serial_).prepare(local.view(), cap, SteadyClock::now())
                                      : std::pair<std::uint64_t, std::uint64_t>{1, 0};
    std::vector<std::string> arguments;
    arguments.push_back(std::to_string(interval));
    arguments.push_back(std::to_string(policy.rate.requests));
    arguments.push_back(std::to_string(wanted));
    arguments.push_back(std::to_string(refund));
    // The span names the server and the command, never the key (it holds a user id or a client address).
    auto span = obs::dbSpan(trace, "redis", "EVALSHA");
    if (span.recording()) {
        span.setAttribute("server.address", client.host());
        span.setAttribute("server.port", static_cast<std::int64_t>(client.port()));
    }
    redis::Reply reply;
    std::string failure;
    try {
        reply = co_await client.eval(script_, std::move(keys), std::move(arguments));
    } catch (const redis::Unavailable& error) {
        failure = error.what();
    }
    if (!failure.empty() || reply.isError()) span.setStatus(obs::SpanStatus::error);
    span.end();
    // A server error (out of memory, a read-only replica) leaves the decision unknown: the same as down.
    if (reply.isError()) throw LimiterUnavailable("the rate-limit script failed: " + reply.text);
    if (reply.type != redis::ReplyType::kArray || reply.elements.size() != 4)
        throw LimiterUnavailable("the rate-limit script gave an unexpected reply");
    for (const auto& element : reply.elements)
        if (element.type != redis::ReplyType::kInteger || element.integer < 0)
            throw LimiterUnavailable("the rate-limit script gave an unexpected reply");
    const auto allowed = static_cast<std::uint64_t>(reply.elements[0].integer);
    if (allowed > wanted) throw LimiterUnavailable("the rate-limit script gave an unexpected reply");
    Decision decision;
    decision.allowed = allowed > 0;
    decision.remaining = static_cast<std::uint64_t>(reply.elements[1].integer);
    decision.retryAfter = std::chrono::microseconds(reply.elements[2].integer);
    decision.resetAfter = std::chrono::microseconds(reply.elements[3].integer);
    if (cap < 2 || allowed == 0) co_return decision;
    // The requests beyond this one are this thread's to allow until the lease lapses (with none, the
    // lease's life still tells how often the key is asked for).
    const auto now = SteadyClock::now();
    threadLeases(serial_).add(local.view(), allowed, decision, now);
    Lease held;
    held.left = allowed - 1;
    held.leasedAt = now;
    held.remaining = decision.remaining;
    held.resetAfter = decision.resetAfter;
    co_return Leases::decisionFor(held, policy.rate.interval(), now);
}

}  // namespace rampart::ratelimit
