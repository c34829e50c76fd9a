// The actions on jobs that matter are in the audit log, through the real binary: a user canceling their
// own job, an admin canceling another user's (the event names that user as the owner), pausing and
// resuming a queue, retrying a dead job. Each event says who, what, from which address and in which
// request. Submits stay in the job history, not the audit log.
#include <chrono>
#include <thread>

#include <gtest/gtest.h>
#include <boost/json.hpp>

#include "api_client.hpp"

namespace rampart::testing {
namespace {

namespace json = boost::json;

class JobAuditTest : public ::testing::Test {
  protected:
    void SetUp() override {
        secrets_ = {std::string(kAdminPassword), std::string(kUserPassword), std::string(kSecretKey)};
        server_.start({}, apiServerEnvironment(dir_));
        admin_ = login("admin");
        adminId_ = str(parse(call("GET", "/api/v1/me", admin_)), "id");
        aliceId_ = createUser("alice");
        bobId_ = createUser("bob");
        alice_ = login("alice");
        bob_ = login("bob");
    }
    void TearDown() override {
        server_.stop();
        expectNoSecretsIn(server_, secrets_);
    }

    Response call(std::string_view method, std::string_view target, const std::string& bearer,
                  std::string_view body = {}, const std::string& requestId = {}) {
        Headers headers;
        if (!requestId.empty()) headers.emplace_back("X-Request-ID", requestId);
        return apiCall(server_.port(), method, target, bearer, body, headers);
    }
    std::string login(std::string_view username) {
        const std::string_view password = username == "admin" ? kAdminPassword : kUserPassword;
        auto r = call("POST", "/api/v1/auth/login", {},
                      json::serialize(json::object{{"username", username}, {"password", password}}));
        EXPECT_EQ(r.status, 200) << r.body;
        secrets_.push_back(str(parse(r), "access_token"));
        secrets_.push_back(str(parse(r), "refresh_token"));
        return str(parse(r), "access_token");
    }
    std::string createUser(std::string_view username) {
        auto r = call("POST", "/api/v1/users", admin_,
                      json::serialize(json::object{{"username", username}, {"password", kUserPassword}}));
        EXPECT_EQ(r.status, 201) << r.body;
        return str(parse(r), "id");
    }
    std::string submit(const std::string& bearer) {
        auto r = call("POST", "/api/v1/jobs", bearer, R"({"task": "noop"})");
        EXPECT_EQ(r.status, 201) << r.body;
        return str(parse(r), "id");
    }
    json::array audit(std::string_view action) {
        auto r = call("GET", "/api/v1/audit?limit=500&action=" + std::string(action), admin_);
        EXPECT_EQ(r.status, 200) << r.body;
        return parse(r).at("items").as_array();
    }
    static const json::object* withTarget(const json::array& events, const std::string& target) {
        for (const auto& event : events)
            if (str(event.as_object(), "target") == target) return &event.as_object();
        return nullptr;
    }

