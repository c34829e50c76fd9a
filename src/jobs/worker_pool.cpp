// Everything runs on the pool's one io_context thread: the dispatcher, each job's coroutine and its
// lease keeper, so the pool's own state needs no lock. Store calls resume on that thread. (The g++ 12
// rules of docs/development.md apply: awaits go into locals, never into conditions or catch blocks.)
#include "jobs/worker_pool.hpp"

#include <unistd.h>

#include <algorithm>
#include <cmath>

#include <spdlog/spdlog.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include "identity/api_token.hpp"
#include "jobs/attempt_metrics.hpp"
#include "jobs/job_tracing.hpp"
#include "jobs/retry.hpp"
#include "obs/app_log.hpp"

namespace rampart::jobs {

namespace asio = boost::asio;
namespace json = boost::json;

namespace {

// "worker:<host>:<pid>:<random>": never shown through the API, only kept in the job's history.
std::string defaultHolder() {
    char host[256] = {};
    if (::gethostname(host, sizeof host - 1) != 0) host[0] = '\0';
    return fmt::format("worker:{}:{}:{}", host, ::getpid(), identity::randomToken(16));
}

}  // namespace

struct WorkerPool::Running {
    explicit Running(asio::io_context& io) : timer(io) {}
    std::string id;
    CancelToken token;
    asio::steady_timer timer;  // the lease keeper's wait
    std::chrono::steady_clock::time_point deadline;
    std::chrono::steady_clock::time_point started;
    bool done = false;
    bool timedOut = false;
    bool cancelRequested = false;
    bool leaseLost = false;  // a heartbeat found the job no longer ours
    int lastProgress = -1;
};

WorkerPool::WorkerPool(store::JobStore& store, const TaskRegistry& registry, WorkerSettings settings,
                       egress::EgressClient* egress, identity::Clock clock)
    : store_(store),
      registry_(registry),
      settings_(std::move(settings)),
      egress_(egress),
      clock_(std::move(clock)),
      wake_(io_) {
    // Host and process in the name, so that a job's history (job_events.holder) says which node ran it.
    if (settings_.holder.empty()) settings_.holder = defaultHolder();
    if (settings_.concurrency < 1) settings_.concurrency = 1;
    // Jobs of external task types (declared in the configuration) wait for external workers: with any
    // registered, this pool claims only the types it has handlers for.
    const auto types = registry_.all();
    if (std::any_of(types.begin(), types.end(), [](const TaskType* type) { return type->external; })) {
        for (const TaskType* type : types)
            if (!type->external) inProcessTasks_.push_back(type->name);
    }
    if (settings_.metrics)
        for (const std::string& queue : settings_.queues)
            runningGauges_.emplace_back(queue, settings_.metrics->running(queue));
    // Expired leases are looked for at least once per lease: a dead worker's job is back within about
    // two leases, not a whole recovery interval after its lease (which a short lease would make long).
    settings_.recoveryInterval = std::min(settings_.recoveryInterval, settings_.lease);
    // A claimed-ahead job's lease (from its claim) must outlast its wait, and its attempt's timeout
    // (also from the claim) must not lose more than a fraction of the store's grace to it.
    if (settings_.prefetch < 0) settings_.prefetch = 0;
    settings_.prefetchWait = std::clamp<std::chrono::milliseconds>(
        settings_.prefetchWait, std::chrono::milliseconds(1),
        std::min<std::chrono::milliseconds>(settings_.lease / 3,
                                            std::chrono::milliseconds(store::kTimeoutGrace / 2)));
}

WorkerPool::~WorkerPool() {
    stop();
}

store::Millis WorkerPool::now() const {
    return store::toMillis(clock_());
}

void WorkerPool::start() {
    asio::co_spawn(io_, dispatch(), asio::detached);
    if (settings_.recoverLeases) asio::co_spawn(io_, recoverLoop(), asio::detached);
    thread_ = std::thread([this] { io_.run(); });
}

void WorkerPool::notify() {
    asio::post(io_, [this] {
        notified_ = true;  // a wake-up that arrives before the dispatcher waits is not lost
        wake_.cancel();
    });
}

void WorkerPool::stop() {
    if (!thread_.joinable()) return;
    stopping_ = true;
    asio::post(io_, [this] {
        for (auto& running : active_) running->token.cancel();
        wake_.cancel();
    });
    thread_.join();
}

void WorkerPool::warnStoreFailure(std::string_view what, const std::exception& error) {
    const auto time = std::chrono::steady_clock::now();
    if (time < nextStoreWarning_) {
        ++unloggedStoreWarnings_;
        return;
    }
    if (unloggedStoreWarnings_ > 0) {
        spdlog::warn("workers: {} failed: {} ({} more store failures since the last line)", what,
                     error.what(), unloggedStoreWarnings_);
    } else {
        spdlog::warn("workers: {} failed: {}", what, error.what());
    }
    nextStoreWarning_ = time + kStoreWarningInterval;
    unloggedStoreWarnings_ = 0;
}

asio::awaitable<void> WorkerPool::recoverLoop() {
    boost::system::error_code ec;
    while (!stopping_) {
        try {
            const store::Millis time = now();
            const auto taken = co_await store_.recoverExpiredLeases(time);
            recordTakenBack(settings_.jobMetrics, settings_.tracer, taken, time);
            const std::size_t recovered = taken.size();
            if (recovered > 0) spdlog::info("workers: took back {} job(s) whose lease expired", recovered);
        } catch (const std::exception& error) {
            warnStoreFailure("recovering expired leases", error);
        }
        // Short steps, so that stop() never waits a whole interval for this loop to end.
        asio::steady_timer timer(io_);
        const auto step = std::chrono::milliseconds(100);
        for (auto waited = std::chrono::milliseconds::zero();
             !stopping_ && waited < settings_.recoveryInterval; waited += step) {
            timer.expires_after(step);
            co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
        }
    }
}

int WorkerPool::claimable() const {
    const int held = running_ + static_cast<int>(waiting_.size());
    int ahead = 0;
    if (settings_.prefetch > 0 && averageRun_ >= 0 && !gaveBack_) {
        // Claim ahead only as many as the slots are expected to start within prefetchWait, by the
        // recent jobs' run time (none while that is unknown, or longer than the wait), and none while
        // every slot holds a job that has run prefetchWait already.
        const double wait = std::chrono::duration<double>(settings_.prefetchWait).count();
        const double startable = settings_.concurrency * wait / std::max(averageRun_, 1e-6);
        const auto longSince = std::chrono::steady_clock::now() - settings_.prefetchWait;
        const auto longJobs = std::count_if(active_.begin(), active_.end(), [&](const auto& running) {
            return running->started <= longSince;
        });
        if (longJobs < settings_.concurrency)
            ahead = static_cast<int>(std::min<double>(settings_.prefetch, std::floor(startable)));
    }
    const int limit = settings_.concurrency + ahead;
    const int room = limit - held;
    // While jobs wait, every slot is busy: claim again once half the room is free, in one batch, not
    // a job at a time.
    if (!waiting_.empty() && room < limit / 2) return 0;
    return std::max(0, room);
}

void WorkerPool::startWaiting() {
    while (!stopping_ && running_ < settings_.concurrency && !waiting_.empty()) {
        store::JobRecord job = std::move(waiting_.front().job);
        waiting_.pop_front();
        ++running_;
        asio::co_spawn(io_, runJob(std::move(job)), asio::detached);
    }
}

asio::awaitable<void> WorkerPool::releaseWaiting(std::chrono::steady_clock::time_point before) {
    std::vector<std::string> ids;
    while (!waiting_.empty() && waiting_.front().claimed < before) {
        ids.push_back(std::move(waiting_.front().job.id));
        waiting_.pop_front();
    }
    if (ids.empty()) co_return;
    gaveBack_ = true;  // no claim-ahead again before a job finishes: it would take them right back
    const std::size_t count = ids.size();
    try {
        const auto released = co_await store_.releaseJobs(std::move(ids), settings_.holder, now());
        spdlog::debug("workers: gave back {} of {} job(s) claimed ahead", released.size(), count);
    } catch (const std::exception& error) {
        // Their leases run out and they are taken back (with the attempt counted).
        warnStoreFailure(fmt::format("giving back {} job(s) claimed ahead", count), error);
    }
}

asio::awaitable<void> WorkerPool::dispatch() {
    boost::system::error_code ec;
    while (!stopping_) {
        // Claimed-ahead jobs that waited their longest behind long jobs go back for other workers.
        co_await releaseWaiting(std::chrono::steady_clock::now() - settings_.prefetchWait);
        const int wanted = claimable();
        std::vector<store::JobRecord> claimed;
        if (wanted > 0 && !stopping_) {
            try {
                claimed = co_await store_.claimJobs(settings_.queues, inProcessTasks_, wanted,
                                                    settings_.holder, settings_.lease.count(), now());
            } catch (const std::exception& error) {
                warnStoreFailure("claiming jobs", error);
            }
        }
        const auto claimedAt = std::chrono::steady_clock::now();
        for (auto& job : claimed) waiting_.push_back(Waiting{.job = std::move(job), .claimed = claimedAt});
        if (stopping_) break;
        startWaiting();
        if (notified_) {
            notified_ = false;
            continue;
        }
        if (claimed.empty() || claimable() == 0) {
            // With jobs waiting, wake in time to give back the oldest when its wait ends.
            auto wait = settings_.pollInterval;
            if (!waiting_.empty())
                wait = std::min(wait, std::chrono::ceil<std::chrono::milliseconds>(
                                          waiting_.front().claimed + settings_.prefetchWait -
                                          std::chrono::steady_clock::now()) +
                                          std::chrono::milliseconds(1));
            wake_.expires_after(std::max(wait, std::chrono::milliseconds(1)));
            co_await wake_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
        }
    }
    // Claimed and never started: given back now rather than held until their leases run out.
    co_await releaseWaiting(std::chrono::steady_clock::time_point::max());
}

asio::awaitable<void> WorkerPool::keepLease(std::shared_ptr<Running> running) {
    boost::system::error_code ec;
    const auto interval =
        std::min<std::chrono::milliseconds>(settings_.lease / 3, std::chrono::milliseconds(500));
    while (!running->done) {
        running->timer.expires_after(interval);
        co_await running->timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
        if (running->done) break;
        if (std::chrono::steady_clock::now() >= running->deadline) {
            running->timedOut = true;
            running->token.cancel();
        }
        bool held = true;
        bool cancelRequested = false;
        try {
            auto beat =
                co_await store_.heartbeatJob(running->id, settings_.holder, settings_.lease.count(), now());
            held = beat.has_value();
            cancelRequested = beat && beat->cancelRequested;
        } catch (const std::exception& error) {
            warnStoreFailure("a heartbeat", error);
        }
        // A lost lease means another worker may run the job now: stop; our report will be refused.
        if (cancelRequested) running->cancelRequested = true;
        if (!held) running->leaseLost = true;
        if (!held || cancelRequested) running->token.cancel();
        if (!held) break;
    }
}

// Reports ended attempts in batches: what ends while one write is on its way goes in the next.
asio::awaitable<void> WorkerPool::reportLoop() {
    while (!reports_.empty()) {
        std::vector<store::AttemptReport> batch;
        batch.swap(reports_);
        std::vector<std::pair<obs::Span, std::uint64_t>> spans;
        spans.swap(reportSpans_);
        const std::size_t count = batch.size();
        try {
            const store::Millis time = now();
            const auto finished = co_await store_.finishAttempts(std::move(batch), time);
            // Where the reports took the jobs; the attempts were recorded as their handlers returned.
            if (settings_.jobMetrics) recordReported(*settings_.jobMetrics, finished, time, false);
            // A refused report's lease was lost: the node that took the job back records the run.
            for (std::size_t i = 0; i < spans.size(); ++i) {
                auto& [run, endedAt] = spans[i];
                if (i < finished.size() && finished[i]) run.end(endedAt);
                run.discard();
            }
        } catch (const std::exception& failure) {
            // The leases run out and the jobs are taken back (their runs recorded there) and run again.
            for (auto& [run, endedAt] : spans) run.discard();
            warnStoreFailure(fmt::format("reporting {} finished job(s)", count), failure);
        }
    }
    reporting_ = false;
}

prometheus::Gauge* WorkerPool::runningGauge(const std::string& queue) const {
    for (const auto& [name, gauge] : runningGauges_)
        if (name == queue) return gauge;
    return nullptr;
}

asio::awaitable<void> WorkerPool::runJob(store::JobRecord job) {
    auto running = std::make_shared<Running>(io_);
    running->id = job.id;
    running->started = std::chrono::steady_clock::now();
    running->deadline = running->started + std::chrono::milliseconds(job.timeoutMs);
    active_.push_back(running);
    prometheus::Gauge* runningJobs = runningGauge(job.queue);
    if (runningJobs) runningJobs->Increment();
    const obs::JobMetrics::Series* series =
        settings_.jobMetrics ? &settings_.jobMetrics->series(job.queue, job.task) : nullptr;
    // Ready since its creation, or its run_at (a scheduled job's, a retry's back-off) when later.
    if (series) obs::JobMetrics::attemptStarted(*series, (now() - std::max(job.created, job.runAt)) / 1000.0);
    asio::co_spawn(io_, keepLease(running), asio::detached);

    obs::Span run = settings_.tracer ? startRun(*settings_.tracer, job) : obs::Span();
    const TaskType* type = registry_.find(job.task);
    json::value result;
    std::string error;
    bool ok = false;
    boost::system::error_code parseError;
    json::value args = json::parse(job.args, parseError);
    if (!type || type->external) {
        error = "the task type is not registered on this worker";
    } else if (parseError || !args.is_object()) {
        error = "the stored arguments are not a JSON object";
    } else {
        TaskContext context{.args = args.as_object(),
                            .cancel = running->token,
                            .progress =
                                [this, running](int percent, std::string_view message) {
                                    // One store write per whole-percent change, never more.
                                    if (percent == running->lastProgress) return;
                                    running->lastProgress = percent;
                                    asio::co_spawn(
                                        io_,
                                        store_.reportProgress(running->id, settings_.holder, percent,
                                                              std::string(message.substr(0, 200)), now()),
                                        asio::detached);
                                },
                            .egress = egress_,
                            .trace = run};
        try {
            result = co_await type->handler(context);
            ok = true;
        } catch (const TaskFailed& failure) {
            error = failure.what();
        } catch (const std::exception& failure) {
            obs::LogTrace logTrace(run);
            spdlog::warn("workers: job {} ({}) threw: {}", job.id, job.task, failure.what());
            error = "the task failed unexpectedly";
        }
    }
    running->done = true;
    running->timer.cancel();
    // The recent jobs' run time (a moving average, seconds), which sizes the claim-ahead.
    const double ran =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - running->started).count();
    averageRun_ = averageRun_ < 0 ? ran : 0.8 * averageRun_ + 0.2 * ran;
    gaveBack_ = false;
    std::erase(active_, running);
    if (runningJobs) runningJobs->Decrement();

