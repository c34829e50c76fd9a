// Start-up order matters: deploy check before anything listens, migrations before serving, the port
// file only once connections are accepted.
#include "app/serve.hpp"

#include <malloc.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <fstream>
#include <iostream>

#include <spdlog/spdlog.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/json/array.hpp>

#include "api/error_mapping.hpp"
#include "api/identity_routes.hpp"
#include "api/job_routes.hpp"
#include "api/policy.hpp"
#include "api/schedule_routes.hpp"
#include "api/system_routes.hpp"
#include "api/worker_routes.hpp"
#include "app/admin_cli.hpp"
#include "app/audit_checkpoints.hpp"
#include "app/deploy_check.hpp"
#include "app/housekeeping.hpp"
#include "app/retention.hpp"
#include "app/telemetry.hpp"
#include "core/run_blocking.hpp"
#include "egress/egress_client.hpp"
#include "http/pipeline.hpp"
#include "http/server.hpp"
#include "identity/identity_services.hpp"
#include "identity/oidc.hpp"
#include "jobs/attempt_metrics.hpp"
#include "jobs/builtin_tasks.hpp"
#include "jobs/job_service.hpp"
#include "jobs/job_tracing.hpp"
#include "jobs/lease_service.hpp"
#include "jobs/schedule_service.hpp"
#include "jobs/scheduler.hpp"
#include "jobs/worker_pool.hpp"
#include "obs/access_log.hpp"
#include "obs/audit.hpp"
#include "obs/metrics.hpp"
#include "ratelimit/fallback_limiter.hpp"
#include "ratelimit/redis_limiter.hpp"
#include "redis/client_host.hpp"
#include "store/sealed_job_store.hpp"
#include "store/store.hpp"

