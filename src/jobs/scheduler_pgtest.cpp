// Two schedulers (each with its own PostgresStore, as two processes have) racing on one PostgreSQL
// database: one job per tick, none lost, also when both believe they lead.
#include <gtest/gtest.h>

#include "testing/postgres_server.hpp"
#include "testing/scheduler_fixture.hpp"

namespace rampart::jobs {
namespace {

TEST(SchedulerPostgresTest, TwoSchedulersOnOneDatabaseMakeOneJobPerTick) {
    const std::string url = rampart::testing::freshDatabaseUrl();
    rampart::testing::raceTwoSchedulers([&url] { return store::openStore(SecretString(url)); }, false);
}

TEST(SchedulerPostgresTest, TwoSchedulersThatBothBelieveTheyLeadStillMakeOneJobPerTick) {
    const std::string url = rampart::testing::freshDatabaseUrl();
    rampart::testing::raceTwoSchedulers([&url] { return store::openStore(SecretString(url)); }, true);
}

}  // namespace
}  // namespace rampart::jobs
