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

// A revocation that lands while a look-up is on its way to the store: the value the look-up found (from
// before the revocation) is answered once but never kept, so the next read goes to the store again.
TEST(ReadThroughCache, AValueLoadedWhileARevocationRanIsNotKept) {
    int loads = 0;
    ReadThroughCache<std::string, int>* self = nullptr;
    bool revokeDuringLoad = true;
    ReadThroughCache<std::string, int> cache(
        [&](std::string key) -> boost::asio::awaitable<std::optional<int>> {
            ++loads;
            if (revokeDuringLoad) self->clear();  // the revocation, between the store's answer and the put
            co_return static_cast<int>(key.size());
        },
        10s, 10);
    self = &cache;
    EXPECT_EQ(runToCompletion(cache.get("abc")), 3);
    revokeDuringLoad = false;
    EXPECT_EQ(runToCompletion(cache.get("abc")), 3);
    EXPECT_EQ(loads, 2) << "the value loaded during the clear() was kept";
    EXPECT_EQ(runToCompletion(cache.get("abc")), 3);
    EXPECT_EQ(loads, 2) << "a load with no revocation in between is kept as before";
    // The same for erase() of the one key.
    cache.clear();
    revokeDuringLoad = false;
    ReadThroughCache<std::string, int> single(
        [&](std::string key) -> boost::asio::awaitable<std::optional<int>> {
            ++loads;
            if (revokeDuringLoad) self->erase(key);
            co_return 1;
        },
        10s, 10);
    self = &single;
    revokeDuringLoad = true;
    runToCompletion(single.get("k"));
    revokeDuringLoad = false;
    runToCompletion(single.get("k"));
    EXPECT_EQ(loads, 4) << "the value loaded during the erase() was kept";
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
