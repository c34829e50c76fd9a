// The GCRA step of rate_limiter.hpp in Lua, in microseconds of Redis's clock.
#include "ratelimit/redis_limiter.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <map>
#include <memory>

#include <boost/asio/execution/context_as.hpp>
#include <boost/asio/execution_context.hpp>
#include <boost/asio/query.hpp>
#include <boost/asio/this_coro.hpp>

namespace rampart::ratelimit {
namespace {

// KEYS[1]: the key's theoretical arrival time (TAT), in microseconds of Redis's clock.
// ARGV[1]: the interval between requests (window / quota), in microseconds; ARGV[2]: the quota.
// Returns {allowed (0/1), remaining, retry after (us), reset after (us)}. Lua numbers are doubles: exact
// for integers below 2^53, and now (~1.7e15 us) plus a 30-day window stays far below. The TAT is written
// with %.0f because tostring() would write 1.7e+15 and lose the digits.
constexpr const char* kGcraScript = R"lua(
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
local interval = tonumber(ARGV[1])
local tolerance = interval * tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1])) or now
if tat < now then tat = now end
local next_tat = tat + interval
if next_tat - now > tolerance then
  return {0, 0, next_tat - now - tolerance, tat - now}
end
redis.call('SET', KEYS[1], string.format('%.0f', next_tat), 'PX', math.ceil((next_tat - now) / 1000))
return {1, math.floor((tolerance - (next_tat - now)) / interval), 0, next_tat - now}
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

}  // namespace

const std::string& RedisLimiter::scriptSource() {
    static const std::string source = kGcraScript;
    return source;
}

RedisLimiter::RedisLimiter(redis::Client& client, std::string prefix)
    : client_(&client), prefix_(std::move(prefix)), script_(scriptSource()) {}

RedisLimiter::RedisLimiter(redis::RedisUrl url, redis::ClientOptions options, std::string prefix)
    : perContext_(PerContext{std::move(url), std::move(options), nextSerial++}),
      prefix_(std::move(prefix)),
      script_(scriptSource()) {
    perContext_->options.callerThreadOnly = true;
}

redis::Client& RedisLimiter::clientFor(const boost::asio::any_io_executor& executor) {
    if (client_ != nullptr) return *client_;
    auto& context =
        boost::asio::query(executor, boost::asio::execution::context_as<boost::asio::execution_context&>);
    auto& slot = boost::asio::use_service<ContextConnections>(context).slot(perContext_->serial);
    if (!slot) slot = std::make_unique<redis::Client>(executor, perContext_->url, perContext_->options);
    return *slot;
}

boost::asio::awaitable<Decision> RedisLimiter::decide(const Policy& policy, std::string_view key) {
    const auto executor = co_await boost::asio::this_coro::executor;
    redis::Client& client = clientFor(executor);
    std::vector<std::string> keys;
    keys.push_back(prefix_ + policy.name + ":" + std::string(key));
    // Redis counts in microseconds; a rate faster than one a microsecond is held to one.
    const std::int64_t interval = std::max<std::int64_t>(
        1, std::chrono::duration_cast<std::chrono::microseconds>(policy.rate.interval()).count());
    std::vector<std::string> arguments;
    arguments.push_back(std::to_string(interval));
    arguments.push_back(std::to_string(policy.rate.requests));
    redis::Reply reply;
    std::string failure;
    try {
        reply = co_await client.eval(script_, std::move(keys), std::move(arguments));
    } catch (const redis::Unavailable& error) {
        failure = error.what();
    }
    if (!failure.empty()) throw LimiterUnavailable(failure);
    // A server error (out of memory, a read-only replica) leaves the decision unknown: the same as down.
    if (reply.isError()) throw LimiterUnavailable("the rate-limit script failed: " + reply.text);
    if (reply.type != redis::ReplyType::kArray || reply.elements.size() != 4)
        throw LimiterUnavailable("the rate-limit script gave an unexpected reply");
    for (const auto& element : reply.elements)
        if (element.type != redis::ReplyType::kInteger || element.integer < 0)
            throw LimiterUnavailable("the rate-limit script gave an unexpected reply");
    Decision decision;
    decision.allowed = reply.elements[0].integer == 1;
    decision.remaining = static_cast<std::uint64_t>(reply.elements[1].integer);
    decision.retryAfter = std::chrono::microseconds(reply.elements[2].integer);
    decision.resetAfter = std::chrono::microseconds(reply.elements[3].integer);
    co_return decision;
}

}  // namespace rampart::ratelimit
