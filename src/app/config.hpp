// Rampart's configuration: one struct, filled from defaults, a TOML file, RAMPART_* variables and flags.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "identity/auth_settings.hpp"

#include <boost/json/object.hpp>

#include "api/route_settings.hpp"
#include "core/secret_string.hpp"
#include "http/settings.hpp"
#include "identity/oidc_issuer.hpp"
#include "net/tls_files.hpp"
#include "obs/tracer.hpp"
#include "ratelimit/rate_limit_settings.hpp"
#include "store/store.hpp"

namespace rampart::jobs {
class TaskRegistry;
}

namespace rampart {

enum class Mode { development, production };

// Credentials, passwords and login throttling. Bounds are checked at load: a TTL outside its range, a
// minimum password length below 12 or Argon2 costs below OWASP's floor are configuration errors.
struct AuthConfig {
    std::string issuer = "rampart";                   // `iss` of the access tokens we sign
    std::string audience = "rampart-api";             // `aud` of the access tokens we sign and accept
    std::chrono::seconds accessTokenTtl{600};         // 300..900: short, since they are not revocable
    std::chrono::seconds refreshTokenTtl{1'209'600};  // 14 days; 3600..7776000
    std::chrono::seconds sessionTtl{28'800};          // 8 hours; 300..604800
    std::chrono::seconds apiTokenMaxTtl{31'536'000};  // a year at most; >= 3600
    bool requireAdminTotp = false;                    // defaults to true in production
    std::size_t passwordMinLength = 12;               // 12..128
    std::uint64_t argon2OpsLimit = 3;                 // >= 2
    std::uint64_t argon2MemoryKib = 65'536;           // >= 19456 (19 MiB, OWASP's minimum for Argon2id)
    std::size_t passwordHashThreads = 0;              // the hashing pool; 0: one per core
    identity::AuthSettings::HashPriority passwordHashPriority = identity::AuthSettings::HashPriority::idle;
    std::size_t passwordHashQueue = 0;       // hashes waiting for it; 0: four per thread
    unsigned loginMaxFailures = 5;           // failures before the lockout starts; 1..100
    std::chrono::seconds lockoutBase{60};    // first lockout; doubles with each further failure
    std::chrono::seconds lockoutMax{3'600};  // the back-off stops growing here
};

// One queue ([jobs] queues names them; [jobs.queue.NAME] in the TOML file refines one).
struct QueueConfig {
    std::string name;  // [a-z0-9._-], 1-64 characters
    std::optional<unsigned>
        concurrency{};  // in-process jobs at once; 0: external workers only; unset: default
    std::vector<std::string> submitRoles = {"admin", "user"};  // roles that may submit to it
    bool externalWorkers = true;  // callers with the worker role may lease its jobs
};

// The job engine ([jobs]).
struct JobsConfig {
    bool runWorkers = true;             // in-process workers in this process (serve --no-workers: false)
    unsigned workerConcurrency = 4;     // in-process jobs at once per queue, unless the queue says
    unsigned workerPrefetch = 256;      // jobs claimed ahead of the concurrency while jobs finish fast
    std::chrono::seconds lease{30};     // in-process lease; heartbeats renew it; 2..3600
    std::chrono::hours retention{336};  // finished jobs are deleted this long after they end; 0 keeps them
    std::size_t maxBatch = 1000;        // jobs per POST /api/v1/jobs/batch; 1..10000
    // Lease calls waiting for a job (wait_seconds), on this node and per worker account.
    std::size_t maxWaitingLeases = 2000;
    std::size_t maxWaitingLeasesPerAccount = 500;
    // `rampart worker` serves /healthz, /readyz and /metrics here: a loopback host:port; empty: not at all.
    std::string workerMetricsListen = "127.0.0.1:9464";
    std::vector<QueueConfig> queues = {QueueConfig{.name = "default"}};
};

// A task type declared in the configuration ([tasks.NAME], file only): no handler in the server, run
// by external workers (the Python SDK, or any HTTP client of the worker API). Its settings mean what
// they mean for the built-in types; unset ones take the built-ins' defaults. Checked at start-up and
// by `rampart check` (declaredTaskTypes in app/tasks.hpp compiles the schemas).
struct DeclaredTaskConfig {
    std::string name;  // 1-128 letters, digits and [._-]
    std::string description{};
    boost::json::object argsSchema{};                   // args_schema (inline) or args_schema_file
    std::optional<boost::json::object> resultSchema{};  // result_schema or result_schema_file
    std::optional<std::string> queue{};                 // must be one of jobs.queues; unset: "default"
    int priority = 0;                                   // -100..100
    std::optional<std::chrono::seconds> timeout{};      // timeout_seconds, 1..86400
    std::optional<int> maxAttempts{};                   // 1..100
    std::optional<std::chrono::seconds> retryBase{};    // retry_base_seconds
    std::optional<std::chrono::seconds> retryMax{};     // retry_max_seconds
    std::string origin{};                               // "FILE line N" of the table, for errors
};

// Periodic jobs ([schedules]): who may define them and how many there may be.
struct SchedulesConfig {
    bool allowUsers = false;           // users manage their own schedules (admins always manage all)
    unsigned maxPerUser = 100;         // schedules one owner may have; 1..100000
    unsigned maxTotal = 10000;         // schedules in the database; 1..1000000
    unsigned minIntervalSeconds = 10;  // an enabled schedule fires at most this often; 1..86400
    // Jobs the scheduler submits for one owner's schedules in a sliding minute; 1..1000000
    unsigned maxJobsPerOwnerPerMinute = 600;
};

// This node's scheduler ([scheduler]). `rampart serve` (also with --no-workers) runs it unless disabled;
// `rampart worker` never does. Any number may run: one holds the leader lease and fires the ticks.
struct SchedulerConfig {
    bool enabled = true;
    std::chrono::seconds misfireGrace{5};  // a tick later than this is missed (misfire policy); 1..3600
};

// Where tasks may connect ([egress]); the guard's address rules always apply on top.
struct EgressConfig {
    std::vector<std::string> allowDomains;  // non-empty: only these hosts ("example.com", ".example.com")
    std::vector<std::string> blockDomains;  // always refused
    std::size_t maxResponseBytes = 1024 * 1024;
    std::chrono::milliseconds timeout{10'000};
    unsigned maxRedirects = 5;  // 0..10
};

// [audit]: signed checkpoints of the audit log's head, outside the database (docs/security.md).
struct AuditConfig {
    std::filesystem::path checkpointDir;             // empty: no periodic checkpoint
    std::chrono::seconds checkpointInterval{3'600};  // 60 s .. 7 days
};

// [telemetry]: OpenTelemetry traces exported over OTLP/HTTP (docs/observability.md); off unless an endpoint
// is set. The OTEL_* variables of the OpenTelemetry specification are read too, between the file and the
// RAMPART_TELEMETRY__* variables (docs/configuration.md).
struct TelemetryConfig {
    std::string endpoint;        // the collector's base URL; traces go to <endpoint>/v1/traces
    std::string tracesEndpoint;  // the traces URL, used as given; wins over endpoint
    bool sdkDisabled = false;  // OTEL_SDK_DISABLED=true or OTEL_TRACES_EXPORTER=none: off whatever else says
    std::string serviceName = "rampart";
    bool serviceNameSet = false;  // service_name given: it wins over a service.name resource attribute
    std::vector<std::pair<std::string, std::string>> resourceAttributes;  // in order, as given
    obs::SamplerSettings sampler;  // sampler, sampler_arg, trust_incoming_sampled
    std::filesystem::path caFile;  // trust anchors for an https collector; empty: the system's
    // The collector's request headers (its credentials): only from headers_file or
    // OTEL_EXPORTER_OTLP_HEADERS, never from the TOML file's body or a flag. Names are checked tokens; values
    // are secret.
    std::filesystem::path headersFile;
    std::vector<std::pair<std::string, SecretString>> headers;
    std::size_t maxQueueSize = 2048;
    std::size_t maxExportBatchSize = 512;
    std::chrono::milliseconds scheduleDelay{1000};
    std::chrono::milliseconds exportTimeout{10'000};

    // The URL the exporter POSTs to; empty when tracing is off.
    [[nodiscard]] std::string tracesUrl() const;
    [[nodiscard]] bool enabled() const { return !tracesUrl().empty(); }
};

struct Config {
    Mode mode = Mode::development;                          // RAMPART_ENV
    std::string listen = "127.0.0.1:8080";                  // RAMPART_LISTEN, host:port
    std::filesystem::path dataDir = "./var";                // RAMPART_DATA_DIR
    SecretString databaseUrl{"sqlite://./var/rampart.db"};  // RAMPART_DATABASE_URL (may hold a password)
    std::optional<SecretString> redisUrl;                   // RAMPART_REDIS_URL
    std::filesystem::path redisCaFile;  // RAMPART_REDIS_CA_FILE: CAs for rediss://; empty = the system's
    unsigned databasePoolSize = 16;     // RAMPART_DATABASE_POOL_SIZE: PostgreSQL connections per process
    bool encryptPayloads = true;  // [store] encrypt_payloads: jobs' args, result, error, progress sealed
    // Secret settings (database_url, redis_url) whose value came from the TOML file: the deploy check
    // flags a password written there.
    std::vector<std::string> secretsInFile;
    SecretString secretKey;  // RAMPART_SECRET_KEY or _FILE; empty = missing
    // Where secretKey was read from (for the deploy check's permission test); empty when it came
    // from RAMPART_SECRET_KEY.
    std::filesystem::path secretKeyFile;                                 // RAMPART_SECRET_KEY_FILE
    std::vector<std::string> allowedHosts = {"localhost", "127.0.0.1"};  // RAMPART_ALLOWED_HOSTS
    net::TlsFiles tls;
    std::filesystem::path adminPasswordFile;  // RAMPART_ADMIN_PASSWORD_FILE
    unsigned threads = 0;                     // I/O threads; 0 = one per core
    std::string logLevel = "info";
    // The application log on stderr: "text" lines, or "json" objects that name the trace of the request or
    // job they are about (docs/observability.md). Defaults to json in production.
    std::string logFormat = "text";