    // On shutdown nothing is reported: the lease runs out and the job is taken back and run again. Then,
    // and when the lease is already lost, the node that takes the job back records this run's span
    // (recordTakenBack), with the same ids: recording it here too would make it twice.
    if (stopping_ || running->leaseLost) run.discard();
    if (!stopping_) {
        if (running->cancelRequested) {
            // Reported as a failure, which the store turns into `canceled` (never a retry) because
            // the cancel was requested; whatever the handler returned after seeing it is dropped.
            ok = false;
            error = "canceled";
        } else if (running->timedOut) {
            ok = false;
            error = "timed out after " + std::to_string(job.timeoutMs / 1000) + " s";
        }
        if (series) {
            using Outcome = obs::JobMetrics::Outcome;
            obs::JobMetrics::attemptEnded(*series,
                                          ok                         ? Outcome::succeeded
                                          : running->cancelRequested ? Outcome::canceled
                                          : running->timedOut        ? Outcome::timedOut
                                                                     : Outcome::failed,
                                          ran);
        }
        // The outcome's kind, never the error text: a handler's message may quote its arguments.
        run.setAttribute("rampart.job.outcome", obs::StaticText{ok                         ? "succeeded"
                                                                : running->cancelRequested ? "canceled"
                                                                : running->timedOut        ? "timed_out"
                                                                                           : "failed"});
        if (!ok) run.setStatus(obs::SpanStatus::error);
        const std::uint64_t endedAt = obs::unixNanosNow();
        store::JobOutcome outcome;
        outcome.succeeded = ok;
        if (ok) {
            outcome.result = json::serialize(result);
        } else {
            outcome.error = error;
            outcome.retryAt = nextRetryAt(registry_, job.task, job.attempts, now());
        }
        store::AttemptReport report;
        report.id = job.id;
        report.holder = settings_.holder;
        report.outcome = std::move(outcome);
        reports_.push_back(std::move(report));
        reportSpans_.emplace_back(std::move(run), endedAt);
        if (!reporting_) {
            reporting_ = true;
            asio::co_spawn(io_, reportLoop(), asio::detached);
        }
    }
    // The slot is free once the handler has returned: a job claimed ahead takes it at once, and the
    // next claim can share a commit with this report instead of waiting for it.
    --running_;
    startWaiting();
    notified_ = true;
    wake_.cancel();
}

}  // namespace rampart::jobs
