// The outage policy around the shared limiter: fall back to memory (counted, and the shared limiter left
// alone for a while), or refuse every decision with fail_closed; back to the shared limiter once it answers.
#include "ratelimit/fallback_limiter.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "obs/metrics.hpp"
#include "testing/run_to_completion.hpp"

namespace rampart::ratelimit {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;

// Stands in for Redis: answers (always "allowed, 42 left") while up, throws while down.
class FakeShared : public RateLimiter {
  public:
    std::optional<Decision> tryDecide(const Policy&, std::string_view) override { return std::nullopt; }
    boost::asio::awaitable<Decision> decide(const Policy&, std::string_view, const obs::Span&) override {
        ++calls;
        if (down) throw LimiterUnavailable("connection refused");
        co_return Decision{.allowed = true, .remaining = 42};
    }
    bool down = false;
    int calls = 0;
};

class FallbackLimiterTest : public ::testing::Test {
  protected:
    FallbackLimiter make(bool failClosed) {
        return FallbackLimiter(shared_, memory_, failClosed, &rateLimitMetrics_, 1s, [this] { return now_; });
    }
    // As the rate-limit stage asks: at once if possible, else awaited.
    Decision ask(FallbackLimiter& limiter) {
        if (auto now = limiter.tryDecide(policy_, "k")) return *now;
        return testing::runToCompletion(limiter.decide(policy_, "k", obs::Span::off()));
    }

    std::int64_t now_ = 1'000'000'000'000;
    std::shared_ptr<FakeShared> shared_ = std::make_shared<FakeShared>();
    std::shared_ptr<MemoryLimiter> memory_ =
        std::make_shared<MemoryLimiter>(MemoryLimiterOptions{.clock = [this] { return now_; }});
    obs::Metrics metrics_;
    obs::RateLimitMetrics rateLimitMetrics_{metrics_};
    const Policy policy_{"user", Rate{2, std::chrono::minutes(1)}};
};

TEST_F(FallbackLimiterTest, TheSharedLimiterDecidesWhileItAnswers) {
    auto limiter = make(false);
    for (int i = 0; i < 5; ++i) EXPECT_EQ(ask(limiter).remaining, 42u);
    EXPECT_EQ(shared_->calls, 5);
    EXPECT_FALSE(limiter.degraded());
}

TEST_F(FallbackLimiterTest, AnOutageFallsBackToMemoryWhichStillLimits) {
    auto limiter = make(false);
    shared_->down = true;
    EXPECT_TRUE(ask(limiter).allowed);
    EXPECT_TRUE(limiter.degraded());
    // Within the retry interval the shared limiter is not even asked, and memory keeps the limit.
    EXPECT_TRUE(ask(limiter).allowed);
    EXPECT_FALSE(ask(limiter).allowed);
    EXPECT_EQ(shared_->calls, 1);
    const std::string text = metrics_.render();
    EXPECT_THAT(text, HasSubstr("rampart_rate_limit_fallback_active 1"));
    EXPECT_THAT(text, HasSubstr("rampart_rate_limit_backend_failures_total{outcome=\"fallback\"} 3"));

    // Once the interval has passed it is asked again; when it answers, it decides again.
    now_ += 1'000'000'001;
    shared_->down = false;
    EXPECT_EQ(ask(limiter).remaining, 42u);
    EXPECT_FALSE(limiter.degraded());
    EXPECT_THAT(metrics_.render(), HasSubstr("rampart_rate_limit_fallback_active 0"));
}

TEST_F(FallbackLimiterTest, FailClosedRefusesEveryDecisionDuringTheOutage) {
    auto limiter = make(true);
    shared_->down = true;
    EXPECT_THROW(ask(limiter), LimiterUnavailable);
    EXPECT_THROW(ask(limiter), LimiterUnavailable);  // known down: refused without asking
    EXPECT_EQ(shared_->calls, 1);
    EXPECT_THAT(metrics_.render(),
                HasSubstr("rampart_rate_limit_backend_failures_total{outcome=\"refused\"} 2"));
    now_ += 2'000'000'000;
    shared_->down = false;
    EXPECT_EQ(ask(limiter).remaining, 42u);
}

}  // namespace
}  // namespace rampart::ratelimit
