// A JobStore that hands every call to another one: a test derives from it and overrides the call it needs
// to fail or observe (e.g. heartbeats that meet a store error while reports still go through).
#pragma once

#include <utility>

#include "store/job_store.hpp"

namespace rampart::testing {

class ForwardingJobStore : public store::JobStore {
  public:
    explicit ForwardingJobStore(store::JobStore& inner) : inner_(inner) {}

    using Millis = store::Millis;
    template <class T>
    using Awaitable = boost::asio::awaitable<T>;

    Awaitable<store::SubmitResult> submitJob(store::JobRecord job, Millis now) override {
        return inner_.submitJob(std::move(job), now);
    }
    Awaitable<std::vector<store::JobRecord>> submitJobs(std::vector<store::JobRecord> jobs,
                                                        Millis now) override {
        return inner_.submitJobs(std::move(jobs), now);
    }
    Awaitable<std::optional<store::JobRecord>> findJob(std::string id) override {
        return inner_.findJob(std::move(id));
    }
    [[nodiscard]] std::optional<std::uint64_t> localWriteStamp() const override {
        return inner_.localWriteStamp();
    }
    [[nodiscard]] std::string_view databaseSystem() const override { return inner_.databaseSystem(); }
    Awaitable<store::JobPage> listJobs(store::JobQuery query) override {
        return inner_.listJobs(std::move(query));
    }
    Awaitable<std::optional<store::JobRecord>> cancelJob(std::string id, Millis now) override {
        return inner_.cancelJob(std::move(id), now);
    }
    Awaitable<std::optional<store::JobRecord>> retryJob(std::string id, Millis now) override {
        return inner_.retryJob(std::move(id), now);
    }
    using store::JobStore::claimJobs;
    Awaitable<std::vector<store::JobRecord>> claimJobs(std::vector<std::string> queues,
                                                       std::vector<std::string> tasks, int max,
                                                       std::string holder, Millis leaseMs,
                                                       Millis now) override {
        return inner_.claimJobs(std::move(queues), std::move(tasks), max, std::move(holder), leaseMs, now);
    }
    Awaitable<std::optional<store::LeaseRenewal>> heartbeatJob(std::string id, std::string holder,
                                                               Millis leaseMs, Millis now) override {
        return inner_.heartbeatJob(std::move(id), std::move(holder), leaseMs, now);
    }
    Awaitable<bool> reportProgress(std::string id, std::string holder, int percent, std::string message,
                                   Millis now) override {
        return inner_.reportProgress(std::move(id), std::move(holder), percent, std::move(message), now);
    }
    Awaitable<std::optional<jobs::JobState>> finishAttempt(std::string id, std::string holder,
                                                           store::JobOutcome outcome, Millis now) override {
        return inner_.finishAttempt(std::move(id), std::move(holder), std::move(outcome), now);
    }
    Awaitable<std::vector<std::string>> leaseHolders(std::string id) override {
        return inner_.leaseHolders(std::move(id));
    }
    Awaitable<std::vector<std::optional<store::FinishedAttempt>>> finishAttempts(
        std::vector<store::AttemptReport> reports, Millis now) override {
        return inner_.finishAttempts(std::move(reports), now);
    }
    Awaitable<std::vector<std::string>> releaseJobs(std::vector<std::string> ids, std::string holder,
                                                    Millis now) override {
        return inner_.releaseJobs(std::move(ids), std::move(holder), now);
    }
    Awaitable<std::vector<store::FinishedAttempt>> recoverExpiredLeases(Millis now) override {
        return inner_.recoverExpiredLeases(now);
    }
    Awaitable<std::vector<store::JobEventRecord>> jobEvents(std::string id) override {
        return inner_.jobEvents(std::move(id));
    }
    Awaitable<void> setQueuePaused(std::string queue, bool paused, Millis now) override {
        return inner_.setQueuePaused(std::move(queue), paused, now);
    }
    Awaitable<std::vector<store::QueueStats>> queueStats() override { return inner_.queueStats(); }
    Awaitable<store::DeletedJobs> deleteFinishedJobs(Millis finishedFrom, Millis finishedBefore,
                                                     int limit) override {
        return inner_.deleteFinishedJobs(finishedFrom, finishedBefore, limit);
    }
    Awaitable<std::int64_t> payloadKeyGeneration() override { return inner_.payloadKeyGeneration(); }
    Awaitable<std::int64_t> startPayloadKeyGeneration(Millis now) override {
        return inner_.startPayloadKeyGeneration(now);
    }
    Awaitable<std::vector<store::JobPayload>> jobPayloads(std::string afterId, int limit) override {
        return inner_.jobPayloads(std::move(afterId), limit);
    }
    Awaitable<int> rewriteJobPayloads(std::vector<store::PayloadRewrite> rewrites) override {
        return inner_.rewriteJobPayloads(std::move(rewrites));
    }

  protected:
    store::JobStore& inner_;
};

}  // namespace rampart::testing
