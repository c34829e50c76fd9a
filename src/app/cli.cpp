// The command line: global --config, then serve | migrate | check --deploy | audit verify|checkpoint | admin.
// Flags override the environment, which overrides the file, which overrides the defaults.
#include "app/cli.hpp"

#include <iostream>

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>

#include "app/admin_cli.hpp"
#include "app/audit_checkpoints.hpp"
#include "app/config.hpp"
#include "app/deploy_check.hpp"
#include "app/serve.hpp"
#include "obs/app_log.hpp"
#include "store/postgres/postgres_store.hpp"
#include "store/store.hpp"

namespace rampart {
namespace {

void setUpLogging(const Config& config) {
    auto logger =
        std::make_shared<spdlog::logger>("rampart", std::make_shared<spdlog::sinks::stderr_sink_mt>());
    if (config.logFormat == "json") {
        logger->set_formatter(obs::jsonLogFormatter());
    } else {
        logger->set_pattern("%Y-%m-%dT%H:%M:%S.%eZ %l %v", spdlog::pattern_time_type::utc);
    }
    logger->set_level(spdlog::level::from_str(config.logLevel));
    spdlog::set_default_logger(logger);
}

// The store for an audit command, or null (and a message) when there is no secret key or the schema is
// not current.
std::unique_ptr<store::Store> openAuditStore(Config& config) {
    ensureDevelopmentSecretKey(config);
    if (config.secretKey.empty()) {
        std::cerr
            << "rampart audit: the audit log's keys derive from the secret key: set RAMPART_SECRET_KEY or "
               "RAMPART_SECRET_KEY_FILE\n";
        return nullptr;
    }
    auto store = store::openStore(config.databaseUrl, storeOptions(config));
    if (store->schemaVersion() != store->latestSchemaVersion()) {
        std::cerr << "rampart: the database schema is not current; run `rampart migrate` first\n";
        return nullptr;
    }
    return store;
}

// Exit codes: 0 intact, 1 tampered (or checkpoints missing), 2 when there is nothing to verify with.
int verifyAuditLog(Config config, const std::string& checkpointDir) {
    auto store = openAuditStore(config);
    if (!store) return 2;
    std::optional<std::filesystem::path> dir;
    if (!checkpointDir.empty()) dir = checkpointDir;
    const AuditCheckResult result = checkAuditLog(*store, config.secretKey, dir);
    store->close();
    std::cout << result.message << '\n';
    return result.ok ? 0 : 1;
}

// Exit codes: 0 written, 1 not written (a broken chain, an unwritable directory), 2 nowhere to write.
int checkpointAuditLog(Config config, const std::string& dirOption) {
    const std::filesystem::path dir =
        dirOption.empty() ? config.audit.checkpointDir : std::filesystem::path(dirOption);
    if (dir.empty()) {
        std::cerr << "rampart audit checkpoint: say where (--dir DIR, or audit.checkpoint_dir)\n";
        return 2;
    }
    auto store = openAuditStore(config);
    if (!store) return 2;
    const AuditCheckpoint checkpoint = writeAuditCheckpoint(*store, config.secretKey, dir);
    store->close();
    std::cout << "audit checkpoint at row " << checkpoint.seq << " appended to "
              << (dir / kAuditCheckpointFile).string() << '\n';
    return 0;
}

}  // namespace

int runCli(int argc, char** argv) {
    CLI::App app{"Rampart: a secure-by-default job API server"};
    app.set_version_flag("--version", std::string("rampart ") + RAMPART_VERSION);
    app.require_subcommand(1);
    std::string configFile;
    app.add_option("--config", configFile, "TOML configuration file")->check(CLI::ExistingFile);

    ConfigSources sources;
    ServeOptions serveOptions;
    std::string listen, dataDir, portFile;
    unsigned threads = 0;
    auto* serveCommand =
        app.add_subcommand("serve", "Serve the API (with the scheduler and workers when they exist)");
    serveCommand->add_option("--listen", listen, "host:port to listen on (overrides RAMPART_LISTEN)");
    serveCommand->add_option("--data-dir", dataDir, "data directory (overrides RAMPART_DATA_DIR)");
    serveCommand->add_option("--threads", threads, "I/O threads (default: one per core)");
    serveCommand->add_option("--port-file", portFile, "write the bound port to this file once listening");
    bool noWorkers = false;
    serveCommand->add_flag("--no-workers", noWorkers,
                           "run no jobs in this process (an API node; same as jobs.run_workers = false)");
    serveCommand
        ->fallthrough();  // `rampart serve --config FILE` works as well as `rampart --config FILE serve`

    auto* workerCommand = app.add_subcommand(
        "worker", "Run jobs without serving the API (a worker node of a cluster on PostgreSQL)");
    std::vector<std::string> workerQueues;
    workerCommand
        ->add_option("--queues", workerQueues,
                     "run only these queues, comma-separated (each one of jobs.queues; default: all of them)")
        ->delimiter(',');
    workerCommand->fallthrough();

    auto* migrateCommand = app.add_subcommand("migrate", "Apply pending database migrations");
    std::string grantTo;
    migrateCommand->add_option("--grant-to", grantTo,
                               "PostgreSQL, run as the schema's owner: then give this role exactly the "
                               "privileges `rampart serve` needs (docs/deployment-postgresql.md)");
    bool deploy = false;
    auto* checkCommand = app.add_subcommand("check", "Audit the configuration");
    checkCommand->add_flag("--deploy", deploy, "security self-audit for a production deployment");

    auto* auditCommand = app.add_subcommand("audit", "Work with the audit log");
    auditCommand->require_subcommand(1);
    auto* auditVerifyCommand = auditCommand->add_subcommand(
        "verify", "Re-check the audit log's keyed hash chain; exit 1 if tampered");
    std::string verifyCheckpoints;
    auditVerifyCommand->add_option("--checkpoints", verifyCheckpoints,
                                   "also check the log against the signed checkpoints in this directory");
    auto* auditCheckpointCommand = auditCommand->add_subcommand(
        "checkpoint", "Verify the audit log, then append its signed head to a file outside the database");
    std::string checkpointDir;
    auditCheckpointCommand->add_option("--dir", checkpointDir,
                                       "the checkpoint directory (default: audit.checkpoint_dir)");

    AdminCommand adminCommand;
    addAdminCommands(app, adminCommand);

    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& error) {
        return app.exit(error);
    }