namespace rampart {
namespace {

void writePortFile(const std::filesystem::path& path, unsigned short port) {
    auto temporary = path;
    temporary += ".tmp";
    {
        std::ofstream out(temporary, std::ios::trunc);
        out << port << '\n';
    }
    std::filesystem::rename(temporary, path);
}

// The deploy check as counts and finding ids only: a finding's text may describe a setting, and
// the audit log must never hold a setting's value.
boost::json::object deployCheckSummary(const std::vector<Finding>& findings) {
    boost::json::array critical, warning;
    for (const auto& finding : findings) {
        if (finding.severity == Severity::critical) critical.emplace_back(finding.id);
        if (finding.severity == Severity::warning) warning.emplace_back(finding.id);
    }
    return {{"critical", critical.size()},
            {"warning", warning.size()},
            {"criticalIds", std::move(critical)},
            {"warningIds", std::move(warning)}};
}

// Blocking, before anything listens: a server that cannot write its audit log does not start.
void auditServerStart(store::Store& store, const Config& config, const std::vector<Finding>& findings,
                      std::string action = "server.start") {
    obs::AuditEvent event{
        .time = std::chrono::system_clock::now(),
        .action = std::move(action),
        .actor = "system",
        .client = "",
        .requestId = "",
        .target = "",
        .outcome = "success",
        .details = {{"mode", config.production() ? "production" : "development"},
                    {"version", RAMPART_VERSION},
                    {"deployCheck", deployCheckSummary(findings)}},
    };
    runBlocking(store.appendAudit(std::move(event)));
}

constexpr std::chrono::seconds kLeaseRecoveryInterval{5};

// Takes back every expired lease in the store (idempotent: a job is taken back once, whoever asks).
void recoverExpiredLeases(store::Store& store, obs::JobMetrics& metrics, obs::Tracer* tracer) {
    const store::Millis now = store::toMillis(std::chrono::system_clock::now());
    const auto taken = runBlocking(store.recoverExpiredLeases(now));
    jobs::recordTakenBack(&metrics, tracer, taken, now);
    if (!taken.empty()) spdlog::info("took back {} job(s) whose lease expired", taken.size());
}

// The job metrics' label values: the configured queues and task types, nothing a request names.
std::vector<std::string> configuredQueues(const Config& config) {
    std::vector<std::string> names;
    for (const QueueConfig& queue : config.jobs.queues) names.push_back(queue.name);
    return names;
}
std::vector<std::string> registeredTasks(const jobs::TaskRegistry& tasks) {
    std::vector<std::string> names;
    for (const jobs::TaskType* type : tasks.all()) names.push_back(type->name);
    return names;
}

jobs::JobsSettings jobsSettings(const Config& config) {
    jobs::JobsSettings settings{.queues = {}, .maxBatch = static_cast<int>(config.jobs.maxBatch)};
    for (const QueueConfig& queue : config.jobs.queues) {
        jobs::QueueSettings entry{
            .name = queue.name, .submitRoles = {}, .externalWorkers = queue.externalWorkers};
        for (const std::string& role : queue.submitRoles)
            if (auto parsed = identity::parseRole(role)) entry.submitRoles.push_back(*parsed);
        settings.queues.push_back(std::move(entry));
    }
    return settings;
}

egress::EgressPolicy egressPolicy(const Config& config) {
    return egress::EgressPolicy{.allowDomains = config.egress.allowDomains,
                                .blockDomains = config.egress.blockDomains,
                                .maxResponseBytes = config.egress.maxResponseBytes,
                                .timeout = config.egress.timeout,
                                .maxRedirects = static_cast<int>(config.egress.maxRedirects)};
}

// Idle workers wait this long between claims when nothing wakes them. With the store's own wake-ups
// (PostgreSQL's NOTIFY, from any node) the wait is only the fallback for a missed one, and for jobs that
// become due by time (run_at, retry back-off) or come back from a dead worker's lease.
constexpr std::chrono::milliseconds kPollWithoutWakeups{200};
constexpr std::chrono::milliseconds kPollWithWakeups{1000};

// The job and schedule calls the services make: through SealedJobStore, so payloads are sealed at rest,
// unless store.encrypt_payloads is off (then straight to the store; what was sealed before still needs
// sealing on to be read).
class JobStores {
  public:
    JobStores(const Config& config, store::Store& store) : jobs(&store), schedules(&store) {
        if (!config.encryptPayloads) return;
        sealed_ = std::make_unique<store::SealedJobStore>(store, store, config.secretKey);
        jobs = sealed_.get();
        schedules = sealed_.get();
    }
    store::JobStore* jobs;
    store::ScheduleStore* schedules;

  private:
    std::unique_ptr<store::SealedJobStore> sealed_;
};

// One pool (one thread) per queue that runs jobs in this process, each with its own concurrency.
std::vector<std::unique_ptr<jobs::WorkerPool>> workerPools(const Config& config, store::JobStore& store,
                                                           const jobs::TaskRegistry& tasks,
                                                           egress::EgressClient& egress,
                                                           std::chrono::milliseconds pollInterval,
                                                           obs::WorkerMetrics& metrics,
                                                           obs::JobMetrics& jobMetrics, obs::Tracer* tracer) {
    std::vector<std::unique_ptr<jobs::WorkerPool>> pools;
    if (!config.jobs.runWorkers) return pools;
    for (const QueueConfig& queue : config.jobs.queues) {
        const unsigned concurrency = queue.concurrency.value_or(config.jobs.workerConcurrency);
        if (concurrency == 0) continue;  // left to external workers
        jobs::WorkerSettings settings;
        settings.queues = {queue.name};
        settings.concurrency = static_cast<int>(concurrency);
        settings.prefetch = static_cast<int>(config.jobs.workerPrefetch);
        settings.lease = config.jobs.lease;
        settings.pollInterval = pollInterval;
        settings.recoverLeases = pools.empty();  // the first pool does it for the whole store
        settings.metrics = &metrics;
        settings.jobMetrics = &jobMetrics;
        settings.tracer = tracer;
        pools.push_back(std::make_unique<jobs::WorkerPool>(store, tasks, std::move(settings), &egress));
    }
    return pools;
}

// Wakes this process's pools, and its waiting lease calls (when there are any), when the store says
// jobs were queued (by any node). The pools are registered once built; a wake-up before that is
// dropped (the pools claim at start anyway).
class QueuedJobWakeups {
  public:
    explicit QueuedJobWakeups(jobs::LeaseWaiters* waiters = nullptr) : waiters_(waiters) {}
    // False when the store cannot tell (the pools then poll more often).
    bool watch(store::Store& store) {
        return store.watchQueuedJobs([this](const std::string& queue) {
            if (waiters_ != nullptr) waiters_->wake(queue, "");
            if (!ready_.load(std::memory_order_acquire)) return;
            for (auto& pool : *pools_)
                if (queue.empty() || pool->serves(queue)) pool->notify();
        });
    }
    void start(std::vector<std::unique_ptr<jobs::WorkerPool>>& pools) {
        pools_ = &pools;
        ready_.store(true, std::memory_order_release);
    }
    void stop() { ready_.store(false, std::memory_order_release); }

