// A node's periodic housekeeping as one list of named tasks, each on its own timer with its metrics. A
// cluster-wide task first takes the store's lease named after it, so only one node of a cluster runs it
// in an interval (see docs/deployment-cluster.md for which tasks are).
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "obs/metrics.hpp"
#include "store/schedule_store.hpp"

namespace rampart {

struct PeriodicTask {
    std::string name;  // the `task` label of the metrics and, cluster-wide, the lease "housekeeping:<name>"
    std::chrono::milliseconds first{0};  // from start to the first run
    std::chrono::milliseconds interval;  // from the end of one run to the next
    bool clusterWide = false;            // runs only on the node that holds its lease
    std::function<void()> run;           // may throw: logged, counted, and run again at its next time
    // Cluster-wide only: what this node does at a run's time while another node holds the lease.
    std::function<void()> whileAnotherNodeRuns = {};
};

// Runs every task on `context` (the tasks block the context's thread while they run, so give it one
// of its own). Not thread-safe: add, start, stop and releaseLeases from one thread, or on the context.
class Housekeeping {
  public:
    // `leases` is where cluster-wide tasks take their lease; `holder` names this process, unique per
    // start (jobs::schedulerHolderId), so a restarted node does not inherit its old leases.
    Housekeeping(boost::asio::io_context& context, obs::Metrics& metrics, store::ScheduleStore& leases,
                 std::string holder);
    ~Housekeeping();
    Housekeeping(const Housekeeping&) = delete;
    Housekeeping& operator=(const Housekeeping&) = delete;

    void add(PeriodicTask task);
    void start();
    // Cancels every timer: no task runs again (a run in progress ends first: it is on the context).
    void stop();
    // Gives up the leases this node holds, so another node takes its tasks over at their next time
    // instead of once the leases run out. Blocking; for shutdown, after stop().
    void releaseLeases();

    // A cluster-wide task's lease lasts two intervals: its holder renews it at every run, and a node
    // that died hands it over within two intervals.
    [[nodiscard]] static std::string leaseName(const std::string& task) { return "housekeeping:" + task; }

  private:
    struct Entry;
    void schedule(Entry& entry, std::chrono::milliseconds after);
    void runOnce(Entry& entry);

    boost::asio::io_context& context_;
    store::ScheduleStore& leases_;
    std::string holder_;
    prometheus::Family<prometheus::Counter>& runs_;
    prometheus::Family<prometheus::Gauge>& lastSuccess_;
    std::vector<std::unique_ptr<Entry>> entries_;
    bool stopped_ = false;
};

}  // namespace rampart
