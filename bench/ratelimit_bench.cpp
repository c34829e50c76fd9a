// Micro-benchmark of the in-memory rate limiter: decisions per second on one and two threads, over one
// hot key per thread and over many keys (half the default key bound), and past the bound. Run
// build/rampart_bench_ratelimit.
#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "ratelimit/memory_limiter.hpp"

namespace {

using rampart::ratelimit::MemoryLimiter;
using rampart::ratelimit::Policy;
using rampart::ratelimit::Rate;

// A quota no benchmark exhausts, so every decision takes the allowed path (the one that writes).
const Policy kPolicy{"user", Rate{1'000'000'000, std::chrono::hours(24 * 30)}};

MemoryLimiter& sharedLimiter() {
    static MemoryLimiter limiter({.maxKeys = 100'000});
    return limiter;
}

const std::vector<std::string>& keys() {
    static const std::vector<std::string> all = [] {
        std::vector<std::string> made;
        for (int i = 0; i < 100'000; ++i) made.push_back("u:user-" + std::to_string(i) + "-0123456789abcdef");
        return made;
    }();
    return all;
}

void oneKey(benchmark::State& state) {
    MemoryLimiter& limiter = sharedLimiter();
    // Each thread its own key, as each caller has.
    const std::string key = "u:hot-" + std::to_string(state.thread_index());
    for (auto _ : state) benchmark::DoNotOptimize(limiter.decideNow(kPolicy, key));
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(oneKey)->Threads(1)->Threads(2)->UseRealTime();

// Half as many callers as the default key bound (100,000): the map is large, nothing is evicted.
void manyKeys(benchmark::State& state) {
    MemoryLimiter& limiter = sharedLimiter();
    const auto& all = keys();
    constexpr std::size_t kCallers = 50'000;
    std::size_t i = static_cast<std::size_t>(state.thread_index()) * 7919;
    for (auto _ : state) {
        benchmark::DoNotOptimize(limiter.decideNow(kPolicy, all[i % kCallers]));
        i += 13;
    }
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(manyKeys)->Threads(1)->Threads(2)->UseRealTime();

// Twice the key bound: every decision for a new key finds its shard full of live keys and evicts.
void keysBeyondTheBound(benchmark::State& state) {
    static MemoryLimiter small({.maxKeys = 50'000});
    const auto& all = keys();
    std::size_t i = static_cast<std::size_t>(state.thread_index()) * 7919;
    for (auto _ : state) {
        benchmark::DoNotOptimize(small.decideNow(kPolicy, all[i % all.size()]));
        i += 13;
    }
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(keysBeyondTheBound)->Threads(1)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
