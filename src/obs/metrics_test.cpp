// The job metrics: label values are only the configured queue and task names ("other" for the rest, so
// nothing from outside grows the label set), and each call lands in the series and buckets it should.
#include "obs/metrics.hpp"

#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "testing/metric_values.hpp"

namespace rampart::obs {
namespace {

using rampart::testing::counterValue;
using rampart::testing::histogramValue;
using rampart::testing::seriesCount;
using ::testing::HasSubstr;
using ::testing::Not;

TEST(JobMetrics, UnconfiguredNamesShareTheOtherSeriesSoTheLabelSetStaysBounded) {
    Metrics metrics;
    JobMetrics jobs(metrics, {"default", "emails"}, {"echo", "send"});
    const JobMetrics::Series& echo = jobs.series("default", "echo");
    EXPECT_EQ(&jobs.series("default", "echo"), &echo) << "found again, not made twice";
    const JobMetrics::Series& other = jobs.series("default", "user-42-task");
    for (int i = 0; i < 1000; ++i) {
        const auto& series = jobs.series("default", "task-" + std::to_string(i));
        EXPECT_EQ(&series, &other);
        JobMetrics::attemptEnded(series, JobMetrics::Outcome::succeeded, 0.01);
        const auto& unknown = jobs.series("/queue/" + std::to_string(i), "job-" + std::to_string(i));
        EXPECT_EQ(&unknown, &jobs.series("other", "other"));
    }
    // The only pairs used: (default, echo), (default, other), (other, other).
    EXPECT_EQ(seriesCount(metrics, "rampart_job_run_seconds"), 3u);
    EXPECT_EQ(seriesCount(metrics, "rampart_worker_attempts_total"), 3u * JobMetrics::kOutcomes);
    EXPECT_EQ(counterValue(metrics, "rampart_worker_attempts_total",
                           {{"queue", "default"}, {"task", "other"}, {"outcome", "succeeded"}}),
              1000.0);
    const std::string page = metrics.render();
    EXPECT_THAT(page, Not(HasSubstr("task-1")));
    EXPECT_THAT(page, Not(HasSubstr("/queue/")));
    EXPECT_THAT(page, Not(HasSubstr("user-42")));
}

TEST(JobMetrics, ANameCalledOtherIsNotASecondOtherSeries) {
    Metrics metrics;
    JobMetrics jobs(metrics, {"default", "other"}, {"other", "echo"});
    EXPECT_EQ(&jobs.series("other", "other"), &jobs.series("nope", "nope"));
}

TEST(JobMetrics, EachCallLandsInItsSeries) {
    Metrics metrics;
    JobMetrics jobs(metrics, {"default"}, {"echo", "send"});
    const auto& send = jobs.series("default", "send");
    JobMetrics::attemptStarted(send, 0.003);
    JobMetrics::attemptStarted(send, -2);  // a clock step back: counted as no wait
    JobMetrics::attemptEnded(send, JobMetrics::Outcome::failed, 7200);
    JobMetrics::jobMoved(send, jobs::JobState::failed, 7201);  // a retry follows
    JobMetrics::attemptEnded(send, JobMetrics::Outcome::timedOut, 10);
    JobMetrics::jobMoved(send, jobs::JobState::dead, 9000);
    JobMetrics::attemptEnded(jobs.series("default", "echo"), JobMetrics::Outcome::canceled, 1);
    JobMetrics::jobMoved(jobs.series("default", "echo"), jobs::JobState::canceled, 2);
    JobMetrics::leaseLost(send);

    const prometheus::Labels sendLabels{{"queue", "default"}, {"task", "send"}};
    const prometheus::Labels echoLabels{{"queue", "default"}, {"task", "echo"}};
    auto wait = histogramValue(metrics, "rampart_job_wait_seconds", sendLabels);
    ASSERT_TRUE(wait);
    EXPECT_EQ(wait->count, 2u);
    EXPECT_DOUBLE_EQ(wait->sum, 0.003);
    auto run = histogramValue(metrics, "rampart_job_run_seconds", sendLabels);
    ASSERT_TRUE(run);
    EXPECT_EQ(run->count, 2u);
    EXPECT_DOUBLE_EQ(run->sum, 7210);
    auto endToEnd = histogramValue(metrics, "rampart_job_end_to_end_seconds", sendLabels);
    ASSERT_TRUE(endToEnd);
    EXPECT_EQ(endToEnd->count, 1u) << "only a final state ends the job";
    EXPECT_DOUBLE_EQ(endToEnd->sum, 9000);
    EXPECT_EQ(counterValue(metrics, "rampart_job_retries_total", sendLabels), 1.0);
    EXPECT_EQ(counterValue(metrics, "rampart_job_dead_total", sendLabels), 1.0);
    EXPECT_EQ(counterValue(metrics, "rampart_job_dead_total", echoLabels), 0.0);
    EXPECT_EQ(histogramValue(metrics, "rampart_job_end_to_end_seconds", echoLabels)->count, 1u);
    auto attempts = [&](const char* task, const char* outcome) {
        return counterValue(metrics, "rampart_worker_attempts_total",
                            {{"queue", "default"}, {"task", task}, {"outcome", outcome}});
    };
    EXPECT_EQ(attempts("send", "failed"), 1.0);
    EXPECT_EQ(attempts("send", "timed_out"), 1.0);
    EXPECT_EQ(attempts("send", "succeeded"), 0.0);
    EXPECT_EQ(attempts("echo", "canceled"), 1.0);
    EXPECT_EQ(counterValue(metrics, "rampart_job_leases_lost_total", sendLabels), 1.0);
    EXPECT_EQ(counterValue(metrics, "rampart_job_leases_lost_total", echoLabels), 0.0);

    // Milliseconds to hours: 3 ms falls in the first bucket, 2 h in the one that ends at 7200 s.
    const std::string page = metrics.render();
    EXPECT_THAT(page,
                HasSubstr(R"(rampart_job_wait_seconds_bucket{queue="default",task="send",le="0.005"} 2)"));
    EXPECT_THAT(page,
                HasSubstr(R"(rampart_job_run_seconds_bucket{queue="default",task="send",le="3600"} 1)"));
    EXPECT_THAT(page,
                HasSubstr(R"(rampart_job_run_seconds_bucket{queue="default",task="send",le="7200"} 2)"));
    EXPECT_THAT(page,
                HasSubstr(R"(rampart_job_run_seconds_bucket{queue="default",task="send",le="14400"} 2)"));
}

}  // namespace
}  // namespace rampart::obs
