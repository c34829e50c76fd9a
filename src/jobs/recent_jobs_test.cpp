// RecentJobs: a kept job answers only under the stamp it was read with and for less than kMaxAge; a
// slot holds one job; large payloads are never kept.
#include "jobs/recent_jobs.hpp"

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

namespace rampart::jobs {
namespace {

using namespace std::chrono_literals;
using Clock = RecentJobs::Clock;

store::JobRecord jobNamed(std::string id, std::string args = "{}") {
    return store::JobRecord{.id = std::move(id), .task = "noop", .args = std::move(args), .queue = "default"};
}

TEST(RecentJobs, AnswersUnderTheSameStampWithinTheAge) {
    RecentJobs recent;
    const auto t0 = Clock::now();
    recent.keep(jobNamed("a"), 7, t0);
    auto kept = recent.find("a", 7, t0 + 100us);
    ASSERT_TRUE(kept);
    EXPECT_EQ(kept->id, "a");
    EXPECT_EQ(kept->args, "{}");
}

TEST(RecentJobs, AWriteCommittedSinceTheReadMakesItStale) {
    RecentJobs recent;
    const auto t0 = Clock::now();
    recent.keep(jobNamed("a"), 7, t0);
    EXPECT_FALSE(recent.find("a", 8, t0)) << "the store's stamp moved: a write may have changed the job";
}

TEST(RecentJobs, NothingOutlivesTheMaximumAge) {
    RecentJobs recent;
    const auto t0 = Clock::now();
    recent.keep(jobNamed("a"), 7, t0);
    EXPECT_TRUE(recent.find("a", 7, t0 + RecentJobs::kMaxAge - 1us));
    EXPECT_FALSE(recent.find("a", 7, t0 + RecentJobs::kMaxAge)) << "another process's writes show by then";
    EXPECT_FALSE(recent.find("a", 7, t0 + 1h));
}

TEST(RecentJobs, AnotherIdNeverAnswersFromASharedSlot) {
    RecentJobs recent;
    const auto t0 = Clock::now();
    recent.keep(jobNamed("a"), 7, t0);
    EXPECT_FALSE(recent.find("b", 7, t0));
    // Fill every slot with other ids: each lands somewhere, and each answers only for itself.
    for (std::size_t i = 0; i < 4 * RecentJobs::kSlots; ++i)
        recent.keep(jobNamed("j" + std::to_string(i)), 7, t0);
    for (std::size_t i = 0; i < 4 * RecentJobs::kSlots; ++i) {
        const std::string id = "j" + std::to_string(i);
        if (auto kept = recent.find(id, 7, t0)) {
            EXPECT_EQ(kept->id, id);
        }
    }
}

TEST(RecentJobs, AnOlderReadDoesNotReplaceANewerOne) {
    RecentJobs recent;
    const auto t0 = Clock::now();
    recent.keep(jobNamed("a", R"({"newer":true})"), 7, t0 + 50us);
    recent.keep(jobNamed("a", R"({"older":true})"), 7, t0);  // a slow read that began first
    auto kept = recent.find("a", 7, t0 + 60us);
    ASSERT_TRUE(kept);
    EXPECT_EQ(kept->args, R"({"newer":true})");
}

// The API's I/O threads read and keep at once: a find never answers for another id, under ThreadSanitizer
// too (make test runs RecentJobs.* there).
TEST(RecentJobs, ThreadsKeepingAndFindingAtOnceEachGetTheJobTheyAskedFor) {
    RecentJobs recent;
    const auto t0 = Clock::now();
    std::atomic<int> wrong{0};
    std::atomic<int> found{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
        threads.emplace_back([&, t] {
            for (int i = 0; i < 20'000; ++i) {
                const std::string id = "job-" + std::to_string((i * 7 + t) % 600);
                if (i % 3 == 0) {
                    recent.keep(jobNamed(id, R"({"i":)" + std::to_string(i) + "}"), 1,
                                t0 + std::chrono::microseconds(i % 50));
                } else if (auto kept = recent.find(id, 1, t0 + 10us)) {
                    ++found;
                    if (kept->id != id) ++wrong;
                }
            }
        });
    }
    for (auto& thread : threads) thread.join();
    EXPECT_EQ(wrong.load(), 0);
    EXPECT_GT(found.load(), 0);
}

TEST(RecentJobs, LargePayloadsAreNotKept) {
    RecentJobs recent;
    const auto t0 = Clock::now();
    store::JobRecord big = jobNamed("big", "\"" + std::string(RecentJobs::kMaxPayloadBytes, 'x') + "\"");
    recent.keep(big, 7, t0);
    EXPECT_FALSE(recent.find("big", 7, t0));
    store::JobRecord bigResult = jobNamed("big-result");
    bigResult.result = std::string(RecentJobs::kMaxPayloadBytes, 'x');
    recent.keep(bigResult, 7, t0);
    EXPECT_FALSE(recent.find("big-result", 7, t0));
}

}  // namespace
}  // namespace rampart::jobs
