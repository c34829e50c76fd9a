// PostgresStore job calls: STUBS until built.
#include "store/postgres/postgres_store.hpp"

namespace rampart::store {

boost::asio::awaitable<SubmitResult> PostgresStore::submitJob(JobRecord job, Millis now) {
    throw StoreUnavailable("PostgresStore::submitJob is not built yet");
    co_return SubmitResult{};
}

boost::asio::awaitable<std::vector<JobRecord>> PostgresStore::submitJobs(std::vector<JobRecord> jobs,
                                                                         Millis now) {
    throw StoreUnavailable("PostgresStore::submitJobs is not built yet");
    co_return std::vector<JobRecord>{};
}

boost::asio::awaitable<std::optional<JobRecord>> PostgresStore::findJob(std::string id) {
    throw StoreUnavailable("PostgresStore::findJob is not built yet");
    co_return std::optional<JobRecord>{};
}

boost::asio::awaitable<JobPage> PostgresStore::listJobs(JobQuery query) {
    throw StoreUnavailable("PostgresStore::listJobs is not built yet");
    co_return JobPage{};
}

boost::asio::awaitable<std::optional<JobRecord>> PostgresStore::cancelJob(std::string id, Millis now) {
    throw StoreUnavailable("PostgresStore::cancelJob is not built yet");
    co_return std::optional<JobRecord>{};
}

boost::asio::awaitable<std::vector<JobRecord>> PostgresStore::claimJobs(std::vector<std::string> queues,
                                                                        int max, std::string holder,
                                                                        Millis leaseMs, Millis now) {
    throw StoreUnavailable("PostgresStore::claimJobs is not built yet");
    co_return std::vector<JobRecord>{};
}

boost::asio::awaitable<std::optional<bool>> PostgresStore::heartbeatJob(std::string id, std::string holder,
                                                                        Millis leaseMs, Millis now) {
    throw StoreUnavailable("PostgresStore::heartbeatJob is not built yet");
    co_return std::optional<bool>{};
}

boost::asio::awaitable<bool> PostgresStore::reportProgress(std::string id, std::string holder, int percent,
                                                           std::string message, Millis now) {
    throw StoreUnavailable("PostgresStore::reportProgress is not built yet");
    co_return bool{};
}

boost::asio::awaitable<std::optional<jobs::JobState>> PostgresStore::finishAttempt(std::string id,
                                                                                   std::string holder,
                                                                                   JobOutcome outcome,
                                                                                   Millis now) {
    throw StoreUnavailable("PostgresStore::finishAttempt is not built yet");
    co_return std::optional<jobs::JobState>{};
}

boost::asio::awaitable<std::vector<std::string>> PostgresStore::leaseHolders(std::string id) {
    throw StoreUnavailable("PostgresStore::leaseHolders is not built yet");
    co_return std::vector<std::string>{};
}

boost::asio::awaitable<std::vector<std::optional<jobs::JobState>>> PostgresStore::finishAttempts(
    std::vector<AttemptReport> reports, Millis now) {
    throw StoreUnavailable("PostgresStore::finishAttempts is not built yet");
    co_return std::vector<std::optional<jobs::JobState>>{};
}

boost::asio::awaitable<int> PostgresStore::recoverExpiredLeases(Millis now) {
    throw StoreUnavailable("PostgresStore::recoverExpiredLeases is not built yet");
    co_return int{};
}

boost::asio::awaitable<std::vector<JobEventRecord>> PostgresStore::jobEvents(std::string id) {
    throw StoreUnavailable("PostgresStore::jobEvents is not built yet");
    co_return std::vector<JobEventRecord>{};
}

boost::asio::awaitable<void> PostgresStore::setQueuePaused(std::string queue, bool paused, Millis now) {
    throw StoreUnavailable("PostgresStore::setQueuePaused is not built yet");
    co_return;
}

boost::asio::awaitable<std::vector<QueueStats>> PostgresStore::queueStats() {
    throw StoreUnavailable("PostgresStore::queueStats is not built yet");
    co_return std::vector<QueueStats>{};
}

boost::asio::awaitable<int> PostgresStore::deleteFinishedJobs(Millis finishedBefore, int limit) {
    throw StoreUnavailable("PostgresStore::deleteFinishedJobs is not built yet");
    co_return int{};
}

}  // namespace rampart::store
