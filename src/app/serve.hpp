// `rampart serve` and `rampart worker`: wire configuration, store, workers (and for serve the metrics,
// pipeline and server), then run until a signal.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "app/config.hpp"
#include "store/store.hpp"

namespace rampart {

struct ServeOptions {
    std::optional<std::filesystem::path> portFile;  // written once listening (for tests and supervisors)
};

// Production: true only when the schema is current (else says to run `rampart migrate` on stderr).
// Development: applies pending migrations and returns true.
bool schemaReady(store::Store& store, const Config& config);

// Returns the process exit code: 0 after a graceful shutdown, 2 when production refuses to start.
int serve(Config config, const ServeOptions& options);

// `rampart worker`: a worker node. Runs the in-process workers of every queue with a concurrency above 0
// (woken by PostgreSQL's NOTIFY from any node), takes back expired leases, and serves /healthz, /readyz
// and /metrics on jobs.worker_metrics_listen (loopback) unless that is empty. Same
// exit codes as serve; 2 also when no queue would run here or that address cannot be bound. With `onlyQueues`
// (`--queues`), only those queues run; 2 when one of them is not in jobs.queues.
int work(Config config, const std::vector<std::string>& onlyQueues = {});

}  // namespace rampart
