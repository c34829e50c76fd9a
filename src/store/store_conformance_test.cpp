// The Store contract, written only against the interface and run once per backend. PostgreSQL
// joins kBackends when it exists; every backend must pass every test here.
#include <functional>
#include <memory>
#include <string>

#include <gtest/gtest.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>

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

INSTANTIATE_TEST_SUITE_P(Backends, StoreConformance, ::testing::ValuesIn(kBackends),
                         [](const ::testing::TestParamInfo<Backend>& info) { return info.param.name; });

}  // namespace
}  // namespace rampart::store
