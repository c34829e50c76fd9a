// The Store contract, written only against the interface and run once per backend. PostgreSQL
// joins kBackends when it exists; every backend must pass every test here.
#include <functional>
#include <future>
#include <memory>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include "testing/run_to_completion.hpp"

#include "store/store.hpp"
#include "testing/temp_directory.hpp"

namespace rampart::store {
namespace {

struct Backend {
    std::string name;
    // Opens a fresh, empty database of this backend; scratch is a private directory for its files.
    std::function<std::unique_ptr<Store>(const std::filesystem::path& scratch)> open;
};

const Backend kBackends[] = {
    {"Sqlite",
     [](const std::filesystem::path& scratch) {
         return openStore(SecretString("sqlite://" + (scratch / "conformance.db").string()));
     }},
};

using namespace std::chrono_literals;

using rampart::testing::runToCompletion;

// A fixed time, so filters by time are exact.
const std::chrono::system_clock::time_point kT0 =
    std::chrono::sys_days{std::chrono::year{2024} / 5 / 1} + 12h + 123456us;

obs::AuditEvent auditEvent(std::string action, std::string actor, std::string outcome,
                           std::chrono::system_clock::time_point time = kT0) {
    return obs::AuditEvent{.time = time,
                           .action = std::move(action),
                           .actor = std::move(actor),
                           .client = "192.0.2.1",
                           .requestId = "req",
                           .target = "job-1",
                           .outcome = std::move(outcome),
                           .details = {{"n", 1}}};
}

std::vector<std::int64_t> idsOf(const std::vector<obs::AuditRecord>& records) {
    std::vector<std::int64_t> ids;
    for (const auto& record : records) ids.push_back(record.id);
    return ids;
}

bool pingFromIoContext(Store& store) {
    boost::asio::io_context io;
    auto result = boost::asio::co_spawn(io, store.ping(), boost::asio::use_future);
    io.run();
    return result.get();
}

class StoreConformance : public ::testing::TestWithParam<Backend> {
  protected:
    void SetUp() override { store_ = GetParam().open(scratch_.path()); }
    void TearDown() override {
        if (store_) store_->close();
    }

