// The credential caches' one template: found values are served from memory until the TTL, misses always
// reach the store, and erase/clear make the next read go to the store again.
#include "identity/read_through_cache.hpp"

#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "testing/run_to_completion.hpp"

namespace rampart::identity {
namespace {

using namespace std::chrono_literals;
using testing::runToCompletion;

struct CountingLoad {
    int loads = 0;
    ReadThroughCache<std::string, int>::Load load() {
        return [this](std::string key) -> boost::asio::awaitable<std::optional<int>> {
            ++loads;
            if (key == "missing") co_return std::nullopt;
            co_return static_cast<int>(key.size());
        };
    }
};

TEST(ReadThroughCache, KeepsFoundValuesUntilTheTtlAndNeverKeepsAMiss) {
    CountingLoad store;
    ReadThroughCache<std::string, int> cache(store.load(), 200ms, 10);
    EXPECT_EQ(runToCompletion(cache.get("abc")), 3);
    EXPECT_EQ(runToCompletion(cache.get("abc")), 3);
    EXPECT_EQ(store.loads, 1);
    EXPECT_FALSE(runToCompletion(cache.get("missing")));
    EXPECT_FALSE(runToCompletion(cache.get("missing")));
    EXPECT_EQ(store.loads, 3);
    std::this_thread::sleep_for(250ms);
    EXPECT_EQ(runToCompletion(cache.get("abc")), 3);
    EXPECT_EQ(store.loads, 4);
}

TEST(ReadThroughCache, EraseAndClearSendTheNextReadToTheStore) {
    CountingLoad store;
    ReadThroughCache<std::string, int> cache(store.load(), 10s, 10);
    runToCompletion(cache.get("a"));
    runToCompletion(cache.get("bb"));
    cache.erase("a");
    runToCompletion(cache.get("a"));
    runToCompletion(cache.get("bb"));
    EXPECT_EQ(store.loads, 3);
    cache.clear();
    runToCompletion(cache.get("a"));
    runToCompletion(cache.get("bb"));
    EXPECT_EQ(store.loads, 5);
}

TEST(ReadThroughCache, AFullCacheIsEmptiedNotGrown) {
    CountingLoad store;
    ReadThroughCache<std::string, int> cache(store.load(), 10s, 2);
    runToCompletion(cache.get("a"));
    runToCompletion(cache.get("bb"));
    runToCompletion(cache.get("ccc"));  // full: the first two go
    runToCompletion(cache.get("ccc"));
    EXPECT_EQ(store.loads, 3);
    runToCompletion(cache.get("a"));
    EXPECT_EQ(store.loads, 4);
}

}  // namespace
}  // namespace rampart::identity
