#include "jobs/recent_jobs.hpp"

#include <functional>
#include <utility>

namespace rampart::jobs {

std::size_t RecentJobs::slotOf(std::string_view id) {
    return std::hash<std::string_view>{}(id) % kSlots;
}

std::shared_ptr<const store::JobRecord> RecentJobs::find(std::string_view id, std::uint64_t stamp,
                                                         Clock::time_point now) const {
    const Slot& slot = slots_[slotOf(id)];
    std::shared_ptr<const store::JobRecord> job;
    {
        const std::lock_guard lock(slot.mutex);
        if (!slot.job || slot.stamp != stamp || now - slot.readAt >= kMaxAge) return nullptr;
        job = slot.job;
    }
    if (job->id != id) return nullptr;
    return job;
}

void RecentJobs::keep(const store::JobRecord& job, std::uint64_t stamp, Clock::time_point readAt) {
    const std::size_t payload = job.args.size() + job.progressMessage.size() +
                                (job.result ? job.result->size() : 0) + (job.error ? job.error->size() : 0);
    if (payload > kMaxPayloadBytes) return;
    auto kept = std::make_shared<const store::JobRecord>(job);
    std::shared_ptr<const store::JobRecord> replaced;  // freed outside the lock
    Slot& slot = slots_[slotOf(job.id)];
    const std::lock_guard lock(slot.mutex);
    // A slower read that began before the kept one does not replace it.
    if (slot.job && slot.job->id == job.id && slot.stamp == stamp && slot.readAt > readAt) return;
    replaced = std::exchange(slot.job, std::move(kept));
    slot.stamp = stamp;
    slot.readAt = readAt;
}

}  // namespace rampart::jobs
