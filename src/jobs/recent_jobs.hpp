// RecentJobs: jobs read a moment ago, so that many readers of one job (clients polling it, a dashboard,
// a status page) cost one store read between its changes instead of one each.
//
// An entry answers only while the store's local write stamp (store::JobStore::localWriteStamp) is the
// one taken before it was read, so no write this process committed since can be missing from it: a
// client that changed a job through this server reads the change next. Other processes' writes (a
// `rampart worker` sharing the SQLite file, another node) cannot bump the stamp, so an entry also ends
// kMaxAge after its read began: that bounds how late their changes show.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string_view>

#include "store/job_store.hpp"

namespace rampart::jobs {

class RecentJobs {
  public:
    using Clock = std::chrono::steady_clock;
    static constexpr std::chrono::microseconds kMaxAge{1000};
    // A fixed table, one job per slot (a newer read of another job in the slot replaces it), and only
    // jobs whose payloads are small: at most kSlots × kMaxPayloadBytes of plaintext stay in memory.
    static constexpr std::size_t kSlots = 256;
    static constexpr std::size_t kMaxPayloadBytes = 8 * 1024;

    // The job kept for id, if it was read at `stamp` less than kMaxAge before `now`.
    [[nodiscard]] std::shared_ptr<const store::JobRecord> find(std::string_view id, std::uint64_t stamp,
                                                               Clock::time_point now) const;
    // Keeps a job read with `stamp` taken and the read begun at readAt (both before the read started).
    void keep(const store::JobRecord& job, std::uint64_t stamp, Clock::time_point readAt);

  private:
    struct Slot {
        mutable std::mutex mutex;
        std::shared_ptr<const store::JobRecord> job;
        std::uint64_t stamp = 0;
        Clock::time_point readAt{};
    };
    [[nodiscard]] static std::size_t slotOf(std::string_view id);

    std::array<Slot, kSlots> slots_;
};

}  // namespace rampart::jobs
