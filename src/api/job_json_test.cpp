// A job as the API shows it: numbers a client can read without surprise.
#include "api/job_json.hpp"

#include <gtest/gtest.h>
#include <boost/json/serialize.hpp>

namespace rampart::api {
namespace {

TEST(JobJson, TimeoutsInWholeSecondsAreIntegers) {
    store::JobRecord job{.id = "j1", .task = "noop", .args = "{}", .queue = "default", .timeoutMs = 10'000};
    EXPECT_NE(boost::json::serialize(jobJson(job)).find(R"("timeout_seconds":10,)"), std::string::npos)
        << "not 1E1";
    job.timeoutMs = 1500;
    EXPECT_EQ(jobJson(job).at("timeout_seconds").as_double(), 1.5);
    // The task list (GET /api/v1/tasks) writes its types' timeouts the same way.
    EXPECT_EQ(boost::json::serialize(secondsJson(3'660'000)), "3660");
    EXPECT_EQ(secondsJson(250).as_double(), 0.25);
}

}  // namespace
}  // namespace rampart::api
