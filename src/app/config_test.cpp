// Tests of loadConfig: layers and their precedence, every variable name, validation, secrets, and
// the development secret key.
#include "app/config.hpp"

#include "app/deploy_check.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "jobs/task_registry.hpp"
#include "testing/temp_directory.hpp"

namespace rampart {
namespace {

using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

using TempDir = rampart::testing::TempDirectory;

unsigned modeOf(const std::filesystem::path& path) {
    struct stat info {};
    EXPECT_EQ(::stat(path.c_str(), &info), 0);
    return info.st_mode & 07777;
}

std::string readAll(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream content;
    content << in.rdbuf();
    return content.str();
}

// The message of the ConfigError that loading these sources throws ("" when none is thrown).
std::string loadError(const ConfigSources& sources) {
    try {
        (void)loadConfig(sources);
    } catch (const ConfigError& error) {
        return error.what();
    }
    return "";
}

ConfigSources fromFile(const TempDir& dir, std::string_view toml) {
    ConfigSources sources;
    sources.file = dir.write("rampart.toml", toml);
    return sources;
}

ConfigSources fromEnvironment(std::map<std::string, std::string> environment) {
    ConfigSources sources;
    sources.environment = std::move(environment);
    return sources;
}

ConfigSources fromOverrides(std::map<std::string, std::string> overrides) {
    ConfigSources sources;
    sources.overrides = std::move(overrides);
    return sources;
}

TEST(LoadConfig, DefaultsSuitDevelopment) {
    const Config config = loadConfig({});
    EXPECT_EQ(config.mode, Mode::development);
    EXPECT_EQ(config.listen, "127.0.0.1:8080");
    EXPECT_EQ(config.dataDir, "./var");
    EXPECT_EQ(config.databaseUrl.reveal(), "sqlite://./var/rampart.db");
    EXPECT_FALSE(config.redisUrl);
    EXPECT_TRUE(config.encryptPayloads) << "job payloads are sealed at rest by default";
    EXPECT_TRUE(config.secretKey.empty());
    EXPECT_THAT(config.allowedHosts, ElementsAre("localhost", "127.0.0.1"));
    EXPECT_FALSE(config.requireTls);
    EXPECT_FALSE(config.secureCookies);
    EXPECT_FALSE(config.verboseErrors);
    EXPECT_EQ(config.logLevel, "info");
}

TEST(LoadConfig, FileThenEnvironmentThenOverrides) {
    TempDir dir;
    ConfigSources sources = fromFile(dir, R"(
listen = "127.0.0.1:1000"
threads = 2
log_level = "debug"
allowed_hosts = ["file.example.com"]
[limits]
max_body_bytes = 100
idle_timeout_ms = 1000
[hsts]
max_age_seconds = 10
)");
    sources.environment = {{"RAMPART_LISTEN", "127.0.0.1:2000"},
                           {"RAMPART_LIMITS__MAX_BODY_BYTES", "200"},
                           {"RAMPART_THREADS", "3"},
                           {"RAMPART_ALLOWED_HOSTS", "env.example.com"}};
    sources.overrides = {{"listen", "127.0.0.1:3000"}, {"limits.max_body_bytes", "300"}};

    const Config config = loadConfig(sources);
    EXPECT_EQ(config.listen, "127.0.0.1:3000");   // override beats environment and file
    EXPECT_EQ(config.limits.maxBodyBytes, 300U);  // override beats environment and file
    EXPECT_EQ(config.threads, 3U);                // environment beats file
    EXPECT_THAT(config.allowedHosts, ElementsAre("env.example.com"));
    EXPECT_EQ(config.logLevel, "debug");  // file beats default
    EXPECT_EQ(config.limits.idleTimeout, std::chrono::milliseconds(1000));
    EXPECT_EQ(config.hsts.maxAge, std::chrono::seconds(10));
    EXPECT_EQ(config.limits.maxHeaderBytes, 16U * 1024);  // default where nobody set it
}

TEST(LoadConfig, EveryPublicEnvironmentName) {
    TempDir dir;
    const Config config = loadConfig(fromEnvironment({
        {"RAMPART_ENV", "production"},
        {"RAMPART_LISTEN", "[::1]:9443"},
        {"RAMPART_DATA_DIR", dir.path().string()},
        {"RAMPART_DATABASE_URL", "postgresql://rampart:pw@db.internal/rampart?sslmode=verify-full"},
        {"RAMPART_REDIS_URL", "rediss://:pw@redis.internal:6380"},
        {"RAMPART_SECRET_KEY", "k3y-from-the-environment"},
        {"RAMPART_ALLOWED_HOSTS", "api.example.com, .example.org"},
        {"RAMPART_TLS_CERT", "/etc/rampart/cert.pem"},
        {"RAMPART_TLS_KEY", "/etc/rampart/key.pem"},
        {"RAMPART_ADMIN_PASSWORD_FILE", "/run/secrets/admin"},
    }));
    EXPECT_EQ(config.mode, Mode::production);
    EXPECT_EQ(config.listen, "[::1]:9443");
    EXPECT_EQ(config.dataDir, dir.path());
    EXPECT_EQ(config.databaseUrl.reveal(), "postgresql://rampart:pw@db.internal/rampart?sslmode=verify-full");
    ASSERT_TRUE(config.redisUrl);
    EXPECT_EQ(config.redisUrl->reveal(), "rediss://:pw@redis.internal:6380");
    EXPECT_EQ(config.secretKey.reveal(), "k3y-from-the-environment");
    EXPECT_TRUE(config.secretKeyFile.empty());
    EXPECT_THAT(config.allowedHosts, ElementsAre("api.example.com", ".example.org"));
    EXPECT_EQ(config.tls.certFile, "/etc/rampart/cert.pem");
    EXPECT_EQ(config.tls.keyFile, "/etc/rampart/key.pem");
    EXPECT_EQ(config.adminPasswordFile, "/run/secrets/admin");

    // RAMPART_SECRET_KEY_FILE is covered by SecretKeyFromFile.
}

TEST(LoadConfig, GenericEnvironmentRule) {
    const Config config = loadConfig(fromEnvironment({
        {"RAMPART_LIMITS__MAX_BODY_BYTES", "2048"},
        {"RAMPART_LIMITS__HEADER_TIMEOUT_MS", "1500"},
        {"RAMPART_CORS__ALLOWED_ORIGINS", "https://app.example.com, http://localhost:3000"},
        {"RAMPART_CORS__ALLOW_CREDENTIALS", "yes"},
        {"RAMPART_THREADS", "4"},
        {"RAMPART_TRUSTED_PROXIES", "10.0.0.0/8,::1"},
        {"RAMPART_TLS_TERMINATED_BY_PROXY", "1"},
        {"RAMPART_HSTS__INCLUDE_SUBDOMAINS", "no"},
        {"RAMPART_TLS__CERT", "/c.pem"},
        {"RAMPART_TLS__KEY", "/k.pem"},
        {"RAMPART_LOG_LEVEL", "warn"},
    }));
    EXPECT_EQ(config.limits.maxBodyBytes, 2048U);
    EXPECT_EQ(config.limits.headerTimeout, std::chrono::milliseconds(1500));
    EXPECT_THAT(config.cors.allowedOrigins, ElementsAre("https://app.example.com", "http://localhost:3000"));
    EXPECT_TRUE(config.cors.allowCredentials);
    EXPECT_EQ(config.threads, 4U);
    EXPECT_THAT(config.trustedProxies, ElementsAre("10.0.0.0/8", "::1"));
    EXPECT_TRUE(config.tlsTerminatedByProxy);
    EXPECT_FALSE(config.hsts.includeSubdomains);
    EXPECT_EQ(config.tls.certFile, "/c.pem");
    EXPECT_EQ(config.logLevel, "warn");
}

// Every setting, with a valid value as environment text and as a TOML literal.
struct SettingSample {
    std::string name;
    std::string text;
    std::string toml;
};

const std::vector<SettingSample>& allSettings() {
    static const std::vector<SettingSample> samples = {
        {"env", "production", R"("production")"},
        {"listen", "0.0.0.0:80", R"("0.0.0.0:80")"},
        {"data_dir", "/srv/rampart", R"("/srv/rampart")"},
        {"database_url", "postgres://db/rampart", R"("postgres://db/rampart")"},
        {"database_pool_size", "32", "32"},
        {"store.encrypt_payloads", "false", "false"},
        {"redis_url", "redis://localhost", R"("redis://localhost")"},
        {"redis_ca_file", "/etc/ssl/redis-ca.pem", R"("/etc/ssl/redis-ca.pem")"},
        {"secret_key_file", "/run/secrets/key", R"("/run/secrets/key")"},
        {"allowed_hosts", "a.example.com", R"(["a.example.com"])"},
        {"threads", "8", "8"},
        {"log_level", "error", R"("error")"},
        {"verbose_errors", "true", "true"},
        {"require_tls", "false", "false"},
        {"trusted_proxies", "192.168.0.0/16", R"(["192.168.0.0/16"])"},
        {"tls_terminated_by_proxy", "true", "true"},
        {"secure_cookies", "true", "true"},
        {"metrics_public", "true", "true"},
        {"admin_password_file", "/run/secrets/admin", R"("/run/secrets/admin")"},
        {"tls.cert", "/c.pem", R"("/c.pem")"},
        {"tls.key", "/k.pem", R"("/k.pem")"},
        {"hsts.max_age_seconds", "600", "600"},
        {"hsts.include_subdomains", "false", "false"},
        {"hsts.preload", "true", "true"},
        {"limits.max_header_bytes", "8192", "8192"},
        {"limits.max_body_bytes", "4096", "4096"},
        {"limits.header_timeout_ms", "5000", "5000"},
        {"limits.body_timeout_ms", "5000", "5000"},
        {"limits.idle_timeout_ms", "5000", "5000"},
        {"limits.write_timeout_ms", "5000", "5000"},
        {"limits.shutdown_grace_ms", "0", "0"},
        {"limits.max_connections", "100", "100"},
        {"cors.allowed_origins", "https://app.example.com", R"(["https://app.example.com"])"},
        {"cors.allowed_headers", "Authorization", R"(["Authorization"])"},
        {"cors.allow_credentials", "true", "true"},
        {"cors.max_age_seconds", "60", "60"},
        {"auth.issuer", "https://rampart.example.com", R"("https://rampart.example.com")"},
        {"auth.audience", "jobs", R"("jobs")"},
        {"auth.access_token_ttl_s", "300", "300"},
        {"auth.refresh_token_ttl_s", "86400", "86400"},
        {"auth.session_ttl_s", "3600", "3600"},
        {"auth.api_token_max_ttl_s", "7200", "7200"},
        {"auth.require_admin_totp", "true", "true"},
        {"auth.password_min_length", "16", "16"},
        {"auth.argon2_ops_limit", "4", "4"},
        {"auth.argon2_memory_kib", "19456", "19456"},
        {"auth.password_hash_threads", "2", "2"},
        {"auth.password_hash_queue", "16", "16"},
        {"auth.password_hash_priority", "low", R"("low")"},
        {"auth.login_max_failures", "10", "10"},
        {"auth.lockout_base_s", "30", "30"},
        {"auth.lockout_max_s", "600", "600"},
        {"jobs.run_workers", "false", "false"},
        {"jobs.worker_concurrency", "16", "16"},
        {"jobs.lease_seconds", "10", "10"},
        {"jobs.retention_hours", "48", "48"},
        {"jobs.max_batch", "500", "500"},
        {"jobs.worker_metrics_listen", "[::1]:9100", R"("[::1]:9100")"},
        {"jobs.queues", "default,reports", R"(["default", "reports"])"},
        {"schedules.allow_users", "true", "true"},
        {"schedules.max_per_user", "5", "5"},
        {"schedules.max_total", "50", "50"},
        {"schedules.min_interval_seconds", "1", "1"},
        {"schedules.max_jobs_per_owner_per_minute", "20", "20"},
        {"scheduler.enabled", "false", "false"},
        {"scheduler.misfire_grace_seconds", "30", "30"},
        {"egress.allow_domains", ".example.com", R"([".example.com"])"},
        {"egress.block_domains", "evil.example.com", R"(["evil.example.com"])"},
        {"egress.max_response_bytes", "65536", "65536"},
        {"egress.timeout_ms", "5000", "5000"},
        {"egress.max_redirects", "0", "0"},
        {"jobs.max_waiting_leases", "300", "300"},
        {"jobs.max_waiting_leases_per_account", "30", "30"},
        {"rate_limits.enabled", "false", "false"},
        {"rate_limits.anon", "50/hour", R"("50/hour")"},
        {"rate_limits.user", "5000/day", R"("5000/day")"},
        {"rate_limits.worker", "20/second", R"("20/second")"},
        {"rate_limits.global", "10000/minute", R"("10000/minute")"},
        {"rate_limits.scopes.login", "10/5m", R"("10/5m")"},
        {"rate_limits.scopes.jobs.submit", "off", R"("off")"},
        {"rate_limits.tokens", "AbCdEfGhIjKlMnOpQrStUv=100000/hour",
         R"({ AbCdEfGhIjKlMnOpQrStUv = "100000/hour" })"},
        {"rate_limits.fail_closed", "true", "true"},
        {"rate_limits.max_keys", "500000", "500000"},
        {"telemetry.endpoint", "https://otel.example.com:4318", R"("https://otel.example.com:4318")"},
        {"telemetry.traces_endpoint", "http://127.0.0.1:4318/v1/traces",
         R"("http://127.0.0.1:4318/v1/traces")"},
        {"telemetry.service_name", "jobs-api", R"("jobs-api")"},
        {"telemetry.resource_attributes", "deployment.environment=prod",
         R"({ "deployment.environment" = "prod" })"},
        {"telemetry.sampler", "parentbased_traceidratio", R"("parentbased_traceidratio")"},
        {"telemetry.sampler_arg", "0.25", "0.25"},
        {"telemetry.trust_incoming_sampled", "true", "true"},
        {"telemetry.ca_file", "/etc/ssl/otel-ca.pem", R"("/etc/ssl/otel-ca.pem")"},
        {"telemetry.headers_file", "(written by the test)", "(written by the test)"},
        {"telemetry.max_queue_size", "4096", "4096"},
        {"telemetry.max_export_batch_size", "256", "256"},
        {"telemetry.schedule_delay_ms", "500", "500"},
        {"telemetry.export_timeout_ms", "3000", "3000"},
    };
    return samples;
}

std::string environmentName(std::string name) {
    std::string result = "RAMPART_";
    for (char c : name)
        result += c == '.' ? std::string("__") : std::string(1, static_cast<char>(std::toupper(c)));
    return result;
}

std::string tomlDocument(const SettingSample& sample) {
    const auto dot = sample.name.find('.');
    if (dot == std::string::npos) return fmt::format("{} = {}\n", sample.name, sample.toml);
    return fmt::format("[{}]\n{} = {}\n", sample.name.substr(0, dot), sample.name.substr(dot + 1),
                       sample.toml);
}

TEST(LoadConfig, EverySettingHasAFileKeyAVariableAndAnOverride) {
    TempDir dir;
    const std::string keyFile = dir.write("key", std::string(64, 'k') + "abcd\n").string();
    for (SettingSample sample : allSettings()) {
        SCOPED_TRACE(sample.name);
        // Settings that need a partner to load on their own.
        std::map<std::string, std::string> partner;
        if (sample.name == "tls.cert") partner = {{"tls.key", "/k.pem"}};
        if (sample.name == "tls.key") partner = {{"tls.cert", "/c.pem"}};
        if (sample.name == "secret_key_file") {
            sample.text = keyFile;
            sample.toml = fmt::format("\"{}\"", keyFile);
        }
        if (sample.name == "telemetry.headers_file") {
            sample.text = dir.write("otel-headers", "Authorization=Bearer abc\n").string();
            sample.toml = fmt::format("\"{}\"", sample.text);
        }

        ConfigSources file = fromFile(dir, tomlDocument(sample));
        file.overrides = partner;
        EXPECT_EQ(loadError(file), "");

        ConfigSources environment = fromEnvironment({{environmentName(sample.name), sample.text}});
        environment.overrides = partner;
        EXPECT_EQ(loadError(environment), "");

        std::map<std::string, std::string> overrides = partner;
        overrides[sample.name] = sample.text;
        EXPECT_EQ(loadError(fromOverrides(overrides)), "");
    }
}

TEST(LoadConfig, EnvironmentAndFileAgreeOnEveryValue) {
    TempDir dir;
    const Config viaEnvironment = loadConfig(fromEnvironment({{"RAMPART_LIMITS__WRITE_TIMEOUT_MS", "1234"},
                                                              {"RAMPART_CORS__MAX_AGE_SECONDS", "77"},
                                                              {"RAMPART_HSTS__PRELOAD", "TRUE"}}));
    const Config viaFile = loadConfig(fromFile(
        dir, "[limits]\nwrite_timeout_ms = 1234\n[cors]\nmax_age_seconds = 77\n[hsts]\npreload = true\n"));
    EXPECT_EQ(viaEnvironment.limits.writeTimeout, viaFile.limits.writeTimeout);
    EXPECT_EQ(viaEnvironment.cors.maxAge, viaFile.cors.maxAge);
    EXPECT_EQ(viaEnvironment.hsts.preload, viaFile.hsts.preload);
    EXPECT_TRUE(viaFile.hsts.preload);
}

TEST(LoadConfig, BooleanSpellings) {
    for (const auto& [text, expected] : std::vector<std::pair<std::string, bool>>{{"true", true},
                                                                                  {"1", true},
                                                                                  {"yes", true},
                                                                                  {"YES", true},
                                                                                  {"false", false},
                                                                                  {"0", false},
                                                                                  {"no", false}}) {
        SCOPED_TRACE(text);
        EXPECT_EQ(loadConfig(fromEnvironment({{"RAMPART_METRICS_PUBLIC", text}})).metricsPublic, expected);
    }
}

TEST(LoadConfig, PublicAliasAndGenericNameTogetherAreAnError) {
    const std::string error = loadError(fromEnvironment(
        {{"RAMPART_TLS_CERT", "/a.pem"}, {"RAMPART_TLS__CERT", "/b.pem"}, {"RAMPART_TLS_KEY", "/k.pem"}}));
    EXPECT_THAT(error, HasSubstr("RAMPART_TLS_CERT"));
    EXPECT_THAT(error, HasSubstr("RAMPART_TLS__CERT"));
}

TEST(LoadConfig, UnknownAndEmptyVariablesAreIgnored) {
    const Config config = loadConfig(fromEnvironment({{"RAMPART_SOMETHING_ELSE", "x"},
                                                      {"RAMPART_LISTEN", ""},
                                                      {"RAMPART_SECRET_KEY", ""},
                                                      {"OTHER", "y"}}));
    EXPECT_EQ(config.listen, "127.0.0.1:8080");
    EXPECT_TRUE(config.secretKey.empty());
}

TEST(LoadConfig, ProductionTurnsOnTlsAndSecureCookies) {
    const Config config = loadConfig(fromEnvironment({{"RAMPART_ENV", "production"}}));
    EXPECT_TRUE(config.production());
    EXPECT_TRUE(config.requireTls);
    EXPECT_TRUE(config.secureCookies);
}

TEST(LoadConfig, ModeDefaultsFollowTheFinalMode) {
    TempDir dir;
    // The file says production, the environment says development: development wins, and so do its defaults.
    ConfigSources sources = fromFile(dir, "env = \"production\"\n");
    sources.environment = {{"RAMPART_ENV", "development"}};
    const Config config = loadConfig(sources);
    EXPECT_EQ(config.mode, Mode::development);
    EXPECT_FALSE(config.requireTls);
    EXPECT_FALSE(config.secureCookies);
}

TEST(LoadConfig, ExplicitSettingBeatsModeDefault) {
    TempDir dir;
    ConfigSources production = fromFile(dir, "env = \"production\"\nrequire_tls = false\n");
    production.overrides = {{"secure_cookies", "false"}};
    const Config config = loadConfig(production);
    EXPECT_FALSE(config.requireTls);
    EXPECT_FALSE(config.secureCookies);

    const Config development = loadConfig(fromEnvironment({{"RAMPART_SECURE_COOKIES", "true"}}));
    EXPECT_TRUE(development.secureCookies);
    EXPECT_FALSE(development.requireTls);
}

TEST(LoadConfig, AuthDefaults) {
    const Config development = loadConfig({});
    EXPECT_EQ(development.auth.issuer, "rampart");
    EXPECT_EQ(development.auth.audience, "rampart-api");
    EXPECT_EQ(development.auth.accessTokenTtl, std::chrono::seconds(600));
    EXPECT_EQ(development.auth.refreshTokenTtl, std::chrono::seconds(1'209'600));
    EXPECT_EQ(development.auth.sessionTtl, std::chrono::seconds(28'800));
    EXPECT_EQ(development.auth.apiTokenMaxTtl, std::chrono::seconds(31'536'000));
    EXPECT_FALSE(development.auth.requireAdminTotp);
    EXPECT_EQ(development.auth.passwordMinLength, 12U);
    EXPECT_EQ(development.auth.argon2OpsLimit, 3U);
    EXPECT_EQ(development.auth.argon2MemoryKib, 65'536U);
    EXPECT_EQ(development.auth.loginMaxFailures, 5U);
    EXPECT_EQ(development.auth.lockoutBase, std::chrono::seconds(60));
    EXPECT_EQ(development.auth.lockoutMax, std::chrono::seconds(3'600));

    EXPECT_TRUE(loadConfig(fromEnvironment({{"RAMPART_ENV", "production"}})).auth.requireAdminTotp);
}

TEST(LoadConfig, AdminTotpFollowsModeUnlessSetExplicitly) {
    const Config production = loadConfig(
        fromEnvironment({{"RAMPART_ENV", "production"}, {"RAMPART_AUTH__REQUIRE_ADMIN_TOTP", "false"}}));
    EXPECT_FALSE(production.auth.requireAdminTotp);
    EXPECT_TRUE(loadConfig(fromOverrides({{"auth.require_admin_totp", "true"}})).auth.requireAdminTotp);
}

TEST(LoadConfig, LogFormatIsTextOrJsonAndAnythingElseNamesTheKey) {
    TempDir dir;
    EXPECT_EQ(loadConfig(fromFile(dir, "log_format = \"json\"\n")).logFormat, "json");
    EXPECT_EQ(loadConfig(fromEnvironment({{"RAMPART_LOG_FORMAT", "text"}})).logFormat, "text");
    // (An empty variable counts as unset; an empty value in the file does not.)
    for (const ConfigSources& sources :
         {fromEnvironment({{"RAMPART_LOG_FORMAT", "xml"}}), fromEnvironment({{"RAMPART_LOG_FORMAT", "JSON"}}),
          fromEnvironment({{"RAMPART_LOG_FORMAT", "json\n"}}), fromFile(dir, "log_format = \"\"\n")}) {
        const std::string error = loadError(sources);
        EXPECT_NE(error.find("log_format"), std::string::npos) << error;
        EXPECT_NE(error.find("must be text or json"), std::string::npos) << error;
    }
}

TEST(LoadConfig, AuthBoundsAreEnforced) {
    TempDir dir;
    const std::pair<std::string, std::string> refused[] = {
        {"RAMPART_AUTH__ACCESS_TOKEN_TTL_S", "299"},
        {"RAMPART_AUTH__ACCESS_TOKEN_TTL_S", "901"},
        {"RAMPART_AUTH__REFRESH_TOKEN_TTL_S", "3599"},
        {"RAMPART_AUTH__REFRESH_TOKEN_TTL_S", "7776001"},
        {"RAMPART_AUTH__SESSION_TTL_S", "299"},
        {"RAMPART_AUTH__SESSION_TTL_S", "604801"},
        {"RAMPART_AUTH__API_TOKEN_MAX_TTL_S", "3599"},
        {"RAMPART_AUTH__PASSWORD_MIN_LENGTH", "11"},
        {"RAMPART_AUTH__PASSWORD_MIN_LENGTH", "8"},
        {"RAMPART_AUTH__PASSWORD_MIN_LENGTH", "129"},
        {"RAMPART_AUTH__ARGON2_OPS_LIMIT", "1"},
        {"RAMPART_AUTH__ARGON2_MEMORY_KIB", "19455"},
        {"RAMPART_AUTH__LOGIN_MAX_FAILURES", "0"},
        {"RAMPART_AUTH__LOGIN_MAX_FAILURES", "101"},
        {"RAMPART_AUTH__LOCKOUT_BASE_S", "0"},
        {"RAMPART_AUTH__ISSUER", ""},
        // Only the three priorities: no nice value, no real-time policy, no other spelling.
        {"RAMPART_AUTH__PASSWORD_HASH_PRIORITY", "realtime"},
        {"RAMPART_AUTH__PASSWORD_HASH_PRIORITY", "-20"},
        {"RAMPART_AUTH__PASSWORD_HASH_PRIORITY", "IDLE"},
    };
    for (const auto& [variable, value] : refused) {
        SCOPED_TRACE(variable + "=" + value);
        const std::string error = loadError(fromEnvironment({{variable, value}}));
        if (value.empty()) {
            EXPECT_EQ(error, "");  // an empty variable counts as unset
        } else {
            EXPECT_THAT(error, HasSubstr(variable));
        }
    }
    EXPECT_THAT(loadError(fromFile(dir, "[auth]\nissuer = \"\"\n")), HasSubstr("auth.issuer"));
    // The edges themselves are accepted.
    const Config edges = loadConfig(fromEnvironment({{"RAMPART_AUTH__ACCESS_TOKEN_TTL_S", "900"},
                                                     {"RAMPART_AUTH__SESSION_TTL_S", "300"},
                                                     {"RAMPART_AUTH__PASSWORD_MIN_LENGTH", "128"}}));
    EXPECT_EQ(edges.auth.accessTokenTtl, std::chrono::seconds(900));
    EXPECT_EQ(edges.auth.sessionTtl, std::chrono::seconds(300));
    EXPECT_EQ(edges.auth.passwordMinLength, 128U);
    EXPECT_THAT(loadError(fromEnvironment(
                    {{"RAMPART_AUTH__LOCKOUT_BASE_S", "600"}, {"RAMPART_AUTH__LOCKOUT_MAX_S", "60"}})),
                AllOf(HasSubstr("auth.lockout_max_s"), HasSubstr("auth.lockout_base_s")));
}

TEST(LoadConfig, DatabaseUrlDefaultFollowsDataDir) {
    EXPECT_EQ(loadConfig(fromEnvironment({{"RAMPART_DATA_DIR", "/srv/rampart"}})).databaseUrl.reveal(),
              "sqlite:///srv/rampart/rampart.db");
    EXPECT_EQ(loadConfig(fromOverrides({{"data_dir", "data"}})).databaseUrl.reveal(),
              "sqlite://data/rampart.db");

    const Config explicitUrl = loadConfig(fromEnvironment(
        {{"RAMPART_DATA_DIR", "/srv/rampart"}, {"RAMPART_DATABASE_URL", "sqlite:///elsewhere.db"}}));
    EXPECT_EQ(explicitUrl.databaseUrl.reveal(), "sqlite:///elsewhere.db");
}

TEST(LoadConfig, SecretKeyFromEnvironment) {
    const Config config = loadConfig(fromEnvironment({{"RAMPART_SECRET_KEY", "from-env"}}));
    EXPECT_EQ(config.secretKey.reveal(), "from-env");
}

TEST(LoadConfig, SecretKeyFromFile) {
    TempDir dir;
    const auto keyFile = dir.write("key", "from-a-file\n");
    const Config viaEnvironment =
        loadConfig(fromEnvironment({{"RAMPART_SECRET_KEY_FILE", keyFile.string()}}));
    EXPECT_EQ(viaEnvironment.secretKey.reveal(), "from-a-file");  // trailing newline stripped
    EXPECT_EQ(viaEnvironment.secretKeyFile, keyFile);

    const Config viaToml =
        loadConfig(fromFile(dir, fmt::format("secret_key_file = \"{}\"\n", keyFile.string())));
    EXPECT_EQ(viaToml.secretKey.reveal(), "from-a-file");
}

TEST(LoadConfig, SecretKeyFileProblemsNameThePathNotTheContent) {
    TempDir dir;
    const auto missing = dir.path() / "no-such-key";
    EXPECT_THAT(loadError(fromEnvironment({{"RAMPART_SECRET_KEY_FILE", missing.string()}})),
                HasSubstr(missing.string()));

    const auto empty = dir.write("empty-key", "\n");
    EXPECT_THAT(loadError(fromEnvironment({{"RAMPART_SECRET_KEY_FILE", empty.string()}})),
                HasSubstr("empty"));

    EXPECT_THAT(loadError(fromEnvironment({{"RAMPART_SECRET_KEY_FILE", dir.path().string()}})),
                HasSubstr("not a regular file"));
}

TEST(LoadConfig, SecretKeyTwiceIsAnError) {
    TempDir dir;
    const auto keyFile = dir.write("key", "key-in-file-1234");
    const std::string error = loadError(fromEnvironment(
        {{"RAMPART_SECRET_KEY", "key-in-env-5678"}, {"RAMPART_SECRET_KEY_FILE", keyFile.string()}}));
    EXPECT_THAT(error, HasSubstr("RAMPART_SECRET_KEY"));
    EXPECT_THAT(error, Not(HasSubstr("key-in-env-5678")));
    EXPECT_THAT(error, Not(HasSubstr("key-in-file-1234")));

    // Also across layers: the key file in TOML, the key in the environment.
    ConfigSources mixed = fromFile(dir, fmt::format("secret_key_file = \"{}\"\n", keyFile.string()));
    mixed.environment = {{"RAMPART_SECRET_KEY", "key-in-env-5678"}};
    EXPECT_THAT(loadError(mixed), HasSubstr("set only one"));
}

TEST(LoadConfig, SecretKeyInTomlIsRefused) {
    TempDir dir;
    const std::string error = loadError(fromFile(dir, "secret_key = \"toml-secret-value-42\"\n"));
    EXPECT_THAT(error, HasSubstr("RAMPART_SECRET_KEY"));
    EXPECT_THAT(error, HasSubstr("secret_key_file"));
    EXPECT_THAT(error, Not(HasSubstr("toml-secret-value-42")));

    EXPECT_THAT(loadError(fromOverrides({{"secret_key", "cli-secret-value-42"}})),
                AllOf(HasSubstr("RAMPART_SECRET_KEY"), Not(HasSubstr("cli-secret-value-42"))));
}

TEST(LoadConfig, UnknownKeysAreErrorsNamingTheKey) {
    TempDir dir;
    EXPECT_THAT(loadError(fromFile(dir, "[limits]\nmax_body_byte = 10\n")),
                AllOf(HasSubstr("limits.max_body_byte"), HasSubstr("did you mean 'limits.max_body_bytes'")));
    EXPECT_THAT(loadError(fromFile(dir, "alowed_hosts = [\"a\"]\n")), HasSubstr("alowed_hosts"));
    EXPECT_THAT(loadError(fromFile(dir, "[server]\nport = 1\n")), HasSubstr("server"));
    EXPECT_THAT(loadError(fromFile(dir, "limits = 5\n")), HasSubstr("must be a table"));
    EXPECT_THAT(loadError(fromOverrides({{"listen_address", "x"}})), HasSubstr("listen_address"));
}

TEST(LoadConfig, MissingOrBrokenFileIsAnError) {
    TempDir dir;
    ConfigSources missing;
    missing.file = dir.path() / "absent.toml";
    EXPECT_THAT(loadError(missing), HasSubstr("absent.toml"));

    // A syntax error on a secret's line must not quote the secret.
    const std::string error = loadError(fromFile(dir, "database_url = postgres://u:topsecretpw@h/db\n"));
    EXPECT_THAT(error, HasSubstr("rampart.toml"));
    EXPECT_THAT(error, Not(HasSubstr("topsecretpw")));
}

TEST(LoadConfig, BadListenAddresses) {
    for (const std::string bad :
         {"localhost", "127.0.0.1:70000", ":8080", "::1:8080", "[::1]8080", "[::1:8080",
          "127.0.0.1:", "127.0.0.1:-1", "127.0.0.1:80x", "[zz]:80", "a b:80"}) {
        SCOPED_TRACE(bad);
        EXPECT_THAT(loadError(fromEnvironment({{"RAMPART_LISTEN", bad}})),
                    AllOf(HasSubstr("listen"), HasSubstr("RAMPART_LISTEN")));
    }
    for (const std::string good :
         {"[::1]:8080", "0.0.0.0:0", "localhost:65535", "[::]:443", "api.internal:80"}) {
        SCOPED_TRACE(good);
        EXPECT_EQ(loadError(fromEnvironment({{"RAMPART_LISTEN", good}})), "");
    }
}

TEST(ParseListenAddress, TakesHostAndPortApart) {
    const ListenAddress v6 = parseListenAddress("[::1]:8080");
    EXPECT_EQ(v6.host, "::1");
    EXPECT_EQ(v6.port, 8080);
    const ListenAddress v4 = parseListenAddress("0.0.0.0:0");
    EXPECT_EQ(v4.host, "0.0.0.0");
    EXPECT_EQ(v4.port, 0);
    EXPECT_THROW(parseListenAddress("0.0.0.0:65536"), ConfigError);
}

TEST(LoadConfig, BadValuesNameTheSetting) {
    TempDir dir;
    EXPECT_THAT(loadError(fromEnvironment({{"RAMPART_REQUIRE_TLS", "maybe"}})),
                AllOf(HasSubstr("require_tls"), HasSubstr("RAMPART_REQUIRE_TLS"), HasSubstr("maybe")));
    EXPECT_THAT(loadError(fromEnvironment({{"RAMPART_LIMITS__MAX_BODY_BYTES", "10MB"}})),
                HasSubstr("limits.max_body_bytes"));
    EXPECT_THAT(loadError(fromEnvironment({{"RAMPART_LIMITS__MAX_BODY_BYTES", "0"}})),
                HasSubstr("limits.max_body_bytes"));
    EXPECT_THAT(loadError(fromEnvironment({{"RAMPART_LIMITS__MAX_BODY_BYTES", "-5"}})),
                HasSubstr("limits.max_body_bytes"));
    EXPECT_THAT(loadError(fromFile(dir, "[limits]\nmax_body_bytes = -5\n")),
                HasSubstr("limits.max_body_bytes"));
    EXPECT_THAT(loadError(fromFile(dir, "[limits]\nmax_body_bytes = \"1024\"\n")),
                AllOf(HasSubstr("limits.max_body_bytes"), HasSubstr("must be an integer")));
    EXPECT_THAT(loadError(fromFile(dir, "threads = 1.5\n")), HasSubstr("threads"));
    EXPECT_THAT(loadError(fromFile(dir, "require_tls = \"yes\"\n")), HasSubstr("require_tls"));
    EXPECT_THAT(loadError(fromFile(dir, "allowed_hosts = \"a.example.com\"\n")), HasSubstr("allowed_hosts"));
    EXPECT_THAT(loadError(fromEnvironment({{"RAMPART_ENV", "staging"}})), HasSubstr("env"));
    EXPECT_THAT(loadError(fromEnvironment({{"RAMPART_LOG_LEVEL", "loud"}})), HasSubstr("log_level"));
    EXPECT_THAT(loadError(fromEnvironment({{"RAMPART_LIMITS__IDLE_TIMEOUT_MS", "999999999999"}})),
                HasSubstr("limits.idle_timeout_ms"));
    EXPECT_THAT(loadError(fromEnvironment({{"RAMPART_TRUSTED_PROXIES", "10.0.0.0/33"}})),
                HasSubstr("trusted_proxies"));
    EXPECT_THAT(loadError(fromEnvironment({{"RAMPART_CORS__ALLOWED_ORIGINS", "https://app.example.com/"}})),
                HasSubstr("cors.allowed_origins"));
    EXPECT_THAT(loadError(fromEnvironment({{"RAMPART_ALLOWED_HOSTS", "https://api.example.com"}})),
                HasSubstr("allowed_hosts"));
    EXPECT_THAT(loadError(fromEnvironment({{"RAMPART_TLS_CERT", "/c.pem"}})), HasSubstr("tls.key"));
    EXPECT_THAT(loadError(fromEnvironment({{"RAMPART_ALLOWED_HOSTS", "api.example.com:8080"}})),
                HasSubstr("allowed_hosts"));
    EXPECT_THAT(
        loadConfig(fromEnvironment({{"RAMPART_ALLOWED_HOSTS", ".example.com,[::1],10.0.0.1"}})).allowedHosts,
        ElementsAre(".example.com", "[::1]", "10.0.0.1"));
}

TEST(LoadConfig, BadSecretValuesAreNeverEchoed) {
    TempDir dir;
    const std::string database =
        loadError(fromEnvironment({{"RAMPART_DATABASE_URL", "mysql://u:hunter2pass@db/x"}}));
    EXPECT_THAT(database, HasSubstr("database_url"));
    EXPECT_THAT(database, Not(HasSubstr("hunter2pass")));

    const std::string redis = loadError(fromFile(dir, "redis_url = \"http://:redispass77@cache\"\n"));
    EXPECT_THAT(redis, HasSubstr("redis_url"));
    EXPECT_THAT(redis, Not(HasSubstr("redispass77")));

    // A redis:// URL that is wrong past its scheme: refused at load time, still without the password.
    for (const char* url : {"redis://u:redispass77@cache:99999", "redis://u:redispass77@cache/x",
                            "redis://u:redispass77@cache?tls=1", "rediss://redispass77@cache"}) {
        const std::string refused = loadError(fromEnvironment({{"RAMPART_REDIS_URL", url}}));
        EXPECT_THAT(refused, HasSubstr("redis_url"));
        EXPECT_THAT(refused, Not(HasSubstr("redispass77")));
    }

    const std::string override = loadError(fromOverrides({{"database_url", "oracle://sys:overridepw@x"}}));
    EXPECT_THAT(override, HasSubstr("database_url"));
    EXPECT_THAT(override, Not(HasSubstr("overridepw")));
}

TEST(RampartEnvironment, ReturnsOnlyRampartAndOpenTelemetryVariables) {
    ASSERT_EQ(::setenv("RAMPART_CONFIG_TEST_PROBE", "probe-value", 1), 0);
    ASSERT_EQ(::setenv("OTEL_CONFIG_TEST_PROBE", "otel-value", 1), 0);
    ASSERT_EQ(::setenv("NOT_RAMPART_CONFIG_TEST_PROBE", "x", 1), 0);
    const auto environment = rampartEnvironment();
    ::unsetenv("RAMPART_CONFIG_TEST_PROBE");
    ::unsetenv("OTEL_CONFIG_TEST_PROBE");
    ::unsetenv("NOT_RAMPART_CONFIG_TEST_PROBE");
    ASSERT_TRUE(environment.contains("RAMPART_CONFIG_TEST_PROBE"));
    EXPECT_EQ(environment.at("RAMPART_CONFIG_TEST_PROBE"), "probe-value");
    EXPECT_EQ(environment.at("OTEL_CONFIG_TEST_PROBE"), "otel-value");
    for (const auto& [name, value] : environment)
        EXPECT_TRUE(name.starts_with("RAMPART_") || name.starts_with("OTEL_")) << name;
}

TEST(EnsureDevelopmentSecretKey, CreatesAPrivateKeyFileOnceAndReusesIt) {
    TempDir dir;
    Config first;
    first.dataDir = dir.path() / "var/";  // a trailing slash must not cost the directory its 0700
    ensureDevelopmentSecretKey(first);

    const auto keyFile = dir.path() / "var" / "secret_key";
    ASSERT_TRUE(std::filesystem::exists(keyFile));
    EXPECT_EQ(modeOf(keyFile), 0600U);
    EXPECT_EQ(modeOf(dir.path() / "var"), 0700U);
    EXPECT_EQ(first.secretKey.size(), 64U);
    EXPECT_EQ(first.secretKeyFile.lexically_normal(), keyFile);
    for (char c : first.secretKey.reveal())
        EXPECT_TRUE(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_');
    const std::string onDisk = readAll(keyFile);

    Config second;
    second.dataDir = first.dataDir;
    ensureDevelopmentSecretKey(second);
    EXPECT_EQ(second.secretKey.reveal(), first.secretKey.reveal());
    EXPECT_EQ(readAll(keyFile), onDisk);  // not rewritten

    TempDir other;
    Config third;
    third.dataDir = other.path();
    ensureDevelopmentSecretKey(third);
    EXPECT_NE(third.secretKey.reveal(), first.secretKey.reveal());
}

TEST(EnsureDevelopmentSecretKey, LeavesAConfiguredKeyAlone) {
    TempDir dir;
    Config config;
    config.dataDir = dir.path();
    config.secretKey = SecretString("configured");
    ensureDevelopmentSecretKey(config);
    EXPECT_EQ(config.secretKey.reveal(), "configured");
    EXPECT_FALSE(std::filesystem::exists(dir.path() / "secret_key"));
}

TEST(EnsureDevelopmentSecretKey, DoesNothingInProduction) {
    TempDir dir;
    Config config;
    config.mode = Mode::production;
    config.dataDir = dir.path() / "var";
    ensureDevelopmentSecretKey(config);
    EXPECT_TRUE(config.secretKey.empty());
    EXPECT_FALSE(std::filesystem::exists(config.dataDir));
}

// docs/configuration.md, looked for next to this source file and above the working directory and
// the test binary (ccache may make __FILE__ relative to the build directory).
std::filesystem::path configurationDoc() {
    std::vector<std::filesystem::path> candidates = {std::filesystem::path(__FILE__).parent_path() /
                                                     "../../docs"};
    std::error_code ec;
    for (auto start :
         {std::filesystem::current_path(), std::filesystem::read_symlink("/proc/self/exe", ec)}) {
        for (auto dir = start; !dir.empty() && dir != dir.parent_path(); dir = dir.parent_path()) {
            candidates.push_back(dir / "docs");
        }
    }
    for (const auto& docs : candidates) {
        if (std::filesystem::exists(docs / "configuration.md", ec) &&
            std::filesystem::exists(docs / "../src/app/config.hpp", ec)) {
            return docs / "configuration.md";
        }
    }
    return {};
}

TEST(ConfigurationDoc, NamesEverySettingAndVariable) {
    const auto doc = configurationDoc();
    ASSERT_FALSE(doc.empty()) << "docs/configuration.md not found";
    const std::string text = readAll(doc);
    for (const SettingSample& sample : allSettings()) {
        const auto dot = sample.name.find('.');
        const std::string key = dot == std::string::npos ? sample.name : sample.name.substr(dot + 1);
        EXPECT_THAT(text, HasSubstr("`" + key + "`")) << sample.name;
        EXPECT_THAT(text, HasSubstr(environmentName(sample.name))) << sample.name;
    }
}

// The production example in the documentation loads and passes the deploy check's critical rules.
TEST(ConfigurationDoc, ProductionExampleLoads) {
    const auto doc = configurationDoc();
    ASSERT_FALSE(doc.empty()) << "docs/configuration.md not found";
    const std::string text = readAll(doc);
    const std::string start = "```toml\n";
    const auto begin = text.find(start);
    ASSERT_NE(begin, std::string::npos);
    const auto end = text.find("```", begin + start.size());
    TempDir dir;
    ConfigSources sources = fromFile(dir, text.substr(begin + start.size(), end - begin - start.size()));
    sources.environment = {{"RAMPART_SECRET_KEY", std::string(60, 'x') + "abcdefgh"}};
    const Config config = loadConfig(sources);
    EXPECT_TRUE(config.production());
    EXPECT_TRUE(config.requireTls);
    EXPECT_TRUE(config.secureCookies);
    for (const Finding& finding : runDeployChecks(config)) {
        EXPECT_NE(finding.severity, Severity::critical) << formatFinding(finding);
    }
}

// docs/deployment.md's configuration (behind nginx on the same machine) loads and passes the deploy check.
TEST(ConfigurationDoc, DeploymentExampleBehindNginxLoads) {
    const auto doc = configurationDoc();
    ASSERT_FALSE(doc.empty()) << "docs/configuration.md not found";
    const std::string text = readAll(doc.parent_path() / "deployment.md");
    const std::string start = "```toml\n";
    const auto begin = text.find(start);
    ASSERT_NE(begin, std::string::npos) << "no TOML block in docs/deployment.md";
    const auto end = text.find("```", begin + start.size());
    TempDir dir;
    ConfigSources sources = fromFile(dir, text.substr(begin + start.size(), end - begin - start.size()));
    sources.environment = {{"RAMPART_SECRET_KEY", std::string(60, 'x') + "abcdefgh"}};
    const Config config = loadConfig(sources);
    EXPECT_TRUE(config.production());
    EXPECT_EQ(config.listen, "127.0.0.1:8080") << "deploy/nginx/rampart.conf's upstream";
    EXPECT_EQ(config.trustedProxies, std::vector<std::string>{"127.0.0.1"});
    EXPECT_TRUE(config.tlsTerminatedByProxy);
    for (const Finding& finding : runDeployChecks(config)) {
        EXPECT_NE(finding.severity, Severity::critical) << formatFinding(finding);
    }
}

// The declared task type of docs/configuration.md loads as written, with its schema file beside it.
TEST(ConfigurationDoc, DeclaredTaskExampleLoads) {
    const auto doc = configurationDoc();
    ASSERT_FALSE(doc.empty()) << "docs/configuration.md not found";
    const std::string text = readAll(doc);
    const auto section = text.find("### Task types declared in the configuration");
    ASSERT_NE(section, std::string::npos);
    const auto begin = text.find("```\n", section);
    ASSERT_NE(begin, std::string::npos);
    const auto end = text.find("```", begin + 4);
    TempDir dir;
    std::filesystem::create_directories(dir.path() / "schemas");
    dir.write("schemas/report-result.json", R"({"type": "object"})");
    const Config config = loadConfig(fromFile(dir, text.substr(begin + 4, end - begin - 4)));
    ASSERT_EQ(config.tasks.size(), 1u);
    EXPECT_EQ(config.tasks[0].name, "reports.generate");
    EXPECT_EQ(config.tasks[0].queue, "reports");
    EXPECT_TRUE(config.tasks[0].resultSchema);
}

// A worker's /metrics listener: loopback only (or none), so job metrics never leave the machine by default.
TEST(LoadConfig, WorkerMetricsListenIsLoopbackOrNothing) {
    EXPECT_EQ(loadConfig(ConfigSources{}).jobs.workerMetricsListen, "127.0.0.1:9464");
    for (const std::string good : {"127.0.0.1:9100", "127.0.0.2:0", "[::1]:9100", "localhost:9100", ""}) {
        SCOPED_TRACE(good);
        EXPECT_EQ(loadError(fromEnvironment({{"RAMPART_JOBS__WORKER_METRICS_LISTEN", good}})), "");
    }
    for (const std::string bad : {"0.0.0.0:9100", "[::]:9100", "10.0.0.5:9100", "metrics.internal:9100",
                                  "127.0.0.1", "[::ffff:10.0.0.5]:9100"}) {
        SCOPED_TRACE(bad);
        EXPECT_THAT(loadError(fromEnvironment({{"RAMPART_JOBS__WORKER_METRICS_LISTEN", bad}})),
                    HasSubstr("jobs.worker_metrics_listen"));
    }
    Config config = loadConfig(fromEnvironment({{"RAMPART_JOBS__WORKER_METRICS_LISTEN", "[::1]:9100"}}));
    const auto listen = workerMetricsServerSettings(config);
    ASSERT_TRUE(listen.has_value());
    EXPECT_EQ(listen->listenHost, "::1");
    EXPECT_EQ(listen->listenPort, 9100);
    EXPECT_FALSE(listen->tls.enabled());
    config.jobs.workerMetricsListen = "";
    EXPECT_FALSE(workerMetricsServerSettings(config).has_value());
}

TEST(LoadConfig, JobsAndEgressDefaults) {
    const Config config = loadConfig(ConfigSources{});
    EXPECT_TRUE(config.jobs.runWorkers);
    EXPECT_EQ(config.jobs.workerConcurrency, 4u);
    EXPECT_EQ(config.jobs.lease, std::chrono::seconds(30));
    EXPECT_EQ(config.jobs.retention, std::chrono::hours(336));
    EXPECT_EQ(config.jobs.maxBatch, 1000u);
    ASSERT_EQ(config.jobs.queues.size(), 1u);
    EXPECT_EQ(config.jobs.queues[0].name, "default");
    EXPECT_FALSE(config.jobs.queues[0].concurrency.has_value());
    EXPECT_THAT(config.jobs.queues[0].submitRoles, ElementsAre("admin", "user"));
    EXPECT_TRUE(config.jobs.queues[0].externalWorkers);
    EXPECT_TRUE(config.egress.allowDomains.empty());
    EXPECT_EQ(config.egress.maxRedirects, 5u);
}

TEST(LoadConfig, QueueTablesRefineTheQueuesTheListNames) {
    TempDir dir;
    const Config config = loadConfig(fromFile(dir, R"(
[jobs]
queues = ["default", "reports", "gpu"]
[jobs.queue.reports]
concurrency = 2
submit_roles = ["admin"]
[jobs.queue.gpu]
concurrency = 0
external_workers = true
)"));
    ASSERT_EQ(config.jobs.queues.size(), 3u);
    EXPECT_EQ(config.jobs.queues[1].name, "reports");
    EXPECT_EQ(config.jobs.queues[1].concurrency, 2u);
    EXPECT_THAT(config.jobs.queues[1].submitRoles, ElementsAre("admin"));
    EXPECT_EQ(config.jobs.queues[2].concurrency, 0u) << "0: only external workers run its jobs";
    EXPECT_FALSE(config.jobs.queues[0].concurrency.has_value());

    // The environment may replace the list; a table for a queue it drops is then an error.
    ConfigSources narrowed = fromFile(dir, R"([jobs]
queues = ["default", "reports"]
[jobs.queue.reports]
concurrency = 1
)");
    narrowed.environment = {{"RAMPART_JOBS__QUEUES", "default"}};
    EXPECT_THAT(loadError(narrowed), AllOf(HasSubstr("[jobs.queue.reports]"), HasSubstr("jobs.queues")));
}

TEST(LoadConfig, DatabasePoolSizeIsBoundedAndSecretsFromTheFileAreNoted) {
    TempDir dir;
    EXPECT_THAT(loadError(fromEnvironment({{"RAMPART_DATABASE_POOL_SIZE", "0"}})),
                HasSubstr("database_pool_size"));
    EXPECT_THAT(loadError(fromEnvironment({{"RAMPART_DATABASE_POOL_SIZE", "501"}})),
                HasSubstr("database_pool_size"));
    EXPECT_EQ(loadConfig(fromEnvironment({})).databasePoolSize, 16U);

    const Config fromTheFile = loadConfig(fromFile(dir, "database_url = \"postgresql://u:pw@db/r\"\n"));
    EXPECT_THAT(fromTheFile.secretsInFile, ElementsAre("database_url"));
    const Config fromTheEnvironment =
        loadConfig(fromEnvironment({{"RAMPART_DATABASE_URL", "postgresql://u:pw@db/r"}}));
    EXPECT_TRUE(fromTheEnvironment.secretsInFile.empty());
}

TEST(LoadConfig, JobAndEgressValuesAreChecked) {
    TempDir dir;
    EXPECT_THAT(loadError(fromEnvironment({{"RAMPART_JOBS__LEASE_SECONDS", "1"}})),
                HasSubstr("jobs.lease_seconds"));
    EXPECT_THAT(loadError(fromEnvironment({{"RAMPART_JOBS__WORKER_CONCURRENCY", "0"}})),
                HasSubstr("jobs.worker_concurrency"));
    EXPECT_THAT(loadError(fromEnvironment({{"RAMPART_JOBS__MAX_BATCH", "10001"}})),
                HasSubstr("jobs.max_batch"));
    EXPECT_THAT(loadError(fromEnvironment({{"RAMPART_JOBS__QUEUES", "default,Reports"}})),
                HasSubstr("[a-z0-9._-]"));
    EXPECT_THAT(loadError(fromEnvironment({{"RAMPART_JOBS__QUEUES", "a,b,a"}})), HasSubstr("twice"));
    EXPECT_THAT(loadError(fromOverrides({{"jobs.queues", ","}})), HasSubstr("at least one queue"));
    EXPECT_THAT(loadError(fromFile(dir, R"([jobs.queue.default]
submit_roles = ["root"]
)")),
                AllOf(HasSubstr("jobs.queue.default.submit_roles"), HasSubstr("root")));
    EXPECT_THAT(loadError(fromFile(dir, "[jobs.queue.default]\nthreads = 3\n")),
                HasSubstr("unknown setting 'jobs.queue.default.threads'"));
    EXPECT_THAT(loadError(fromFile(dir, "[jobs]\nqueue = 3\n")), HasSubstr("jobs.queue"));
    EXPECT_THAT(loadError(fromEnvironment({{"RAMPART_EGRESS__ALLOW_DOMAINS", "*"}})),
                HasSubstr("egress.allow_domains"));
    EXPECT_THAT(loadError(fromEnvironment({{"RAMPART_EGRESS__BLOCK_DOMAINS", "http://x.example"}})),
                HasSubstr("egress.block_domains"));
    EXPECT_THAT(loadError(fromEnvironment({{"RAMPART_EGRESS__MAX_REDIRECTS", "11"}})),
                HasSubstr("egress.max_redirects"));
}

// [[oidc.issuers]]: every key read, each rule enforced with an error that names the setting.
constexpr std::string_view kOidcIssuer = R"(
[[oidc.issuers]]
issuer = "https://idp.example"
audience = "rampart-api"
jwks_url = "https://idp.example/.well-known/jwks.json"
username_claim = "preferred_username"
role_claim = "groups"
role_map = { "rampart-admins" = "admin", "auditors" = "auditor" }
default_role = "user"
algorithms = ["RS256", "ES256"]
)";

TEST(LoadConfig, OidcIssuersFromTheFile) {
    TempDir dir;
    const std::string jwks = dir.write("jwks.json", "{}").string();
    const Config config = loadConfig(fromFile(dir, fmt::format(R"({}
[[oidc.issuers]]
issuer = "https://second.example"
audience = "api"
jwks_file = "{}"
default_role = "auditor"
)",
                                                               kOidcIssuer, jwks)));
    ASSERT_EQ(config.oidcIssuers.size(), 2u);
    const identity::OidcIssuer& first = config.oidcIssuers[0];
    EXPECT_EQ(first.issuer, "https://idp.example");
    EXPECT_EQ(first.audience, "rampart-api");
    EXPECT_EQ(first.jwksUrl, "https://idp.example/.well-known/jwks.json");
    EXPECT_TRUE(first.jwksFile.empty());
    EXPECT_EQ(first.usernameClaim, "preferred_username");
    EXPECT_EQ(first.roleClaim, "groups");
    EXPECT_EQ(first.roleMap,
              (std::map<std::string, std::string>{{"rampart-admins", "admin"}, {"auditors", "auditor"}}));
    EXPECT_EQ(first.defaultRole, "user");
    EXPECT_THAT(first.algorithms, ElementsAre("RS256", "ES256"));
    const identity::OidcIssuer& second = config.oidcIssuers[1];
    EXPECT_EQ(second.jwksFile, jwks);
    EXPECT_EQ(second.usernameClaim, "sub");  // the default
    EXPECT_TRUE(second.roleClaim.empty());
    EXPECT_TRUE(second.algorithms.empty());
    EXPECT_TRUE(loadConfig(ConfigSources{}).oidcIssuers.empty());
}

TEST(LoadConfig, OidcIssuerRules) {
    TempDir dir;
    auto error = [&](std::string_view toml, std::string_view env = "development") {
        return loadError(fromFile(dir, fmt::format("env = \"{}\"\n{}", env, toml)));
    };
    const std::string base =
        "[[oidc.issuers]]\nissuer = \"https://idp.example\"\naudience = \"api\"\ndefault_role = \"user\"\n";
    const std::string url = base + "jwks_url = \"https://idp.example/jwks\"\n";
    EXPECT_EQ(error(url), "");
    EXPECT_EQ(error(url, "production"), "");

    EXPECT_THAT(error("[[oidc.issuers]]\naudience = \"api\"\njwks_file = \"/j\"\ndefault_role = \"user\"\n"),
                AllOf(HasSubstr("oidc.issuers[0].issuer"), HasSubstr("required")));
    EXPECT_THAT(
        error("[[oidc.issuers]]\nissuer = \"https://i\"\njwks_file = \"/j\"\ndefault_role = \"user\"\n"),
        HasSubstr("oidc.issuers[0].audience"));
    EXPECT_THAT(error(base), HasSubstr("exactly one of jwks_file and jwks_url"));
    EXPECT_THAT(error(url + "jwks_file = \"/j\"\n"), HasSubstr("exactly one of jwks_file and jwks_url"));

    // http:// issuers and JWKS URLs: development only, and the URL only to a loopback host.
    const std::string httpIssuer =
        "[[oidc.issuers]]\nissuer = \"http://localhost:9000\"\naudience = \"api\"\ndefault_role = \"user\"\n"
        "jwks_url = \"http://127.0.0.1:9000/jwks\"\n";
    EXPECT_EQ(error(httpIssuer), "");
    EXPECT_THAT(error(httpIssuer, "production"),
                AllOf(HasSubstr("oidc.issuers[0].issuer"), HasSubstr("https://")));
    const std::string httpUrl = base + "jwks_url = \"http://127.0.0.1:9000/jwks?key=hunter2\"\n";
    EXPECT_THAT(error(httpUrl, "production"),
                AllOf(HasSubstr("oidc.issuers[0].jwks_url"), Not(HasSubstr("hunter2"))));
    EXPECT_THAT(error(base + "jwks_url = \"http://idp.example/jwks\"\n"), HasSubstr("loopback"));
    EXPECT_THAT(error(base + "jwks_url = \"https://u:secretpw@idp.example/jwks\"\n"),
                AllOf(HasSubstr("user name or password"), Not(HasSubstr("secretpw"))));
    EXPECT_THAT(error(base + "jwks_url = 7\n"), HasSubstr("must be a string"));

    EXPECT_THAT(error("[[oidc.issuers]]\nissuer = \"https://i\"\naudience = \"a\"\njwks_file = \"/j\"\n"
                      "default_role = \"root\"\n"),
                AllOf(HasSubstr("oidc.issuers[0].default_role"), HasSubstr("root")));
    EXPECT_THAT(error(url + "role_claim = \"groups\"\nrole_map = { \"g\" = \"superuser\" }\n"),
                AllOf(HasSubstr("oidc.issuers[0].role_map.\"g\""), HasSubstr("superuser")));
    EXPECT_THAT(error(url + "role_map = { \"g\" = \"admin\" }\n"), HasSubstr("needs role_claim"));
    EXPECT_THAT(error(url + "role_claim = \"groups\"\n"), HasSubstr("needs role_map"));
    EXPECT_THAT(error("[[oidc.issuers]]\nissuer = \"https://i\"\naudience = \"a\"\njwks_file = \"/j\"\n"),
                HasSubstr("oidc.issuers[0].default_role"));
    EXPECT_THAT(error(url + "algorithms = [\"HS256\"]\n"),
                AllOf(HasSubstr("oidc.issuers[0].algorithms"), HasSubstr("HS256")));
    EXPECT_THAT(error(url + "algorithms = []\n"), HasSubstr("at least one"));
    EXPECT_THAT(error(url + "issuers_typo = 1\n"),
                HasSubstr("unknown setting 'oidc.issuers[0].issuers_typo'"));
    EXPECT_THAT(error(url + url), AllOf(HasSubstr("oidc.issuers[1].issuer"), HasSubstr("twice")));
    EXPECT_THAT(error("[oidc]\nissuers = \"x\"\n"), HasSubstr("array of tables"));
    EXPECT_THAT(error("[oidc]\nproviders = []\n"), HasSubstr("unknown setting 'oidc.providers'"));
}

TEST(LoadConfig, OidcIssuersHaveNoEnvironmentOrOverrideForm) {
    // Unknown RAMPART_* variables are ignored (other tools share the prefix); the file is the only place.
    EXPECT_TRUE(
        loadConfig(fromEnvironment({{"RAMPART_OIDC__ISSUERS", "https://idp.example"}})).oidcIssuers.empty());
    EXPECT_THAT(loadError(fromOverrides({{"oidc.issuers", "https://idp.example"}})),
                HasSubstr("unknown setting 'oidc.issuers'"));
}

TEST(LoadConfig, RateLimitDefaultsAreDrfs) {
    const Config config = loadConfig(ConfigSources{});
    EXPECT_TRUE(config.rateLimits.enabled);
    EXPECT_EQ(config.rateLimits.anon, ratelimit::parseRate("100/hour"));
    EXPECT_EQ(config.rateLimits.user, ratelimit::parseRate("1000/hour"));
    EXPECT_EQ(config.rateLimits.login, ratelimit::parseRate("5/minute"));
    EXPECT_EQ(config.rateLimits.jobsSubmit, ratelimit::parseRate("100/minute"));
    EXPECT_FALSE(config.rateLimits.global.has_value());
    EXPECT_TRUE(config.rateLimits.tokens.empty());
    EXPECT_FALSE(config.rateLimits.failClosed);
    EXPECT_EQ(config.rateLimits.maxKeys, 100'000u);
}

TEST(LoadConfig, RateLimitsFromFileAndEnvironmentAgree) {
    TempDir dir;
    const Config viaFile = loadConfig(fromFile(dir,
                                               "[rate_limits]\n"
                                               "anon = \"20/minute\"\n"
                                               "global = \"off\"\n"
                                               "[rate_limits.scopes]\n"
                                               "login = \"3/minute\"\n"
                                               "\"jobs.submit\" = \"10/second\"\n"
                                               "[rate_limits.tokens]\n"
                                               "tok_A-1 = \"5000/hour\"\n"
                                               "tok_B-2 = \"1/second\"\n"));
    const Config viaEnvironment = loadConfig(fromEnvironment({
        {"RAMPART_RATE_LIMITS__ANON", "20/minute"},
        {"RAMPART_RATE_LIMITS__GLOBAL", "off"},
        {"RAMPART_RATE_LIMITS__SCOPES__LOGIN", "3/minute"},
        {"RAMPART_RATE_LIMITS__SCOPES__JOBS__SUBMIT", "10/second"},
        {"RAMPART_RATE_LIMITS__TOKENS", "tok_A-1=5000/hour, tok_B-2=1/second"},
    }));
    for (const Config* config : {&viaFile, &viaEnvironment}) {
        EXPECT_EQ(config->rateLimits.anon, ratelimit::parseRate("20/minute"));
        EXPECT_FALSE(config->rateLimits.global.has_value());
        EXPECT_EQ(config->rateLimits.login, ratelimit::parseRate("3/minute"));
        EXPECT_EQ(config->rateLimits.jobsSubmit, ratelimit::parseRate("10/second"));
        ASSERT_EQ(config->rateLimits.tokens.size(), 2u);
        EXPECT_EQ(config->rateLimits.tokens.at("tok_A-1"), ratelimit::parseRate("5000/hour"));
        EXPECT_EQ(config->rateLimits.tokens.at("tok_B-2"), ratelimit::parseRate("1/second"));
    }
}

TEST(LoadConfig, BadRateLimitsAreRefusedAtStartWithTheSettingNamed) {
    TempDir dir;
    const std::vector<std::pair<std::map<std::string, std::string>, std::string>> cases = {
        {{{"RAMPART_RATE_LIMITS__ANON", "100"}}, "rate_limits.anon"},
        {{{"RAMPART_RATE_LIMITS__USER", "lots/hour"}}, "rate_limits.user"},
        {{{"RAMPART_RATE_LIMITS__USER", "0/hour"}}, "at least 1"},
        {{{"RAMPART_RATE_LIMITS__GLOBAL", "100/fortnight"}}, "rate_limits.global"},
        {{{"RAMPART_RATE_LIMITS__SCOPES__LOGIN", "5/minute "}}, "rate_limits.scopes.login"},
        {{{"RAMPART_RATE_LIMITS__SCOPES__JOBS__SUBMIT", "9999999/second"}}, "1,000,000"},
        {{{"RAMPART_RATE_LIMITS__TOKENS", "tok=100"}}, "rate_limits.tokens"},
        {{{"RAMPART_RATE_LIMITS__TOKENS", "bad id!=100/hour"}}, "API token id"},
        {{{"RAMPART_RATE_LIMITS__TOKENS", "justtext"}}, "name=value"},
        {{{"RAMPART_RATE_LIMITS__MAX_KEYS", "10"}}, "rate_limits.max_keys"},
        {{{"RAMPART_RATE_LIMITS__FAIL_CLOSED", "maybe"}}, "rate_limits.fail_closed"},
    };
    for (const auto& [environment, expected] : cases) {
        SCOPED_TRACE(environment.begin()->second);
        EXPECT_THAT(loadError(fromEnvironment(environment)), HasSubstr(expected));
    }
    EXPECT_THAT(loadError(fromFile(dir, "[rate_limits]\nanon = 100\n")), HasSubstr("must be a string"));
    EXPECT_THAT(loadError(fromFile(dir, "[rate_limits.scopes]\nsignup = \"1/minute\"\n")),
                HasSubstr("unknown setting 'rate_limits.scopes.signup'"));
    EXPECT_THAT(loadError(fromFile(dir, "[rate_limits.tokens]\nabc = 5\n")), HasSubstr("must be a string"));
    EXPECT_THAT(loadError(fromFile(dir, "[rate_limits]\ntokens = \"abc\"\n")), HasSubstr("table"));
}

TEST(ConfigurationDoc, NamesEveryOidcIssuerKey) {
    const auto doc = configurationDoc();
    ASSERT_FALSE(doc.empty()) << "docs/configuration.md not found";
    const std::string text = readAll(doc);
    EXPECT_THAT(text, HasSubstr("[[oidc.issuers]]"));
    for (const char* key : {"issuer", "audience", "jwks_file", "jwks_url", "username_claim", "role_claim",
                            "role_map", "default_role", "algorithms"}) {
        EXPECT_THAT(text, HasSubstr(fmt::format("`{}`", key))) << key;
    }
}

// [tasks.NAME]: task types declared for external workers, checked when the configuration loads.
TEST(DeclaredTasks, InlineAndFileSchemasWithEveryDefault) {
    TempDir dir;
    std::filesystem::create_directories(dir.path() / "schemas");
    dir.write("schemas/result.json", R"({"type": "object", "required": ["url"],
                                          "properties": {"url": {"type": "string"}}})");
    const Config config = loadConfig(fromFile(dir, R"(
[jobs]
queues = ["default", "reports"]
[tasks."reports.generate"]
description = "Monthly report"
queue = "reports"
priority = -5
timeout_seconds = 600
max_attempts = 7
retry_base_seconds = 2
retry_max_seconds = 60
args_schema = { type = "object", required = ["month"], properties = { month = { type = "string" } } }
result_schema_file = "schemas/result.json"
[tasks.Scrape-Page]
args_schema = '{"type": "object"}'
)"));
    ASSERT_EQ(config.tasks.size(), 2u);
    auto named = [&](std::string_view name) -> const DeclaredTaskConfig& {
        for (const auto& task : config.tasks)
            if (task.name == name) return task;
        ADD_FAILURE() << "no task " << name;
        return config.tasks[0];
    };
    const DeclaredTaskConfig& report = named("reports.generate");
    EXPECT_EQ(report.name, "reports.generate");
    EXPECT_EQ(report.description, "Monthly report");
    EXPECT_EQ(report.queue, "reports");
    EXPECT_EQ(report.priority, -5);
    EXPECT_EQ(report.timeout, std::chrono::seconds(600));
    EXPECT_EQ(report.maxAttempts, 7);
    EXPECT_EQ(report.retryBase, std::chrono::seconds(2));
    EXPECT_EQ(report.retryMax, std::chrono::seconds(60));
    EXPECT_EQ(report.argsSchema.at("required").as_array().at(0).as_string(), "month");
    ASSERT_TRUE(report.resultSchema);
    EXPECT_TRUE(report.resultSchema->at("properties").as_object().contains("url"));
    EXPECT_FALSE(named("Scrape-Page").queue);

    jobs::TaskRegistry registry;
    addDeclaredTasks(registry, config.tasks);
    const jobs::TaskType* type = registry.find("reports.generate");
    ASSERT_NE(type, nullptr);
    EXPECT_TRUE(type->external);
    EXPECT_EQ(type->defaultQueue, "reports");
    EXPECT_EQ(type->timeout, std::chrono::minutes(10));
    EXPECT_EQ(type->retry.base, std::chrono::seconds(2));
    EXPECT_TRUE(registry.validate(*type, boost::json::object{{"month", "2026-11"}}).empty());
    EXPECT_FALSE(registry.validate(*type, boost::json::object{{"month", 11}}).empty());
    EXPECT_TRUE(registry.validateResult(*type, boost::json::object{{"url", "s3://r"}}).empty());
    const auto refused = registry.validateResult(*type, boost::json::object{{"url", 1}});
    ASSERT_FALSE(refused.empty());
    EXPECT_EQ(refused.front().pointer, "/url");
    EXPECT_EQ(registry.find("Scrape-Page")->defaultQueue, "default");
}

TEST(DeclaredTasks, EveryMistakeNamesTheFileTheTableAndTheField) {
    TempDir dir;
    const std::string file = (dir.path() / "rampart.toml").string();
    auto error = [&](std::string_view toml) { return loadError(fromFile(dir, toml)); };
    // A schema that does not compile: the server would never start with it.
    std::string message = error("[tasks.bad]\nargs_schema = { type = 12 }\n");
    EXPECT_NE(message.find("[tasks.bad]"), std::string::npos) << message;
    EXPECT_NE(message.find(file), std::string::npos) << message;
    message = error("[tasks.bad]\nargs_schema = '{\"type\": \"object\", \"type\": \"string\"}'\n");
    EXPECT_NE(message.find("tasks.bad.args_schema"), std::string::npos) << message;
    EXPECT_NE(message.find("duplicate"), std::string::npos) << message;
    message = error("[tasks.echo]\nargs_schema = { type = \"object\" }\n");
    EXPECT_NE(message.find("built-in"), std::string::npos) << message;
    message = error("[tasks.t]\nqueue = \"nope\"\nargs_schema = { type = \"object\" }\n");
    EXPECT_NE(message.find("tasks.t.queue"), std::string::npos) << message;
    EXPECT_NE(message.find("jobs.queues"), std::string::npos) << message;
    message = error("[tasks.t]\nargs_schema = { type = \"object\" }\nhandler = \"os.system\"\n");
    EXPECT_NE(message.find("unknown setting 'tasks.t.handler'"), std::string::npos) << message;
    message = error("[tasks.t]\ndescription = \"no schema\"\n");
    EXPECT_NE(message.find("needs args_schema"), std::string::npos) << message;
    message = error("[tasks.t]\nargs_schema_file = \"missing.json\"\n");
    EXPECT_NE(message.find("cannot read"), std::string::npos) << message;
    message = error("[tasks.t]\npriority = 101\nargs_schema = { type = \"object\" }\n");
    EXPECT_NE(message.find("tasks.t.priority"), std::string::npos) << message;
    message = error("[tasks.\"has space\"]\nargs_schema = { type = \"object\" }\n");
    EXPECT_NE(message.find("1-128 letters"), std::string::npos) << message;
    message = error("[tasks.t]\nargs_schema = { type = \"object\" }\nargs_schema_file = \"x.json\"\n");
    EXPECT_NE(message.find("not both"), std::string::npos) << message;
}

// ---- [telemetry] ------------------------------------------------------------------------------------

TEST(ConfigTelemetry, OffByDefaultWithOpenTelemetrysDefaults) {
    const Config config = loadConfig({});
    EXPECT_FALSE(config.telemetry.enabled());
    EXPECT_EQ(config.telemetry.tracesUrl(), "");
    EXPECT_EQ(config.telemetry.serviceName, "rampart");
    EXPECT_EQ(config.telemetry.sampler.kind, obs::SamplerKind::parentBasedAlwaysOn);
    EXPECT_FALSE(config.telemetry.sampler.trustRemoteSampled);
    EXPECT_EQ(config.telemetry.maxQueueSize, 2048U);
    EXPECT_EQ(config.telemetry.maxExportBatchSize, 512U);
    EXPECT_EQ(config.telemetry.scheduleDelay, std::chrono::milliseconds(1000));
    EXPECT_TRUE(config.telemetry.headers.empty());
}

TEST(ConfigTelemetry, TheEndpointGetsTheTracesPathAndTheTracesEndpointIsUsedAsGiven) {
    EXPECT_EQ(
        loadConfig(fromOverrides({{"telemetry.endpoint", "http://collector:4318"}})).telemetry.tracesUrl(),
        "http://collector:4318/v1/traces");
    EXPECT_EQ(loadConfig(fromOverrides({{"telemetry.endpoint", "https://c.example.com/otlp/"}}))
                  .telemetry.tracesUrl(),
              "https://c.example.com/otlp/v1/traces");
    const Config both = loadConfig(fromOverrides({{"telemetry.endpoint", "http://collector:4318"},
                                                  {"telemetry.traces_endpoint", "http://t:9999/custom"}}));
    EXPECT_EQ(both.telemetry.tracesUrl(), "http://t:9999/custom");
    EXPECT_TRUE(both.telemetry.enabled());
}

// defaults < TOML < OTEL_* < RAMPART_TELEMETRY__* < flags (overrides).
TEST(ConfigTelemetry, PrecedenceIsFileThenOtelVariablesThenRampartVariablesThenFlags) {
    TempDir dir;
    ConfigSources sources =
        fromFile(dir, "[telemetry]\nendpoint = \"http://from-file:4318\"\nservice_name = \"file\"\n");
    EXPECT_EQ(loadConfig(sources).telemetry.tracesUrl(), "http://from-file:4318/v1/traces");
    sources.environment = {{"OTEL_EXPORTER_OTLP_ENDPOINT", "http://from-otel:4318"},
                           {"OTEL_SERVICE_NAME", "otel"}};
    Config config = loadConfig(sources);
    EXPECT_EQ(config.telemetry.tracesUrl(), "http://from-otel:4318/v1/traces");
    EXPECT_EQ(config.telemetry.serviceName, "otel");
    sources.environment["RAMPART_TELEMETRY__ENDPOINT"] = "http://from-rampart:4318";
    sources.environment["RAMPART_TELEMETRY__SERVICE_NAME"] = "rampart-var";
    config = loadConfig(sources);
    EXPECT_EQ(config.telemetry.tracesUrl(), "http://from-rampart:4318/v1/traces");
    EXPECT_EQ(config.telemetry.serviceName, "rampart-var");
    sources.overrides["telemetry.endpoint"] = "http://from-flag:4318";
    EXPECT_EQ(loadConfig(sources).telemetry.tracesUrl(), "http://from-flag:4318/v1/traces");
}

TEST(ConfigTelemetry, TheStandardOtelVariablesAreRead) {
    const Config config = loadConfig(fromEnvironment({
        {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "https://traces.example.com/v1/traces"},
        {"OTEL_RESOURCE_ATTRIBUTES", "deployment.environment=prod, team=a%2Cb ,note=caf%C3%A9"},
        {"OTEL_TRACES_SAMPLER", "traceidratio"},
        {"OTEL_TRACES_SAMPLER_ARG", "0.125"},
        {"OTEL_EXPORTER_OTLP_HEADERS", "Authorization=Bearer%20abc,X-Scope-OrgID=tenant-a"},
        {"OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"},
        {"OTEL_BSP_MAX_QUEUE_SIZE", "4000"},
        {"OTEL_BSP_SCHEDULE_DELAY", "250"},
    }));
    const TelemetryConfig& telemetry = config.telemetry;
    EXPECT_EQ(telemetry.tracesUrl(), "https://traces.example.com/v1/traces");
    using Pair = std::pair<std::string, std::string>;
    EXPECT_THAT(telemetry.resourceAttributes, ElementsAre(Pair{"deployment.environment", "prod"},
                                                          Pair{"team", "a,b"}, Pair{"note", "café"}));
    EXPECT_EQ(telemetry.sampler.kind, obs::SamplerKind::traceIdRatio);
    EXPECT_EQ(telemetry.sampler.ratio, 0.125);
    ASSERT_EQ(telemetry.headers.size(), 2U);
    EXPECT_EQ(telemetry.headers[0].first, "Authorization");
    EXPECT_EQ(telemetry.headers[0].second.reveal(), "Bearer abc");
    EXPECT_EQ(telemetry.headers[1].second.reveal(), "tenant-a");
    EXPECT_EQ(telemetry.maxQueueSize, 4000U);
    EXPECT_EQ(telemetry.scheduleDelay, std::chrono::milliseconds(250));
}

TEST(ConfigTelemetry, OtelSdkDisabledOrExporterNoneTurnsTracingOff) {
    const std::map<std::string, std::string> on = {{"RAMPART_TELEMETRY__ENDPOINT", "http://c:4318"}};
    EXPECT_TRUE(loadConfig(fromEnvironment(on)).telemetry.enabled());
    auto disabled = on;
    disabled["OTEL_SDK_DISABLED"] = "TRUE";
    EXPECT_FALSE(loadConfig(fromEnvironment(disabled)).telemetry.enabled());
    disabled["OTEL_SDK_DISABLED"] = "false";
    EXPECT_TRUE(loadConfig(fromEnvironment(disabled)).telemetry.enabled());
    auto none = on;
    none["OTEL_TRACES_EXPORTER"] = "none";
    EXPECT_FALSE(loadConfig(fromEnvironment(none)).telemetry.enabled());
}

TEST(ConfigTelemetry, AServiceNameAttributeCountsOnlyWithoutServiceName) {
    TempDir dir;
    const Config fromAttribute =
        loadConfig(fromEnvironment({{"OTEL_RESOURCE_ATTRIBUTES", "service.name=billing"}}));
    EXPECT_EQ(fromAttribute.telemetry.serviceName, "billing");
    const Config named = loadConfig(fromEnvironment(
        {{"OTEL_RESOURCE_ATTRIBUTES", "service.name=billing"}, {"OTEL_SERVICE_NAME", "jobs"}}));
    EXPECT_EQ(named.telemetry.serviceName, "jobs");
}

TEST(ConfigTelemetry, BadValuesAreStartUpErrorsNamingTheKey) {
    EXPECT_THAT(
        loadError(fromEnvironment({{"OTEL_TRACES_SAMPLER", "sometimes"}})),
        AllOf(HasSubstr("telemetry.sampler"), HasSubstr("OTEL_TRACES_SAMPLER"), HasSubstr("sometimes")));
    EXPECT_THAT(loadError(fromEnvironment({{"OTEL_TRACES_SAMPLER_ARG", "1.5"}})),
                AllOf(HasSubstr("telemetry.sampler_arg"), HasSubstr("from 0 to 1")));
    EXPECT_THAT(loadError(fromEnvironment({{"RAMPART_TELEMETRY__SAMPLER_ARG", "-0.1"}})),
                HasSubstr("telemetry.sampler_arg"));
    EXPECT_THAT(loadError(fromEnvironment({{"RAMPART_TELEMETRY__SAMPLER_ARG", "nan"}})),
                HasSubstr("telemetry.sampler_arg"));
    EXPECT_THAT(loadError(fromOverrides({{"telemetry.endpoint", "grpc://collector:4317"}})),
                AllOf(HasSubstr("telemetry.endpoint"), HasSubstr("http:// or https://")));
    EXPECT_THAT(loadError(fromOverrides({{"telemetry.traces_endpoint", "http://user:pw@c/v1/traces"}})),
                AllOf(HasSubstr("telemetry.traces_endpoint"), Not(HasSubstr("pw"))));
    EXPECT_THAT(loadError(fromEnvironment({{"OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"}})),
                AllOf(HasSubstr("OTEL_EXPORTER_OTLP_PROTOCOL"), HasSubstr("http/protobuf")));
    EXPECT_THAT(loadError(fromEnvironment({{"OTEL_TRACES_EXPORTER", "zipkin"}})),
                HasSubstr("OTEL_TRACES_EXPORTER"));
    EXPECT_THAT(loadError(fromOverrides({{"telemetry.max_export_batch_size", "4096"}})),
                HasSubstr("telemetry.max_export_batch_size"));
    EXPECT_THAT(loadError(fromEnvironment({{"OTEL_RESOURCE_ATTRIBUTES", "novalue"}})),
                HasSubstr("telemetry.resource_attributes"));
    EXPECT_THAT(loadError(fromEnvironment({{"OTEL_RESOURCE_ATTRIBUTES", "k=%zz"}})), HasSubstr("escape"));
}

TEST(ConfigTelemetry, HeadersComeFromAFileInLinesOrTheCommaFormat) {
    TempDir dir;
    const auto file = dir.write("headers",
                                "# the collector's credentials\n"
                                "Authorization=Bearer abc.def\r\n"
                                "\n"
                                "X-Scope-OrgID=tenant-a,X-Extra=caf%C3%A9\n");
    const Config config = loadConfig(fromOverrides({{"telemetry.headers_file", file.string()}}));
    const auto& headers = config.telemetry.headers;
    ASSERT_EQ(headers.size(), 3U);
    EXPECT_EQ(headers[0].first, "Authorization");
    EXPECT_EQ(headers[0].second.reveal(), "Bearer abc.def");
    EXPECT_EQ(headers[1].first, "X-Scope-OrgID");
    EXPECT_EQ(headers[2].second.reveal(), "café");
}

TEST(ConfigTelemetry, HeadersAreNeverReadFromTheTomlBodyOrAFlag) {
    TempDir dir;
    const std::string inFile =
        loadError(fromFile(dir, "[telemetry]\nheaders = \"Authorization=Bearer hunter2-in-toml\"\n"));
    EXPECT_THAT(inFile,
                AllOf(HasSubstr("telemetry.headers"), HasSubstr("headers_file"), Not(HasSubstr("hunter2"))));
    const std::string asTable =
        loadError(fromFile(dir, "[telemetry.headers]\nAuthorization = \"Bearer hunter2-in-table\"\n"));
    EXPECT_THAT(asTable, AllOf(HasSubstr("telemetry.headers"), Not(HasSubstr("hunter2"))));
    const std::string asFlag =
        loadError(fromOverrides({{"telemetry.headers", "Authorization=Bearer hunter2"}}));
    EXPECT_THAT(asFlag, AllOf(HasSubstr("telemetry.headers"), Not(HasSubstr("hunter2"))));
}

TEST(ConfigTelemetry, AHeaderThatCouldInjectIsAStartUpErrorThatNeverEchoesTheValue) {
    for (const std::string& value :
         {std::string("Authorization=Bearer hunter2%0D%0AX-Injected: 1"),
          std::string("Authorization=hunter2%0A"), std::string("Authorization=hunter2%00"),
          std::string("Host=hunter2.example.com"), std::string("Bad Name=hunter2"),
          std::string("=hunter2")}) {
        SCOPED_TRACE(value);
        const std::string error = loadError(fromEnvironment({{"OTEL_EXPORTER_OTLP_HEADERS", value}}));
        EXPECT_THAT(error, AllOf(HasSubstr("OTEL_EXPORTER_OTLP_HEADERS"), Not(HasSubstr("hunter2"))));
    }
    TempDir dir;
    const auto file = dir.write("headers", "Authorization=Bearer hunter2\rX-Injected: 1\n");
    const std::string error = loadError(fromOverrides({{"telemetry.headers_file", file.string()}}));
    EXPECT_THAT(error, AllOf(HasSubstr("telemetry.headers_file"), HasSubstr("control character"),
                             Not(HasSubstr("hunter2"))));
    const auto empty = dir.write("empty-headers", "# nothing\n\n");
    EXPECT_THAT(loadError(fromOverrides({{"telemetry.headers_file", empty.string()}})),
                HasSubstr("no name=value"));
}

// The [telemetry] example of docs/configuration.md loads, with its headers file made here.
TEST(ConfigTelemetry, TheDocumentedExampleLoads) {
    const auto doc = configurationDoc();
    ASSERT_FALSE(doc.empty()) << "docs/configuration.md not found";
    const std::string text = readAll(doc);
    const auto begin = text.find("```toml\n[telemetry]\n");
    ASSERT_NE(begin, std::string::npos);
    const auto end = text.find("```", begin + 8);
    std::string example = text.substr(begin + 8, end - begin - 8);
    TempDir dir;
    const auto headers = dir.write("otel-headers", "Authorization=Bearer abc\n");
    const std::string documentedPath = "/etc/rampart/otel-headers";
    ASSERT_NE(example.find(documentedPath), std::string::npos);
    example.replace(example.find(documentedPath), documentedPath.size(), headers.string());
    const Config config = loadConfig(fromFile(dir, example));
    EXPECT_EQ(config.telemetry.tracesUrl(), "https://otel-collector.internal:4318/v1/traces");
    EXPECT_EQ(config.telemetry.serviceName, "rampart-api");
    EXPECT_EQ(config.telemetry.sampler.kind, obs::SamplerKind::parentBasedTraceIdRatio);
    EXPECT_EQ(config.telemetry.sampler.ratio, 0.1);
    ASSERT_EQ(config.telemetry.headers.size(), 1U);
}

TEST(ConfigTelemetry, HeadersFromAFileAndTheEnvironmentAtOnceAreAnError) {
    TempDir dir;
    const auto file = dir.write("headers", "Authorization=Bearer hunter2\n");
    ConfigSources sources = fromEnvironment({{"OTEL_EXPORTER_OTLP_HEADERS", "Authorization=Bearer other"}});
    sources.overrides["telemetry.headers_file"] = file.string();
    EXPECT_THAT(loadError(sources), AllOf(HasSubstr("set only one"), Not(HasSubstr("hunter2"))));
}

}  // namespace
}  // namespace rampart
