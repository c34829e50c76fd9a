// Runs one awaitable to completion on a fresh io_context driven by the calling thread (for tests).
#pragma once

#include "core/run_blocking.hpp"

namespace rampart::testing {

template <class T>
T runToCompletion(boost::asio::awaitable<T> work) {
    return runBlocking(std::move(work));
}

}  // namespace rampart::testing