    bool verboseErrors = false;               // error details for developers; never in production
    bool requireTls = false;                  // redirect plain HTTP to HTTPS; defaults to true in production
    std::vector<std::string> trustedProxies;  // peers allowed to set X-Forwarded-*/Forwarded
    bool tlsTerminatedByProxy = false;        // TLS ends at a trusted proxy in front of Rampart
    bool secureCookies = true;                // Secure attribute on cookies
    bool metricsPublic = false;               // /metrics to any client (default: loopback only)
    bool accessLog = true;                    // JSON lines on stdout

    http::HstsSettings hsts;
    http::ServerLimits limits;
    http::CorsSettings cors;
    AuthConfig auth;
    std::vector<identity::OidcIssuer> oidcIssuers;  // [[oidc.issuers]], file only
    std::vector<DeclaredTaskConfig> tasks;          // [tasks.NAME], file only
    JobsConfig jobs;
    EgressConfig egress;
    SchedulesConfig schedules;
    SchedulerConfig scheduler;
    ratelimit::RateLimitSettings rateLimits;
    AuditConfig audit;
    TelemetryConfig telemetry;

    [[nodiscard]] bool production() const { return mode == Mode::production; }
};

// Registers the declared task types after the built-ins; throws ConfigError naming the table (file
// and line) when one clashes with a built-in name or its schema does not compile. loadConfig has
// checked this once already, so `rampart check` and every start-up refuse a bad declaration.
void addDeclaredTasks(jobs::TaskRegistry& registry, const std::vector<DeclaredTaskConfig>& tasks);

// Each component's own settings, taken from the whole configuration.
http::ServerSettings serverSettings(const Config& config);
http::PipelineSettings pipelineSettings(const Config& config);
api::RouteSettings routeSettings(const Config& config);
// The listener of `rampart worker`'s /metrics (jobs.worker_metrics_listen): plain HTTP on loopback, with the
// server's limits; nullopt when it is off.
std::optional<http::ServerSettings> workerMetricsServerSettings(const Config& config);
// The store's options: the pool size, and the audit chain's key derived from the secret key (which
// must be set: ensureDevelopmentSecretKey first).
store::StoreOptions storeOptions(const Config& config);

// A configuration error at start-up: bad value, unreadable file. The message names the setting,
// never its value when the setting is a secret.
class ConfigError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

// Where configuration comes from, lowest precedence first: built-in defaults, the TOML file, the
// environment, then command-line overrides (already parsed into setting name -> value, using the
// TOML names, e.g. "listen", "limits.max_body_bytes"). docs/configuration.md lists every name.
// Unknown keys in the file or in overrides are errors; unknown RAMPART_* variables are ignored,
// because other tools may share the prefix. Empty RAMPART_* variables count as unset.
struct ConfigSources {
    std::optional<std::filesystem::path> file;
    std::map<std::string, std::string> environment;  // usually the process environment
    std::map<std::string, std::string> overrides;
};

// Combines the sources, validates every value, applies the mode-dependent defaults (production:
// require_tls, secure_cookies and auth.require_admin_totp on, unless set explicitly) and reads the secret key
// file, if any. Throws ConfigError.
Config loadConfig(const ConfigSources& sources);

// A listen address taken apart: host without brackets ("::1", "0.0.0.0", "localhost") and port.
struct ListenAddress {
    std::string host;
    std::uint16_t port = 0;
};

// Parses "host:port" or "[ipv6]:port" (port 0-65535, host non-empty); throws ConfigError saying
// what is wrong.
ListenAddress parseListenAddress(std::string_view text);

// The process environment as a map (only the RAMPART_* and OTEL_* entries).
std::map<std::string, std::string> rampartEnvironment();

// In development, when no secret key is configured, creates (once) a random key file in the data
// directory with mode 0600 and loads it. In production it does nothing: a missing key is a
// critical deploy-check finding. Throws ConfigError when the file cannot be created or read.
void ensureDevelopmentSecretKey(Config& config);

}  // namespace rampart
