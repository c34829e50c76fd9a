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

// GET /api/v1/jobs/{id} writes the document without a tree: it must be the tree's bytes for every shape
// of job (nulls and values, text to escape, fractional timeouts, results, a finished job).
TEST(JobJson, TextIsTheSerializedDocument) {
    store::JobRecord job{.id = "j1", .task = "noop", .args = "{}", .queue = "default", .timeoutMs = 10'000};
    EXPECT_EQ(jobJsonText(job), boost::json::serialize(jobJson(job)));

    job.args = R"({"text":"quote \" and \\ and \u00e9 and \n","n":[1,2.5,-3e-7,null,true]})";
    job.priority = -7;
    job.state = jobs::JobState::failed;
    job.attempts = 3;
    job.maxAttempts = 5;
    job.runAt = 1'700'000'000'123;
    job.timeoutMs = 1'500;
    job.ownerId = "owner\twith tab";
    job.idempotencyKey = "key \"quoted\"";
    job.progress = 42;
    job.progressMessage = "half\x01way";
    job.result = R"({"ok":false,"big":12345678901234})";
    job.error = "boom\r\n";
    job.cancelRequested = true;
    job.created = 1'700'000'000'000;
    job.updated = 1'700'000'000'999;
    job.finished = 1'700'000'001'000;
    EXPECT_EQ(jobJsonText(job), boost::json::serialize(jobJson(job)));
    EXPECT_NE(jobJsonText(job).find(R"("finished":"2023-11-14T22:13:21)"), std::string::npos)
        << jobJsonText(job);

    // Every byte in every string field: the escapes are written directly, and must be the tree's.
    std::string everyByte;
    for (int c = 0; c < 256; ++c) everyByte += static_cast<char>(c);
    job.progressMessage = everyByte + "tail";
    job.error = "\\" + everyByte;
    job.ownerId = everyByte;
    EXPECT_EQ(jobJsonText(job), boost::json::serialize(jobJson(job)));

    job.result = "not json";  // stored text that does not parse shows as null, as in the tree
    job.finished.reset();
    job.idempotencyKey.reset();
    EXPECT_EQ(jobJsonText(job), boost::json::serialize(jobJson(job)));
}

}  // namespace
}  // namespace rampart::api
