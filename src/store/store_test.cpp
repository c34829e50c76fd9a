// openStore: which URLs open which backend, and that its errors never repeat the URL.
#include "store/store.hpp"

#include <stdexcept>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "testing/run_to_completion.hpp"
#include "testing/temp_directory.hpp"

namespace rampart::store {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::ThrowsMessage;

TEST(OpenStore, OpensAnAbsoluteSqlitePathAndCreatesItsDirectory) {
    rampart::testing::TempDirectory dir;
    const auto path = dir.path() / "var" / "rampart.db";
    auto store = openStore(SecretString("sqlite://" + path.string()));  // sqlite:///tmp/...
    ASSERT_NE(store, nullptr);
    EXPECT_TRUE(std::filesystem::exists(path));
    EXPECT_EQ(store->migrate(), store->latestSchemaVersion());
}

TEST(OpenStore, SchemeIsCaseInsensitive) {
    rampart::testing::TempDirectory dir;
    EXPECT_NE(openStore(SecretString("SQLite://" + (dir.path() / "db").string())), nullptr);
}

TEST(OpenStore, PostgresqlOpensLazilyAndItsErrorsNeverQuoteThePassword) {
    for (const auto* url :
         {"postgresql://app:hunter2@127.0.0.1:1/rampart", "postgres://app:hunter2@127.0.0.1:1/r"}) {
        auto store = openStore(SecretString(url));
        ASSERT_NE(store, nullptr) << "nothing connects until the first call";
        EXPECT_FALSE(rampart::testing::runToCompletion(store->ping()));
        EXPECT_THAT([&] { rampart::testing::runToCompletion(store->findJob("x")); },
                    ThrowsMessage<StoreUnavailable>(Not(HasSubstr("hunter2"))));
        EXPECT_THAT([&] { store->migrate(); }, ThrowsMessage<StoreUnavailable>(Not(HasSubstr("hunter2"))));
        store->close();
    }
}

TEST(OpenStore, RejectsOtherSchemesWithoutQuotingTheUrl) {
    for (const auto* url : {"mysql://root:hunter2@db/rampart", "hunter2", "", "file:///tmp/x.db"}) {
        EXPECT_THAT([&] { openStore(SecretString(url)); },
                    ThrowsMessage<std::invalid_argument>(Not(HasSubstr("hunter2"))));
        EXPECT_THAT([&] { openStore(SecretString(url)); },
                    ThrowsMessage<std::invalid_argument>("unsupported database URL scheme"));
    }
}

TEST(OpenStore, SqliteNeedsAFilePath) {
    EXPECT_THROW(openStore(SecretString("sqlite://")), std::invalid_argument);
    EXPECT_THROW(openStore(SecretString("sqlite://:memory:")), std::invalid_argument);
}

}  // namespace
}  // namespace rampart::store
