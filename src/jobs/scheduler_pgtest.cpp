// Two schedulers (each with its own PostgresStore, as two processes have) racing on one PostgreSQL
// database: one job per tick, none lost, also when both believe they lead.
#include <gtest/gtest.h>

#include "testing/audit_key.hpp"
#include "testing/postgres_server.hpp"
#include "testing/scheduler_fixture.hpp"

namespace rampart::jobs {
namespace {

TEST(SchedulerPostgresTest, TwoSchedulersOnOneDatabaseMakeOneJobPerTick) {
    const std::string url = rampart::testing::freshDatabaseUrl();
    rampart::testing::raceTwoSchedulers(
        [&url] {
            return store::openStore(SecretString(url), {.auditKey = rampart::testing::testAuditKey()});
        },
        false);
}

TEST(SchedulerPostgresTest, TwoSchedulersThatBothBelieveTheyLeadStillMakeOneJobPerTick) {
    const std::string url = rampart::testing::freshDatabaseUrl();
    rampart::testing::raceTwoSchedulers(
        [&url] {
            return store::openStore(SecretString(url), {.auditKey = rampart::testing::testAuditKey()});
        },
        true);
}

}  // namespace
}  // namespace rampart::jobs