    rampart::testing::TempDirectory scratch_;
    std::unique_ptr<Store> store_;
};

TEST_P(StoreConformance, FreshDatabaseHasNoSchema) {
    EXPECT_EQ(store_->schemaVersion(), 0);
    EXPECT_GE(store_->latestSchemaVersion(), 1);
}

TEST_P(StoreConformance, MigrateBringsTheSchemaToTheLatestVersionOnce) {
    EXPECT_EQ(store_->migrate(), store_->latestSchemaVersion());
    EXPECT_EQ(store_->schemaVersion(), store_->latestSchemaVersion());
    EXPECT_EQ(store_->migrate(), 0);
    EXPECT_EQ(store_->schemaVersion(), store_->latestSchemaVersion());
}

TEST_P(StoreConformance, PingAnswersWhileOpenAndFailsAfterClose) {
    EXPECT_TRUE(pingFromIoContext(*store_));
    store_->close();
    store_->close();
    EXPECT_FALSE(pingFromIoContext(*store_));
}

TEST_P(StoreConformance, EmptyAuditLogVerifies) {
    store_->migrate();
    const auto result = store_->verifyAudit();
    EXPECT_TRUE(result.ok) << result.problem;
    EXPECT_EQ(result.rows, 0);
    EXPECT_TRUE(runToCompletion(store_->listAudit({})).empty());
}

TEST_P(StoreConformance, AuditEventRoundTripsEveryField) {
    store_->migrate();
    auto event = auditEvent("auth.login", "user-1", "success");
    event.details = {{"method", "password"}, {"nested", {{"list", {1, "two", nullptr}}}}};
    runToCompletion(store_->appendAudit(event));
    const auto records = runToCompletion(store_->listAudit({}));
    ASSERT_EQ(records.size(), 1u);
    EXPECT_EQ(records[0].id, 1);
    const auto& stored = records[0].event;
    EXPECT_EQ(stored.time, event.time);
    EXPECT_EQ(stored.action, event.action);
    EXPECT_EQ(stored.actor, event.actor);
    EXPECT_EQ(stored.client, event.client);
    EXPECT_EQ(stored.requestId, event.requestId);
    EXPECT_EQ(stored.target, event.target);
    EXPECT_EQ(stored.outcome, event.outcome);
    EXPECT_EQ(stored.details, event.details);
}

TEST_P(StoreConformance, ConcurrentAuditAppendsAllLandInOneVerifiedChain) {
    store_->migrate();
    constexpr int kEvents = 60;
    boost::asio::io_context io;
    std::vector<std::future<void>> appended;
    for (int i = 0; i < kEvents; ++i) {
        appended.push_back(boost::asio::co_spawn(
            io, store_->appendAudit(auditEvent("test.concurrent", "user-" + std::to_string(i), "success")),
            boost::asio::use_future));
    }
    // Two threads resume the coroutines, so appends are also awaited from different threads.
    std::thread helper([&io] { io.run(); });
    io.run();
    helper.join();
    for (auto& done : appended) done.get();

    AuditQuery all;
    all.limit = AuditQuery::kMaxAuditPage;
    const auto records = runToCompletion(store_->listAudit(all));
    ASSERT_EQ(records.size(), static_cast<std::size_t>(kEvents));
    std::set<std::string> actors;
    for (std::size_t i = 0; i < records.size(); ++i) {
        if (i > 0) {
            EXPECT_LT(records[i - 1].id, records[i].id);
        }
        actors.insert(records[i].event.actor);
    }
    EXPECT_EQ(actors.size(), static_cast<std::size_t>(kEvents));
    const auto result = store_->verifyAudit();
    EXPECT_TRUE(result.ok) << result.problem;
    EXPECT_EQ(result.rows, kEvents);
}

TEST_P(StoreConformance, AuditListFiltersByActionActorOutcomeAndTime) {
    store_->migrate();
    runToCompletion(store_->appendAudit(auditEvent("auth.login", "alice", "success", kT0)));             // 1
    runToCompletion(store_->appendAudit(auditEvent("auth.login", "bob", "failure", kT0 + 1s)));          // 2
    runToCompletion(store_->appendAudit(auditEvent("job.create", "alice", "success", kT0 + 2s)));        // 3
    runToCompletion(store_->appendAudit(auditEvent("job.cancel", "bob", "denied", kT0 + 3s)));           // 4
    runToCompletion(store_->appendAudit(auditEvent("auth.login", "alice", "failure", kT0 + 4s + 1us)));  // 5

    auto list = [this](AuditQuery query) {
        return idsOf(runToCompletion(store_->listAudit(std::move(query))));
    };
    using Ids = std::vector<std::int64_t>;
    EXPECT_EQ(list({.action = "auth.login"}), (Ids{1, 2, 5}));
    EXPECT_EQ(list({.actor = "alice"}), (Ids{1, 3, 5}));
    EXPECT_EQ(list({.outcome = "failure"}), (Ids{2, 5}));
    EXPECT_EQ(list({.action = "auth.login", .actor = "alice", .outcome = "failure"}), (Ids{5}));
    EXPECT_EQ(list({.action = "nothing"}), Ids{});
    EXPECT_EQ(list({.since = kT0 + 2s}), (Ids{3, 4, 5}));  // inclusive
    EXPECT_EQ(list({.until = kT0 + 2s}), (Ids{1, 2}));     // exclusive
    EXPECT_EQ(list({.since = kT0 + 1s, .until = kT0 + 4s}), (Ids{2, 3, 4}));
    EXPECT_EQ(list({.since = kT0 + 4s + 1us}), (Ids{5}));  // to the microsecond
    // Filter values are bound, never spliced into SQL.
    EXPECT_EQ(list({.actor = "alice' OR '1'='1"}), Ids{});
}

TEST_P(StoreConformance, AuditListPagesByIdCursor) {
    store_->migrate();
    for (int i = 0; i < 7; ++i) {
        runToCompletion(store_->appendAudit(auditEvent(i % 2 ? "odd" : "even", "system", "success")));
    }
    std::vector<std::int64_t> seen;
    std::vector<std::size_t> pageSizes;
    AuditQuery page{.limit = 3};
    for (;;) {
        const auto records = runToCompletion(store_->listAudit(page));
        if (records.empty()) break;
        pageSizes.push_back(records.size());
        for (const auto& record : records) seen.push_back(record.id);
        page.afterId = records.back().id;
    }
    EXPECT_EQ(pageSizes, (std::vector<std::size_t>{3, 3, 1}));
    EXPECT_EQ(seen, (std::vector<std::int64_t>{1, 2, 3, 4, 5, 6, 7}));
    // The cursor combines with filters.
    EXPECT_EQ(idsOf(runToCompletion(store_->listAudit({.action = "even", .afterId = 3, .limit = 1}))),
              (std::vector<std::int64_t>{5}));
}

TEST_P(StoreConformance, AuditListLimitIsBounded) {
    store_->migrate();
    for (int i = 0; i < 3; ++i) runToCompletion(store_->appendAudit(auditEvent("a", "system", "success")));
    EXPECT_THROW(runToCompletion(store_->listAudit({.limit = 0})), std::invalid_argument);
    EXPECT_THROW(runToCompletion(store_->listAudit({.limit = AuditQuery::kMaxAuditPage + 1})),
                 std::invalid_argument);
    EXPECT_THROW(runToCompletion(store_->listAudit({.afterId = -1})), std::invalid_argument);
    EXPECT_EQ(runToCompletion(store_->listAudit({.limit = 1})).size(), 1u);
    EXPECT_EQ(runToCompletion(store_->listAudit({.limit = AuditQuery::kMaxAuditPage})).size(), 3u);
    EXPECT_EQ(AuditQuery{}.limit, 100);
}

INSTANTIATE_TEST_SUITE_P(Backends, StoreConformance, ::testing::ValuesIn(kBackends),
                         [](const ::testing::TestParamInfo<Backend>& info) { return info.param.name; });

}  // namespace
}  // namespace rampart::store