  private:
    jobs::LeaseWaiters* waiters_;
    std::vector<std::unique_ptr<jobs::WorkerPool>>* pools_ = nullptr;
    std::atomic<bool> ready_{false};
};

// The checks both `serve` and `worker` make before they touch the database; false: refuse to start.
bool preflight(Config& config, std::vector<Finding>& findings) {
    ensureDevelopmentSecretKey(config);
    findings = runDeployChecks(config);
    for (const auto& finding : findings) {
        if (finding.severity == Severity::critical)
            spdlog::error("deploy check: {}", formatFinding(finding));
        else if (finding.severity == Severity::warning)
            spdlog::warn("deploy check: {}", formatFinding(finding));
    }
    if (config.production() && hasCritical(findings)) {
        std::cerr
            << "rampart: refusing to start in production while critical deploy-check findings remain:\n";
        for (const auto& finding : findings)
            if (finding.severity == Severity::critical) std::cerr << "  " << formatFinding(finding) << '\n';
        return false;
    }
    if (config.production() && ::geteuid() == 0) {
        std::cerr << "rampart: refusing to run as root in production; run as an unprivileged user\n";
        return false;
    }
    return true;
}

// `rampart worker`'s /healthz, /readyz and /metrics: the server's own system routes and pipeline on a
// loopback listener of one thread, answering whatever Host names the loopback (a scraper on this machine
// uses an address; a page in a browser that rebinds a name of its own to 127.0.0.1 is refused).
class WorkerMetricsEndpoint {
  public:
    WorkerMetricsEndpoint(const Config& config, http::ServerSettings listen, store::Store& store,
                          obs::Metrics& metrics, obs::HttpMetrics& httpMetrics) {
        api::addSystemRoutes(router_, routeSettings(config), store, metrics);
        http::PipelineSettings settings = pipelineSettings(config);
        settings.allowedHosts = {"localhost", "127.0.0.1", "::1", listen.listenHost};
        settings.requireTls = false;          // plain HTTP on loopback, like a scraper expects
        settings.rateLimits.enabled = false;  // its routes are never limited anyway
        http::PipelineDeps deps;
        deps.audit = &store;
        deps.policies = api::policyFor;
        pipeline_ = http::buildPipeline(settings, router_, httpMetrics, nullptr, std::move(deps));
        host_ = listen.listenHost;
        server_ = std::make_unique<http::Server>(std::move(listen), *pipeline_, httpMetrics);
        server_->start();
    }

    [[nodiscard]] std::string address() const {
        const bool v6 = host_.find(':') != std::string::npos;
        return (v6 ? "[" + host_ + "]" : host_) + ":" + std::to_string(server_->port());
    }
    void shutdown() { server_->shutdown(); }

