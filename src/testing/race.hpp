// A race for tests: many awaitables started at once, in a shuffled order, on one io_context that
// several threads drive, so store calls (or anything else) interleave as they would under load. The
// seed is printed with every failure (SCOPED_TRACE) so that an interleaving can be replayed.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <future>
#include <random>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>

namespace rampart::testing {

class Race {
  public:
    explicit Race(std::uint32_t seed) : random_(seed) {}

    // Adds a contender: `make` builds its awaitable when the race starts, and its outcome (or the
    // exception it threw) lands in `slot`, which must outlive run().
    template <class T>
    void add(std::future<T>& slot, std::function<boost::asio::awaitable<T>()> make) {
        starts_.push_back([this, &slot, make = std::move(make)] {
            slot = boost::asio::co_spawn(io_, make(), boost::asio::use_future);
        });
    }

    // Starts every contender in a shuffled order and drives them with `threads` threads until all have
    // finished.
    void run(int threads = 3) {
        std::shuffle(starts_.begin(), starts_.end(), random_);
        for (auto& start : starts_) start();
        std::vector<std::thread> helpers;
        for (int i = 1; i < threads; ++i) helpers.emplace_back([this] { io_.run(); });
        io_.run();
        for (auto& helper : helpers) helper.join();
    }

  private:
    boost::asio::io_context io_;
    std::mt19937 random_;
    std::vector<std::function<void()>> starts_;
};

// A seed for Race: random, unless RAMPART_RACE_SEED replays one.
inline std::uint32_t raceSeed() {
    if (const char* fixed = std::getenv("RAMPART_RACE_SEED"))
        return static_cast<std::uint32_t>(std::stoul(fixed));
    return std::random_device{}();
}

}  // namespace rampart::testing