    TempDir dir_;
    ServerProcess server_;
    std::vector<std::string> secrets_;
    std::string admin_, alice_, bob_;
    std::string adminId_, aliceId_, bobId_;
};

TEST_F(JobAuditTest, CancelsPausesAndResumesAreAuditedWithWhoWhatAndWhence) {
    ASSERT_FALSE(adminId_.empty());
    // Paused, so that the jobs wait to be canceled.
    ASSERT_EQ(call("POST", "/api/v1/queues/default/pause", admin_, {}, "req-pause-1").status, 200);
    const std::string alicesJob = submit(alice_);
    const std::string bobsJob = submit(bob_);

    auto own = call("POST", "/api/v1/jobs/" + alicesJob + "/cancel", alice_, {}, "req-cancel-own");
    ASSERT_EQ(own.status, 200) << own.body;
    EXPECT_EQ(str(parse(own), "state"), "canceled");
    EXPECT_EQ(call("POST", "/api/v1/jobs/" + bobsJob + "/cancel", alice_).status, 404) << "not alice's";
    auto other = call("POST", "/api/v1/jobs/" + bobsJob + "/cancel", admin_, {}, "req-cancel-other");
    ASSERT_EQ(other.status, 200) << other.body;
    ASSERT_EQ(call("POST", "/api/v1/queues/default/resume", admin_, {}, "req-resume-1").status, 200);

    const auto cancels = audit("job.cancel");
    EXPECT_EQ(cancels.size(), 2u) << "the refused cancel changed nothing";
    const json::object* byAlice = withTarget(cancels, "job:" + alicesJob);
    ASSERT_NE(byAlice, nullptr);
    EXPECT_EQ(str(*byAlice, "actor"), aliceId_);
    EXPECT_EQ(str(*byAlice, "client"), "127.0.0.1");
    EXPECT_EQ(str(*byAlice, "request_id"), "req-cancel-own");
    EXPECT_EQ(str(*byAlice, "outcome"), "success");
    EXPECT_EQ(str(byAlice->at("details").as_object(), "queue"), "default");
    EXPECT_EQ(str(byAlice->at("details").as_object(), "state"), "canceled");
    EXPECT_FALSE(byAlice->at("details").as_object().contains("owner")) << "her own job";
    EXPECT_FALSE(byAlice->at("details").as_object().contains("args")) << "arguments stay out";

    const json::object* byAdmin = withTarget(cancels, "job:" + bobsJob);
    ASSERT_NE(byAdmin, nullptr);
    EXPECT_EQ(str(*byAdmin, "actor"), adminId_);
    EXPECT_EQ(str(byAdmin->at("details").as_object(), "owner"), bobId_) << "another user's job";
    EXPECT_EQ(str(*byAdmin, "client"), "127.0.0.1");
    EXPECT_EQ(str(*byAdmin, "request_id"), "req-cancel-other");

    for (const auto& [action, requestId] :
         {std::pair{"queue.pause", "req-pause-1"}, std::pair{"queue.resume", "req-resume-1"}}) {
        const auto events = audit(action);
        ASSERT_EQ(events.size(), 1u) << action;
        const auto& event = events[0].as_object();
        EXPECT_EQ(str(event, "actor"), adminId_) << action;
        EXPECT_EQ(str(event, "target"), "queue:default") << action;
        EXPECT_EQ(str(event, "client"), "127.0.0.1") << action;
        EXPECT_EQ(str(event, "request_id"), requestId) << action;
    }

    // Submits are in the jobs' histories, not in the audit log.
    const auto all = parse(call("GET", "/api/v1/audit?limit=500", admin_));
    for (const auto& event : all.at("items").as_array()) {
        const std::string target = str(event.as_object(), "target");
        if (target.starts_with("job:")) {
            EXPECT_EQ(str(event.as_object(), "action"), "job.cancel");
        }
    }
}

// A retry through the real binary: a dead job (its one attempt timed out) is the owner's or an admin's to
// run again, never another user's or an auditor's; it runs again and the audit log says who asked.
TEST_F(JobAuditTest, ADeadJobIsRetriedByItsOwnerOnlyAndTheRetryIsAudited) {
    auto submitted =
        call("POST", "/api/v1/jobs", alice_,
             R"({"task": "sleep", "args": {"seconds": 3}, "timeout_seconds": 1, "max_attempts": 1})");
    ASSERT_EQ(submitted.status, 201) << submitted.body;
    const std::string id = str(parse(submitted), "id");
    const std::string target = "/api/v1/jobs/" + id;
    std::string state;
    for (int i = 0; i < 100 && state != "dead"; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        state = str(parse(call("GET", target, alice_)), "state");
    }
    ASSERT_EQ(state, "dead");

    auto created = call("POST", "/api/v1/users", admin_,
                        json::serialize(json::object{
                            {"username", "carol"}, {"password", kUserPassword}, {"role", "auditor"}}));
    ASSERT_EQ(created.status, 201) << created.body;
    const std::string carol = login("carol");
    EXPECT_EQ(call("POST", target + "/retry", bob_).status, 404) << "not bob's: it does not exist for him";
    EXPECT_EQ(call("POST", target + "/retry", carol).status, 403) << "auditors change nothing";
    auto own = call("POST", target + "/retry", alice_);
    ASSERT_EQ(own.status, 200) << own.body;
    EXPECT_EQ(str(parse(own), "state"), "queued");
    EXPECT_EQ(parse(own).at("max_attempts").as_int64(), 2) << "one more attempt than it had";
    auto again = call("POST", target + "/retry", alice_);
    EXPECT_EQ(again.status, 409) << again.body;
    EXPECT_NE(again.body.find("job-not-retryable"), std::string::npos) << again.body;
    // It runs again: its second attempt times out as its first did, and it is dead once more.
    state.clear();
    for (int i = 0; i < 100 && state != "dead"; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        state = str(parse(call("GET", target, alice_)), "state");
    }
    EXPECT_EQ(state, "dead");
    EXPECT_EQ(parse(call("GET", target, alice_)).at("attempts").as_int64(), 2);

    auto admins = call("POST", target + "/retry", admin_, {}, "req-retry-admin");
    ASSERT_EQ(admins.status, 200) << admins.body;
    const auto retries = audit("job.retry");
    ASSERT_EQ(retries.size(), 2u) << "the refused retries changed nothing";
    for (const auto& event : retries) {
        const auto& record = event.as_object();
        EXPECT_EQ(str(record, "target"), "job:" + id);
        EXPECT_EQ(str(record.at("details").as_object(), "from"), "dead");
        EXPECT_FALSE(record.at("details").as_object().contains("args")) << "arguments stay out";
        if (str(record, "actor") == adminId_) {
            EXPECT_EQ(str(record.at("details").as_object(), "owner"), aliceId_);
            EXPECT_EQ(str(record, "request_id"), "req-retry-admin");
        } else {
            EXPECT_EQ(str(record, "actor"), aliceId_);
            EXPECT_FALSE(record.at("details").as_object().contains("owner")) << "her own job";
        }
    }
}

}  // namespace
}  // namespace rampart::testing