  private:
    http::Router router_;
    std::unique_ptr<http::Pipeline> pipeline_;
    std::string host_;
    std::unique_ptr<http::Server> server_;
};

redis::ClientOptions redisClientOptions(const Config& config) {
    redis::ClientOptions options;
    options.caFile = config.redisCaFile;
    return options;
}

// External identity providers, when configured: their keys are fetched once before serving.
std::unique_ptr<identity::OidcRegistry> startOidc(const Config& config) {
    if (config.oidcIssuers.empty()) return nullptr;
    auto oidc = std::make_unique<identity::OidcRegistry>(
        config.oidcIssuers, identity::OidcOptions{.cache = std::make_shared<identity::VerificationCache>(),
                                                  .development = !config.production()});
    runBlocking(oidc->start());
    return oidc;
}

// The first start creates the admin account; a generated password is shown once.
void bootstrapAdmin(identity::AccountService& accounts, const Config& config) {
    auto password = accounts.bootstrapAdmin(config.adminPasswordFile);
    if (!password) return;
    if (password->empty()) {
        spdlog::info("created the first admin account, \"admin\", with the password from the file");
    } else {
        // Once, on the console, past the logger (stdout stays JSON lines for the access log).
        std::cerr << "created the first admin account, \"admin\"; admin password (shown once): "
                  << password->reveal() << std::endl;
    }
}

// The one Redis client of this process (rate limits shared by a cluster; /readyz), when redis_url is
// set. It connects on first use, so the server starts while Redis is down and /readyz reports it.
std::unique_ptr<redis::ClientHost> redisFor(const Config& config) {
    if (!config.redisUrl) return nullptr;
    const redis::RedisUrl redisUrl = redis::parseRedisUrl(config.redisUrl->reveal());
    spdlog::info("redis: {}", redisUrl.redacted());
    return std::make_unique<redis::ClientHost>(redisUrl, redisClientOptions(config));
}

}  // namespace

bool schemaReady(store::Store& store, const Config& config) {
    if (config.production()) {
        if (store.schemaVersion() == store.latestSchemaVersion()) return true;
        std::cerr << "rampart: the database schema is not current; run `rampart migrate` first\n";
        return false;
    }
    if (int applied = store.migrate(); applied > 0) spdlog::info("applied {} migration(s)", applied);
    return true;
}

int serve(Config config, const ServeOptions& options) {
    std::vector<Finding> findings;
    if (!preflight(config, findings)) return 2;

    auto store = store::openStore(config.databaseUrl, storeOptions(config));
    if (!schemaReady(*store, config)) return 2;
    auditServerStart(*store, config, findings);

    obs::Metrics metrics;
    obs::HttpMetrics httpMetrics(metrics);
    std::unique_ptr<obs::AccessLog> accessLog;
    if (config.accessLog) accessLog = std::make_unique<obs::AccessLog>();

    std::unique_ptr<identity::OidcRegistry> oidc = startOidc(config);
    obs::AuthMetrics authMetrics(metrics);
    identity::IdentityServices identityServices(*store, *store, config.secretKey, authSettings(config),
                                                identity::systemClock(), oidc.get(), &authMetrics);
    identityServices.keys.loadKeys();
    bootstrapAdmin(identityServices.accounts, config);
    std::unique_ptr<redis::ClientHost> redisHost = redisFor(config);
    redis::Client* redisClient = redisHost ? &redisHost->client() : nullptr;

    http::Router router;
    const api::RouteSettings routes = routeSettings(config);
    api::addSystemRoutes(router, routes, *store, metrics, redisClient);
    api::addIdentityRoutes(router, routes, identityServices.logins, identityServices.accounts,
                           identityServices.keys, *store);
    jobs::TaskRegistry tasks;
    jobs::addBuiltinTasks(tasks);
    addDeclaredTasks(tasks, config.tasks);
    const jobs::JobsSettings settings = jobsSettings(config);
    const JobStores jobStores(config, *store);
    jobs::JobService jobService(*jobStores.jobs, *store, tasks, settings);
    api::addJobRoutes(router, tasks, jobService);
    // External workers' lease calls that wait for a job (wait_seconds) are woken by the wake-ups below.
    jobs::LeaseWaiters leaseWaiters(jobs::LeaseWaitSettings{
        .maxTotal = config.jobs.maxWaitingLeases, .maxPerAccount = config.jobs.maxWaitingLeasesPerAccount});
    jobs::LeaseService leaseService(*jobStores.jobs, tasks, settings);
    leaseService.waitWith(&leaseWaiters);
    obs::JobMetrics jobMetrics(metrics, configuredQueues(config), registeredTasks(tasks));
    leaseService.recordTo(&jobMetrics);
    api::addWorkerRoutes(router, leaseService);
    // Tasks reach the network only through the egress guard.
    egress::EgressClient egressClient(egressPolicy(config), std::make_shared<egress::SystemResolver>());
    // Spans go to the OTLP collector ([telemetry]); tracer is null when tracing is off.
    obs::TraceExportMetrics traceExportMetrics(metrics);
    Telemetry telemetry = startTelemetry(config.telemetry, traceExportMetrics);
    // The tracer starts each request's span (the pipeline), the workers' run spans, the schedule ticks'
    // traces, and records the runs of external workers as they report.
    const std::shared_ptr<obs::Tracer> tracer = telemetry.tracer;
    leaseService.traceTo(tracer.get());
    // A store that tells of every node's new jobs (PostgreSQL's NOTIFY) wakes the waiting lease calls
    // itself, this node's submits included; otherwise this node's submits do.
    QueuedJobWakeups wakeups(&leaseWaiters);
    const bool woken = wakeups.watch(*store);
    obs::WorkerMetrics workerMetrics(metrics);
    auto workers =
        workerPools(config, *jobStores.jobs, tasks, egressClient,
                    woken ? kPollWithWakeups : kPollWithoutWakeups, workerMetrics, jobMetrics, tracer.get());
    jobService.onSubmitted([&workers, &leaseWaiters, woken](std::string_view queue, std::string_view task) {
        for (auto& pool : workers) pool->notify();
        if (!woken) leaseWaiters.wake(queue, task);
    });
    for (auto& pool : workers) pool->start();
    wakeups.start(workers);
    // Schedules: the API on every node; the scheduler on every node that runs it (one leads at a time).
    jobs::ScheduleService scheduleService(
        *jobStores.schedules, *store, *store, jobService,
        jobs::ScheduleSettings{.allowUsers = config.schedules.allowUsers,
                               .maxPerOwner = static_cast<int>(config.schedules.maxPerUser),
                               .maxTotal = static_cast<int>(config.schedules.maxTotal),
                               .minIntervalSeconds = static_cast<int>(config.schedules.minIntervalSeconds)});
    api::addScheduleRoutes(router, scheduleService);
    std::unique_ptr<jobs::Scheduler> scheduler;
    if (config.scheduler.enabled) {
        jobs::SchedulerSettings schedulerSettings{.holder = jobs::schedulerHolderId(),
                                                  .misfireGrace = config.scheduler.misfireGrace};
        schedulerSettings.maxJobsPerOwnerPerMinute =
            static_cast<int>(config.schedules.maxJobsPerOwnerPerMinute);
        schedulerSettings.tracer = tracer.get();
        scheduler = std::make_unique<jobs::Scheduler>(*jobStores.schedules, *jobStores.jobs, *store,
                                                      jobService, std::move(schedulerSettings));
        scheduler->onSubmitted([&workers, &leaseWaiters] {
            for (auto& pool : workers) pool->notify();
            leaseWaiters.wake("", "");  // the queues it filled are not known here: one per kind of waiter
        });
    }
    http::PipelineDeps deps;
    deps.authenticator = &identityServices.authenticator;
    deps.audit = store.get();
    api::requireEveryRouteHasAPolicy(router);
    deps.policies = api::policyFor;
    deps.translateError = api::translateDomainError;
    obs::RateLimitMetrics rateLimitMetrics(metrics);
    deps.rateLimitMetrics = &rateLimitMetrics;
    deps.tracer = tracer.get();
    // With Redis, every node decides through it, so a limit holds across the cluster; while Redis cannot be
    // reached each node decides in its own memory (or answers 503 with rate_limits.fail_closed).
    if (redisClient != nullptr && config.rateLimits.enabled) {
        ratelimit::MemoryLimiterOptions fallbackOptions;
        fallbackOptions.maxKeys = config.rateLimits.maxKeys;
        deps.rateLimiter = std::make_shared<ratelimit::FallbackLimiter>(
            // One pipelined connection per I/O thread, driven by that thread's event loop: no hop to the
            // Redis client's thread and back per decision. The shared client stays for /readyz.
            std::make_shared<ratelimit::RedisLimiter>(redis::parseRedisUrl(config.redisUrl->reveal()),
                                                      redisClientOptions(config)),
            std::make_shared<ratelimit::MemoryLimiter>(std::move(fallbackOptions)),
            config.rateLimits.failClosed, &rateLimitMetrics);
    }
    auto pipeline =
        http::buildPipeline(pipelineSettings(config), router, httpMetrics, accessLog.get(), std::move(deps));

    http::Server server(serverSettings(config), *pipeline, httpMetrics);
    server.start();
    spdlog::info("rampart {} listening on {}://{}:{} ({} mode)", RAMPART_VERSION,
                 config.tls.enabled() ? "https" : "http", config.listen.substr(0, config.listen.rfind(':')),
                 server.port(), config.production() ? "production" : "development");
    if (options.portFile) writePortFile(*options.portFile, server.port());

    boost::asio::io_context signals;
    boost::asio::signal_set stopSignals(signals, SIGTERM, SIGINT);
    boost::asio::signal_set reloadSignal(signals, SIGHUP);
    std::function<void()> waitReload = [&] {
        reloadSignal.async_wait([&](const boost::system::error_code& ec, int) {
            if (ec) return;
            server.reloadTls();
            waitReload();
        });
    };
    waitReload();
    obs::QueueMetrics queueMetrics(metrics);
    auto& scheduleTicks =
        prometheus::BuildCounter()
            .Name("rampart_schedule_ticks_total")
            .Help(
                "Schedule ticks this node's scheduler handled, by outcome: fired (a job), "
                "skipped (recorded without a job), missed (dropped by the misfire policy), "
                "duplicate (recorded by another scheduler first), over_budget (recorded without "
                "a job: the owner's schedules.max_jobs_per_owner_per_minute was spent)")
            .Register(metrics.registry());
    auto& schedulerLeader = prometheus::BuildGauge()
                                .Name("rampart_scheduler_leader")
                                .Help("1 while this node's scheduler holds the leader lease")
                                .Register(metrics.registry())
                                .Add({});
    using namespace std::chrono_literals;
    // This node's periodic work. Cluster-wide tasks run on the one node that holds their lease
    // (docs/deployment-cluster.md); the others are per node.
    Housekeeping housekeeping(signals, metrics, *store, jobs::schedulerHolderId());
    // Keys rotated by `rampart admin keys rotate` (or another node): every node signs and verifies with them.
    housekeeping.add({.name = "key-reload", .first = 1min, .interval = 1min, .run = [&] {
                          identityServices.keys.loadKeys();
                      }});
    // Finished jobs past jobs.retention_hours; one node's sweep deletes them for the cluster, on a
    // thread of its own.
    RetentionSweeper retention(metrics, *store, jobs::schedulerHolderId(),
                               {.retention = config.jobs.retention});
    // Per-username failed-login counters (identity/login_service.hpp): forgotten after a quiet spell,
    // capped at LoginService::kNameFailureCapacity rows; one node's sweep does it for the cluster.
    housekeeping.add(
        {.name = "login-failures", .first = 1min, .interval = 1min, .clusterWide = true, .run = [&] {
             runBlocking(identityServices.logins.pruneNameFailures());
         }});
    // With no in-process workers (the pools do it otherwise), so no dead worker's job stays `running`.
    // On every such node: it is idempotent and cheap, and a job should not wait for one node's turn.
    if (workers.empty())
        housekeeping.add({.name = "lease-recovery",
                          .first = kLeaseRecoveryInterval,
                          .interval = kLeaseRecoveryInterval,
                          .run = [&] { recoverExpiredLeases(*store, jobMetrics, tracer.get()); }});
    // The cluster's queue figures on /metrics: one node queries the store and reports them; the others
    // clear theirs, so a sum or max over the nodes counts each job once.
    housekeeping.add(
        {.name = "queue-gauges",
         .first = 0s,
         .interval = 15s,
         .clusterWide = true,
         .run = [&] { jobs::publishQueueMetrics(runBlocking(jobService.queues()), queueMetrics); },
         .whileAnotherNodeRuns = [&] { queueMetrics.clear(); }});
    // The scheduler's rounds on every node that runs it: it takes its own leader lease
    // (jobs/scheduler.hpp), so its ticks make one job each.
    if (scheduler)
        housekeeping.add(
            {.name = "scheduler", .first = 0s, .interval = scheduler->settings().poll, .run = [&] {
                 const jobs::SchedulerRound round = runBlocking(scheduler->runOnce());
                 schedulerLeader.Set(round.leader ? 1 : 0);
                 scheduleTicks.Add({{"outcome", "fired"}}).Increment(round.fired);
                 scheduleTicks.Add({{"outcome", "skipped"}}).Increment(round.skipped);
                 scheduleTicks.Add({{"outcome", "missed"}}).Increment(round.missed);
                 scheduleTicks.Add({{"outcome", "duplicate"}}).Increment(round.duplicates);
                 scheduleTicks.Add({{"outcome", "over_budget"}}).Increment(round.overBudget);
             }});
    // The audit log's verified head, signed, appended outside the database (audit.checkpoint_dir); one
    // node of a cluster writes it per interval, into its own directory.
    if (!config.audit.checkpointDir.empty())
        housekeeping.add(
            {.name = "audit-checkpoint",
             .first = 1min,
             .interval = config.audit.checkpointInterval,
             .clusterWide = true,
             .run = [&] { writeAuditCheckpoint(*store, config.secretKey, config.audit.checkpointDir); }});
    // Memory freed after a burst of load stays in glibc's heaps (one arena per thread that allocated)
    // until trimmed: give it back to the system, so the process returns to its idle size.
    housekeeping.add({.name = "memory-trim", .first = 10s, .interval = 10s, .run = [] { malloc_trim(0); }});
    housekeeping.start();
    stopSignals.async_wait([&](const boost::system::error_code&, int signal) {
        spdlog::info("signal {}: shutting down gracefully", signal);
        reloadSignal.cancel();
        housekeeping.stop();
    });
    signals.run();

    // Waiting lease calls answer now (with no job), not at the end of their wait or the grace period.
    leaseWaiters.shutdown();
    // Another node's scheduler and housekeeping take over at once instead of after the leases run out.
    if (scheduler) runBlocking(scheduler->resign());
    housekeeping.releaseLeases();
    retention.stop();
    server.shutdown();
    // The hashes and key reloads under way resume on the server's io_contexts: finish them while those
    // still exist.
    identityServices.shutdown();
    wakeups.stop();
    for (auto& pool : workers)
        pool->stop();  // running jobs are not reported: their leases run out, they run again
    telemetry.stop();  // the spans of the requests and jobs that just ended, sent within a bounded time
    redisHost.reset();
    store->close();
    if (accessLog) accessLog->flush();
    spdlog::info("stopped");
    return 0;
}

int work(Config config, const std::vector<std::string>& onlyQueues) {
    std::vector<Finding> findings;
    if (!preflight(config, findings)) return 2;
    config.jobs.runWorkers = true;
    // `--queues`: this node runs some queues only (e.g. a machine for the heavy ones), each a configured one.
    if (!onlyQueues.empty()) {
        for (const std::string& name : onlyQueues) {
            const bool known = std::ranges::any_of(
                config.jobs.queues, [&](const QueueConfig& queue) { return queue.name == name; });
            if (!known) {
                std::vector<std::string> names;
                for (const QueueConfig& queue : config.jobs.queues) names.push_back(queue.name);
                std::cerr << "rampart worker: --queues names \"" << name
                          << "\", which is not one of jobs.queues ("
                          << fmt::format("{}", fmt::join(names, ", ")) << ")\n";
                return 2;
            }
        }
        std::erase_if(config.jobs.queues, [&](const QueueConfig& queue) {
            return std::ranges::find(onlyQueues, queue.name) == onlyQueues.end();
        });
    }
    auto store = store::openStore(config.databaseUrl, storeOptions(config));
    if (!schemaReady(*store, config)) return 2;

    jobs::TaskRegistry tasks;
    jobs::addBuiltinTasks(tasks);
    addDeclaredTasks(tasks, config.tasks);
    egress::EgressClient egressClient(egressPolicy(config), std::make_shared<egress::SystemResolver>());
    QueuedJobWakeups wakeups;
    const bool woken = wakeups.watch(*store);
    obs::Metrics metrics;
    obs::WorkerMetrics workerMetrics(metrics);
    obs::JobMetrics jobMetrics(metrics, configuredQueues(config), registeredTasks(tasks));
    const JobStores jobStores(config, *store);
    // Spans go to the OTLP collector ([telemetry]); tracer is null when tracing is off.
    obs::TraceExportMetrics traceExportMetrics(metrics);
    Telemetry telemetry = startTelemetry(config.telemetry, traceExportMetrics);
    const std::shared_ptr<obs::Tracer> tracer = telemetry.tracer;  // the workers' run spans
    auto workers =
        workerPools(config, *jobStores.jobs, tasks, egressClient,
                    woken ? kPollWithWakeups : kPollWithoutWakeups, workerMetrics, jobMetrics, tracer.get());
    if (workers.empty()) {
        std::cerr << "rampart worker: nothing to run: every queue in jobs.queues has concurrency 0 (external "
                     "workers only)\n";
        store->close();
        return 2;
    }
    // Listening before anything runs: a port in use stops the worker here, with nothing to undo.
    obs::HttpMetrics httpMetrics(metrics);
    std::unique_ptr<WorkerMetricsEndpoint> endpoint;
    if (auto listen = workerMetricsServerSettings(config)) {
        try {
            endpoint = std::make_unique<WorkerMetricsEndpoint>(config, *listen, *store, metrics, httpMetrics);
        } catch (const std::exception& error) {
            std::cerr << "rampart worker: cannot serve /metrics on " << config.jobs.workerMetricsListen
                      << " (jobs.worker_metrics_listen; set another port, or \"\" for none): " << error.what()
                      << '\n';
            store->close();
            return 2;
        }
    }
    auditServerStart(*store, config, findings, "worker.start");
    for (auto& pool : workers) pool->start();
    wakeups.start(workers);
    std::vector<std::string> queues;
    for (const QueueConfig& queue : config.jobs.queues)
        if (queue.concurrency.value_or(config.jobs.workerConcurrency) > 0) queues.push_back(queue.name);
    spdlog::info(
        "rampart {} worker running queues {} ({} mode, {}; {})", RAMPART_VERSION, fmt::join(queues, ", "),
        config.production() ? "production" : "development", woken ? "woken by the database" : "polling",
        endpoint ? fmt::format("metrics on http://{}/metrics", endpoint->address()) : "no metrics listener");

    boost::asio::io_context signals;
    boost::asio::signal_set stopSignals(signals, SIGTERM, SIGINT);
    stopSignals.async_wait([](const boost::system::error_code&, int signal) {
        spdlog::info("signal {}: shutting down gracefully", signal);
    });
    signals.run();

    if (endpoint) endpoint->shutdown();
    wakeups.stop();
    for (auto& pool : workers) pool->stop();  // running jobs are not reported: they run again elsewhere
    telemetry.stop();  // the spans of the jobs that just ended, sent within a bounded time
    store->close();
    spdlog::info("stopped");
    return 0;
}

}  // namespace rampart
