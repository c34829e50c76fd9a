// The Redis GCRA limiter against a real redis-server: the same semantics as the in-memory limiter, exact
// when 200 decisions race, keys that expire once idle, and LimiterUnavailable when Redis is gone; leases
// of requests for large quotas that give back what they did not spend and never allow more. Then
// the server's form of it (a pipelined connection per I/O thread): exact across threads, each reply
// answering its own request, and a Redis that stops answering mid-pipeline falling back once per request.
#include "ratelimit/redis_limiter.hpp"

#include <algorithm>
#include <cstring>
#include <future>
#include <memory>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>

#include "ratelimit/fallback_limiter.hpp"
#include "ratelimit/memory_limiter.hpp"

#include "redis/client_host.hpp"
#include "testing/race.hpp"
#include "testing/recording_span_sink.hpp"
#include "testing/redis_server.hpp"
#include "testing/run_to_completion.hpp"

namespace rampart::ratelimit {
namespace {

using namespace std::chrono_literals;
using testing::RedisServer;
using testing::runToCompletion;

redis::ClientOptions fastOptions() {
    redis::ClientOptions options;
    options.connectTimeout = 2s;
    options.commandTimeout = 2s;
    options.firstBackoff = 50ms;
    options.maxBackoff = 200ms;
    return options;
}

class RedisLimiterTest : public ::testing::Test {
  protected:
    RedisServer server_;
    redis::ClientHost host_{redis::parseRedisUrl(server_.url()), fastOptions()};
    redis::Client& client_ = host_.client();
    RedisLimiter limiter_{client_, "rampart:rl:test:"};  // under the documented ACL
};

TEST_F(RedisLimiterTest, BurstIsTheQuotaThenRefusedWithRetryAfter) {
    const Policy policy{"user", Rate{5, std::chrono::minutes(1)}};
    EXPECT_FALSE(limiter_.tryDecide(policy, "alice").has_value());
    for (std::uint64_t i = 0; i < 5; ++i) {
        const Decision decision = runToCompletion(limiter_.decide(policy, "alice", obs::Span::off()));
        ASSERT_TRUE(decision.allowed) << i;
        EXPECT_EQ(decision.remaining, 4 - i);
    }
    const Decision refused = runToCompletion(limiter_.decide(policy, "alice", obs::Span::off()));
    EXPECT_FALSE(refused.allowed);
    EXPECT_EQ(refused.remaining, 0u);
    // 12 s per request; a few milliseconds have passed since the first.
    EXPECT_GT(refused.retryAfter, 11s);
    EXPECT_LE(refused.retryAfter, 12s);
    EXPECT_GT(refused.resetAfter, 59s);
    EXPECT_LE(refused.resetAfter, 60s);
    // Another key and another policy are apart.
    EXPECT_TRUE(runToCompletion(limiter_.decide(policy, "bob", obs::Span::off())).allowed);
    EXPECT_TRUE(
        runToCompletion(limiter_.decide(Policy{"login", policy.rate}, "alice", obs::Span::off())).allowed);
}

// After the burst, one more request every interval (here 100 ms), as in memory.
TEST_F(RedisLimiterTest, RefillsAtTheSteadyRate) {
    const Policy policy{"anon", Rate{10, std::chrono::seconds(1)}};
    for (int i = 0; i < 10; ++i)
        ASSERT_TRUE(runToCompletion(limiter_.decide(policy, "k", obs::Span::off())).allowed) << i;
    const Decision refused = runToCompletion(limiter_.decide(policy, "k", obs::Span::off()));
    ASSERT_FALSE(refused.allowed);
    EXPECT_LE(refused.retryAfter, 100ms);
    std::this_thread::sleep_for(refused.retryAfter + 5ms);
    const Decision again = runToCompletion(limiter_.decide(policy, "k", obs::Span::off()));
    EXPECT_TRUE(again.allowed);
    EXPECT_EQ(again.remaining, 0u);
    EXPECT_FALSE(runToCompletion(limiter_.decide(policy, "k", obs::Span::off())).allowed);
}

// A rate faster than Redis's microsecond clock (the "raised out of reach" limits of benchmarks and tests)
// neither divides by zero in the script nor refuses.
TEST_F(RedisLimiterTest, ARateBeyondOnePerMicrosecondStillDecides) {
    const Policy policy{"anon", Rate{1'000'000'000, std::chrono::seconds(1)}};
    for (int i = 0; i < 100; ++i) {
        const Decision decision = runToCompletion(limiter_.decide(policy, "fast", obs::Span::off()));
        ASSERT_TRUE(decision.allowed) << i;
        EXPECT_GT(decision.remaining, 999'000u);
    }
}

TEST_F(RedisLimiterTest, IdleKeysExpire) {
    const Policy policy{"anon", Rate{10, std::chrono::seconds(1)}};
    ASSERT_TRUE(runToCompletion(limiter_.decide(policy, "k", obs::Span::off())).allowed);
    redis::ClientHost inspector{redis::parseRedisUrl(server_.testUrl()), fastOptions()};
    std::vector<std::string> pttl{"PTTL", "rampart:rl:test:anon:k"};
    const auto ttl = runToCompletion(inspector.client().command(std::move(pttl)));
    ASSERT_EQ(ttl.type, redis::ReplyType::kInteger);
    EXPECT_GT(ttl.integer, 0);
    EXPECT_LE(ttl.integer, 100);  // one interval: 100 ms
}

// The limiter runs as the ACL user docs/deployment-cluster.md documents (RedisServer::kUserRules), and
// that user can do nothing else: no other key, no administration, no reading what else Redis holds.
TEST_F(RedisLimiterTest, TheDocumentedAclUserCanRunTheLimiterAndNothingElse) {
    const Policy policy{"anon", Rate{10, std::chrono::seconds(1)}};
    ASSERT_TRUE(runToCompletion(limiter_.decide(policy, "k", obs::Span::off())).allowed);
    const std::vector<std::vector<std::string>> refused{
        {"FLUSHALL"},
        {"CONFIG", "GET", "requirepass"},
        {"KEYS", "*"},
        {"GET", "session:1"},
        {"SET", "x", "1"},
        {"OBJECT", "FREQ", "x"},
        {"ACL", "LIST"},
        {"SCRIPT", "FLUSH"},
        {"SCAN", "0"},
        {"SUBSCRIBE", "events"},
        {"MONITOR"},
        {"SHUTDOWN"},
        {"EVAL", "return redis.call('GET', KEYS[1])", "1", "session:1"}};
    for (auto command : refused) {
        const std::string name = command.front();
        const auto reply = runToCompletion(client_.command(std::move(command)));
        EXPECT_TRUE(reply.isError()) << name << " was allowed";
        EXPECT_NE(reply.text.find("NOPERM"), std::string::npos) << name << ": " << reply.text;
    }
}

// 200 decisions racing on four threads against a quota of 100: exactly 100 allowed.
TEST_F(RedisLimiterTest, ExactUnderConcurrency) {
    const auto seed = testing::raceSeed();
    SCOPED_TRACE("RAMPART_RACE_SEED=" + std::to_string(seed));
    const Policy policy{"anon", Rate{100, std::chrono::hours(1)}};
    testing::Race race(seed);
    std::vector<std::future<Decision>> outcomes(200);
    for (auto& outcome : outcomes)
        race.add<Decision>(outcome, [&] { return limiter_.decide(policy, "shared", obs::Span::off()); });
    race.run(4);
    int allowed = 0;
    for (auto& outcome : outcomes)
        if (outcome.get().allowed) ++allowed;
    EXPECT_EQ(allowed, 100);
}

TEST_F(RedisLimiterTest, AGoneRedisIsLimiterUnavailable) {
    const Policy policy{"user", Rate{5, std::chrono::minutes(1)}};
    ASSERT_TRUE(runToCompletion(limiter_.decide(policy, "alice", obs::Span::off())).allowed);
    server_.kill();
    EXPECT_THROW(runToCompletion(limiter_.decide(policy, "alice", obs::Span::off())), LimiterUnavailable);
}

// Each call to Redis is a client span of the request's: the database, the command and the server, never the
// key (a user id or a client address); a call that fails is an error; a decision taken from a lease, with
// no call, is no span.
TEST_F(RedisLimiterTest, EachCallToRedisIsASpanOfTheRequestThatNamesNoKey) {
    auto sink = std::make_shared<testing::RecordingSpanSink>();
    obs::Tracer tracer(obs::SamplerSettings{.kind = obs::SamplerKind::alwaysOn}, sink);
    const Policy policy{"user", Rate{5, std::chrono::minutes(1)}};
    {
        auto request = tracer.start("GET /api/v1/jobs/{id}", obs::SpanKind::server, nullptr);
        ASSERT_TRUE(runToCompletion(limiter_.decide(policy, "user-7f3a:192.0.2.77", request)).allowed);
        const auto spans = sink->spans();
        ASSERT_EQ(spans.size(), 1u);
        const auto& call = spans[0];
        EXPECT_EQ(call.name, "EVALSHA");
        EXPECT_EQ(call.kind, obs::SpanKind::client);
        EXPECT_EQ(call.parentSpanId, request.context().spanId);
        EXPECT_EQ(call.context.traceId, request.context().traceId);
        EXPECT_EQ(testing::RecordingSpanSink::attribute(call, "db.system"), "redis");
        EXPECT_EQ(testing::RecordingSpanSink::attribute(call, "db.operation.name"), "EVALSHA");
        EXPECT_EQ(testing::RecordingSpanSink::attribute(call, "server.address"), "127.0.0.1");
        EXPECT_EQ(testing::RecordingSpanSink::attribute(call, "server.port"),
                  std::to_string(redis::parseRedisUrl(server_.url()).port));
        EXPECT_EQ(call.status, obs::SpanStatus::unset);
        for (const auto& attribute : call.attributes) {
            const auto value = testing::RecordingSpanSink::attribute(call, attribute.key);
            EXPECT_EQ(value.find("user-7f3a"), std::string::npos) << attribute.key;
            EXPECT_EQ(value.find("192.0.2.77"), std::string::npos) << attribute.key;
        }
    }
    server_.kill();
    {
        auto request = tracer.start("GET /api/v1/jobs/{id}", obs::SpanKind::server, nullptr);
        EXPECT_THROW(runToCompletion(limiter_.decide(policy, "user-7f3a:192.0.2.77", request)),
                     LimiterUnavailable);
    }
    const auto spans = sink->spans();
    ASSERT_EQ(spans.size(), 4u);  // the call, the first request, the failed call, the second request
    EXPECT_EQ(spans[2].name, "EVALSHA");
    EXPECT_EQ(spans[2].status, obs::SpanStatus::error);
}

// Script calls Redis has run (EVALSHA and EVAL), from INFO commandstats.
long scriptCalls(RedisServer& server) {
    redis::ClientHost inspector{redis::parseRedisUrl(server.testUrl()), fastOptions()};
    std::vector<std::string> info{"INFO", "commandstats"};
    const auto reply = runToCompletion(inspector.client().command(std::move(info)));
    long calls = 0;
    for (const char* name : {"cmdstat_evalsha:calls=", "cmdstat_eval:calls="}) {
        const auto at = reply.text.find(name);
        if (at != std::string::npos) calls += std::stol(reply.text.substr(at + std::strlen(name)));
    }
    return calls;
}

// I/O threads as http::Server has them: one io_context each, run by one thread.
class IoThreads {
  public:
    explicit IoThreads(std::size_t count) {
        for (std::size_t i = 0; i < count; ++i) {
            auto context = std::make_unique<boost::asio::io_context>(1);
            guards_.emplace_back(context->get_executor());
            threads_.emplace_back([context = context.get()] { context->run(); });
            contexts_.push_back(std::move(context));
        }
    }
    IoThreads(const IoThreads&) = delete;
    IoThreads& operator=(const IoThreads&) = delete;
    // Stops the threads, then destroys the contexts, which closes their connections.
    ~IoThreads() {
        for (auto& context : contexts_) context->stop();
        for (auto& thread : threads_) thread.join();
    }

    [[nodiscard]] std::size_t size() const { return contexts_.size(); }

    // Starts `decide` on thread `index`'s event loop.
    std::future<Decision> start(std::size_t index, RateLimiter& limiter, const Policy& policy,
                                std::string_view key) {
        return boost::asio::co_spawn(*contexts_[index % contexts_.size()],
                                     limiter.decide(policy, key, obs::Span::off()), boost::asio::use_future);
    }

  private:
    std::vector<std::unique_ptr<boost::asio::io_context>> contexts_;
    std::vector<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> guards_;
    std::vector<std::thread> threads_;
};

// How many connections the `rampart` ACL user holds, from CLIENT LIST.
int rampartConnections(RedisServer& server) {
    redis::ClientHost inspector{redis::parseRedisUrl(server.testUrl()), fastOptions()};
    std::vector<std::string> list{"CLIENT", "LIST"};
    const auto reply = runToCompletion(inspector.client().command(std::move(list)));
    std::istringstream lines(reply.text);
    int count = 0;
    for (std::string line; std::getline(lines, line);)
        if (line.find(" user=rampart ") != std::string::npos) ++count;
    return count;
}

class PerThreadRedisLimiterTest : public ::testing::Test {
  protected:
    RedisServer server_;
    IoThreads threads_{4};
};

// Five keys with quotas 10..50, twice as many requests as each quota, all in flight at once from four I/O
// threads: each key lets exactly its quota through, and the allowed answers' `remaining` are exactly
// quota-1 .. 0, once each, so no reply answered another key's request or another's turn.
TEST_F(PerThreadRedisLimiterTest, ExactAcrossIoThreadsAndEachReplyAnswersItsRequest) {
    RedisLimiter limiter(redis::parseRedisUrl(server_.url()), fastOptions(), "rampart:rl:test:");
    std::vector<Policy> policies;
    for (std::uint64_t quota = 10; quota <= 50; quota += 10)
        policies.push_back(Policy{"q" + std::to_string(quota), Rate{quota, std::chrono::hours(1)}});
    std::vector<std::vector<std::future<Decision>>> outcomes(policies.size());
    std::size_t next = 0;
    for (std::size_t round = 0; round < 100; ++round)
        for (std::size_t p = 0; p < policies.size(); ++p)
            if (round < 2 * policies[p].rate.requests)
                outcomes[p].push_back(threads_.start(next++, limiter, policies[p], "shared"));
    for (std::size_t p = 0; p < policies.size(); ++p) {
        SCOPED_TRACE(policies[p].name);
        std::vector<std::uint64_t> remaining;
        for (auto& outcome : outcomes[p]) {
            const Decision decision = outcome.get();
            if (decision.allowed) {
                remaining.push_back(decision.remaining);
            } else {
                EXPECT_EQ(decision.remaining, 0u);
                EXPECT_GT(decision.retryAfter, std::chrono::seconds(60));
            }
        }
        std::sort(remaining.begin(), remaining.end());
        std::vector<std::uint64_t> expected(policies[p].rate.requests);
        for (std::size_t i = 0; i < expected.size(); ++i) expected[i] = i;
        EXPECT_EQ(remaining, expected);
    }
    // One connection per I/O thread, none shared.
    EXPECT_EQ(rampartConnections(server_), 4);
}

// A quota of 1,000 a day, asked for by one thread until refused: leases (at most 10 at once, a hundredth)
// take far fewer script calls than decisions, and exactly the quota is allowed, no more: the requests a
// thread leased and did not spend before its lease lapsed are given back in its next call, not lost.
TEST_F(PerThreadRedisLimiterTest, LeasesTakeFewerCallsAndGiveBackWhatTheyDidNotSpend) {
    RedisLimiter limiter(redis::parseRedisUrl(server_.url()), fastOptions(), "rampart:rl:test:");
    const Policy policy{"user", Rate{1000, std::chrono::hours(24)}};
    ASSERT_TRUE(threads_.start(0, limiter, policy, "warm").get().allowed);  // the script loaded
    const long callsBefore = scriptCalls(server_);
    int allowed = 0;
    for (int i = 0; i < 990; ++i)
        if (threads_.start(0, limiter, policy, "alice").get().allowed) ++allowed;
    ASSERT_EQ(allowed, 990);
    const long calls = scriptCalls(server_) - callsBefore;
    EXPECT_LT(calls, 990 / 5) << "leases of up to 10: about one call per 10 decisions";
    // Leases of 1, 2, 4, 8, then 10: the thread holds 5 unspent. The lease lapses, and the next call
    // gives them back.
    std::this_thread::sleep_for(RedisLimiter::kLeaseLife + 50ms);
    for (int i = 0; i < 100; ++i) {
        const Decision decision = threads_.start(0, limiter, policy, "alice").get();
        if (!decision.allowed) {
            EXPECT_EQ(decision.remaining, 0u);
            EXPECT_GT(decision.retryAfter, 60s) << "one request a 86.4 s";
            break;
        }
        ++allowed;
    }
    EXPECT_EQ(allowed, 1000);
}

// A key asked for less often than a lease lives is decided by Redis every time: its lease shrinks to
// what was spent (one), so nothing is held back from other threads and nodes.
TEST_F(PerThreadRedisLimiterTest, AKeyUsedLessOftenThanALeaseLivesIsDecidedByRedisEachTime) {
    RedisLimiter limiter(redis::parseRedisUrl(server_.url()), fastOptions(), "rampart:rl:test:");
    const Policy policy{"user", Rate{1000, std::chrono::hours(24)}};
    for (int i = 0; i < 3; ++i) ASSERT_TRUE(threads_.start(0, limiter, policy, "slow").get().allowed);
    std::this_thread::sleep_for(RedisLimiter::kLeaseLife + 20ms);
    ASSERT_TRUE(threads_.start(0, limiter, policy, "slow").get().allowed);
    const long callsBefore = scriptCalls(server_);
    for (int i = 0; i < 3; ++i) {
        std::this_thread::sleep_for(RedisLimiter::kLeaseLife + 20ms);
        const Decision decision = threads_.start(0, limiter, policy, "slow").get();
        ASSERT_TRUE(decision.allowed);
        EXPECT_EQ(decision.remaining, 1000u - 5 - i) << "every allowed request counted once";
    }
    EXPECT_EQ(scriptCalls(server_) - callsBefore, 3);
}

// Quotas under 200 (login, the anonymous default) are never leased: every decision is Redis's.
TEST_F(PerThreadRedisLimiterTest, SmallQuotasAreDecidedByRedisEveryTime) {
    RedisLimiter limiter(redis::parseRedisUrl(server_.url()), fastOptions(), "rampart:rl:test:");
    const Policy policy{"login", Rate{199, std::chrono::hours(1)}};
    ASSERT_TRUE(threads_.start(0, limiter, policy, "warm").get().allowed);  // the script loaded
    const long callsBefore = scriptCalls(server_);
    for (int i = 0; i < 50; ++i)
        EXPECT_EQ(threads_.start(0, limiter, policy, "alice").get().remaining, 198u - i);
    EXPECT_EQ(scriptCalls(server_) - callsBefore, 50);
}

// Two nodes (two limiters, each with its connection and leases per I/O thread) on four threads, three
// times the quota asked for at once: never more than the quota is allowed, and at most what the eight
// (node, thread) pairs can hold unspent (a lease of at most 10 each) less.
TEST_F(PerThreadRedisLimiterTest, LeasesNeverAllowMoreThanTheQuotaAcrossNodesAndThreads) {
    RedisLimiter nodeA(redis::parseRedisUrl(server_.url()), fastOptions(), "rampart:rl:test:");
    RedisLimiter nodeB(redis::parseRedisUrl(server_.url()), fastOptions(), "rampart:rl:test:");
    const Policy policy{"user", Rate{1000, std::chrono::hours(24)}};
    int allowed = 0;
    for (int wave = 0; wave < 30; ++wave) {
        std::vector<std::future<Decision>> outcomes;
        for (std::size_t i = 0; i < 100; ++i)
            outcomes.push_back(threads_.start(i, i % 2 == 0 ? nodeA : nodeB, policy, "shared"));
        for (auto& outcome : outcomes)
            if (outcome.get().allowed) ++allowed;
    }
    EXPECT_LE(allowed, 1000);
    EXPECT_GE(allowed, 1000 - 8 * 10);
}

// Redis stops answering (SIGSTOP) with decisions from two threads in flight on their connections: each
// request gets exactly one answer, from the in-memory fallback (which then holds the quota across both
// threads), within the command timeout; when Redis answers again, decisions are Redis's again.
TEST_F(PerThreadRedisLimiterTest, AStalledRedisFallsBackOnceForEveryRequestInFlight) {
    auto options = fastOptions();
    options.commandTimeout = 300ms;
    FallbackLimiter limiter(
        std::make_shared<RedisLimiter>(redis::parseRedisUrl(server_.url()), options, "rampart:rl:test:"),
        std::make_shared<MemoryLimiter>(), false, nullptr, 200ms);
    const Policy warm{"warm", Rate{1000, std::chrono::hours(1)}};
    for (std::size_t t = 0; t < threads_.size(); ++t)
        ASSERT_TRUE(threads_.start(t, limiter, warm, "w").get().allowed);
    ASSERT_FALSE(limiter.degraded());

    server_.pause();
    const Policy stalled{"stalled", Rate{5, std::chrono::hours(1)}};
    std::vector<std::future<Decision>> outcomes;
    for (std::size_t i = 0; i < 40; ++i) outcomes.push_back(threads_.start(i, limiter, stalled, "k"));
    int allowed = 0;
    for (auto& outcome : outcomes) {
        ASSERT_EQ(outcome.wait_for(5s), std::future_status::ready);
        if (outcome.get().allowed) ++allowed;
    }
    EXPECT_EQ(allowed, 5);  // the fallback's one quota, not one per thread or per reconnect
    EXPECT_TRUE(limiter.degraded());

    server_.resume();
    std::this_thread::sleep_for(250ms);  // the fallback's retry delay
    const Policy after{"after", Rate{3, std::chrono::hours(1)}};
    allowed = 0;
    for (std::size_t i = 0; i < 8; ++i)
        if (threads_.start(i, limiter, after, "k").get().allowed) ++allowed;
    EXPECT_EQ(allowed, 3);
    EXPECT_FALSE(limiter.degraded());
    // Redis decided: the key is there.
    redis::ClientHost inspector{redis::parseRedisUrl(server_.testUrl()), fastOptions()};
    std::vector<std::string> get{"EXISTS", "rampart:rl:test:after:k"};
    EXPECT_EQ(runToCompletion(inspector.client().command(std::move(get))).integer, 1);
}

}  // namespace
}  // namespace rampart::ratelimit
