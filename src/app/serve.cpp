// Start-up order matters: deploy check before anything listens, migrations before serving, the port
// file only once connections are accepted.
#include "app/serve.hpp"

#include <unistd.h>

#include <csignal>
#include <fstream>
#include <iostream>

#include <spdlog/spdlog.h>
#include <boost/asio/signal_set.hpp>

#include "api/system_routes.hpp"
#include "app/deploy_check.hpp"
#include "http/pipeline.hpp"
#include "http/server.hpp"
#include "obs/access_log.hpp"
#include "obs/metrics.hpp"
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

}  // namespace

int serve(Config config, const ServeOptions& options) {
    ensureDevelopmentSecretKey(config);
    auto findings = runDeployChecks(config);
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
        return 2;
    }
    if (config.production() && ::geteuid() == 0) {
        std::cerr << "rampart: refusing to run as root in production; run as an unprivileged user\n";
        return 2;
    }

    auto store = store::openStore(config.databaseUrl);
    if (config.production()) {
        if (store->schemaVersion() != store->latestSchemaVersion()) {
            std::cerr << "rampart: the database schema is not current; run `rampart migrate` first\n";
            return 2;
        }
    } else if (int applied = store->migrate(); applied > 0) {
        spdlog::info("applied {} migration(s)", applied);
    }

    obs::Metrics metrics;
    obs::HttpMetrics httpMetrics(metrics);
    std::unique_ptr<obs::AccessLog> accessLog;
    if (config.accessLog) accessLog = std::make_unique<obs::AccessLog>();

    http::Router router;
    api::addSystemRoutes(router, config, *store, metrics);
    auto pipeline = http::buildPipeline(config, router, httpMetrics, accessLog.get());

    http::Server server(config, *pipeline, httpMetrics);
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
    stopSignals.async_wait([&](const boost::system::error_code&, int signal) {
        spdlog::info("signal {}: shutting down gracefully", signal);
        reloadSignal.cancel();
    });
    signals.run();

    server.shutdown();
    store->close();
    if (accessLog) accessLog->flush();
    spdlog::info("stopped");
    return 0;
}

}  // namespace rampart