    if (!configFile.empty()) sources.file = configFile;
    sources.environment = rampartEnvironment();
    if (!listen.empty()) sources.overrides["listen"] = listen;
    if (!dataDir.empty()) sources.overrides["data_dir"] = dataDir;
    if (threads) sources.overrides["threads"] = std::to_string(threads);
    if (noWorkers) sources.overrides["jobs.run_workers"] = "false";
    if (!portFile.empty()) serveOptions.portFile = portFile;

    Config config;
    try {
        config = loadConfig(sources);
    } catch (const ConfigError& error) {
        std::cerr << "rampart: configuration error: " << error.what() << '\n';
        return 2;
    }
    setUpLogging(config);

    try {
        if (*serveCommand) return serve(std::move(config), serveOptions);
        if (*workerCommand) return work(std::move(config), workerQueues);
        if (*migrateCommand) {
            auto store = store::openStore(config.databaseUrl);
            int applied = store->migrate();
            std::cout << "applied " << applied << " migration(s); schema version " << store->schemaVersion()
                      << '\n';
            if (!grantTo.empty()) {
                auto* postgres = dynamic_cast<store::PostgresStore*>(store.get());
                if (postgres == nullptr) {
                    std::cerr << "rampart migrate: --grant-to is for PostgreSQL databases only\n";
                    return 2;
                }
                postgres->grantDataPrivileges(grantTo);
                std::cout << "granted data privileges to " << grantTo << '\n';
            }
            return 0;
        }
        if (*checkCommand) {
            if (!deploy) {
                std::cerr << "rampart check: say what to check (--deploy)\n";
                return 2;
            }
            auto findings = runDeployChecks(config);
            for (const auto& finding : findings) std::cout << formatFinding(finding) << '\n';
            if (findings.empty()) std::cout << "no findings\n";
            return hasCritical(findings) ? 1 : 0;
        }
        if (*auditVerifyCommand) return verifyAuditLog(std::move(config), verifyCheckpoints);
        if (*auditCheckpointCommand) return checkpointAuditLog(std::move(config), checkpointDir);
        if (*adminCommand.admin) {
            if (adminCommand.worksOnFiles()) return runAdminFileCommand(config, adminCommand);
            ensureDevelopmentSecretKey(config);
            return runAdmin(config, adminCommand);
        }
    } catch (const std::exception& error) {
        // Start-up failures: messages are ours (store and TLS errors never hold secrets).
        std::cerr << "rampart: " << error.what() << '\n';
        return 1;
    }
    return 0;
}

}  // namespace rampart
