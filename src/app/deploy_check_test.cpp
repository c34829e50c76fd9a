// Tests of `check --deploy`: each finding is raised by a configuration that has the problem, with
// its id and severity, and never quotes a secret.
#include "app/deploy_check.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <fstream>

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "testing/temp_directory.hpp"

namespace rampart {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr std::string_view kStrongKey = "Zq8-vN3_kP0rT7wY2xB5mC9dF1gH4jL6sA0eR8uI3oQ7tV5yW2nM-bK_cX9zE1pS";

using TempDir = rampart::testing::TempDirectory;

// A production configuration with nothing to report: TLS ends at a trusted proxy in front.
Config goodProduction(const TempDir& dir) {
    Config config;
    config.mode = Mode::production;
    config.dataDir = dir.path();
    config.databaseUrl = SecretString("sqlite://" + (dir.path() / "rampart.db").string());
    config.secretKey = SecretString(std::string(kStrongKey));
    config.allowedHosts = {"api.example.com"};
    config.requireTls = true;
    config.secureCookies = true;
    config.tlsTerminatedByProxy = true;
    config.trustedProxies = {"10.0.0.1"};
    config.auth.requireAdminTotp = true;  // what loadConfig gives production
    return config;
}

std::optional<Finding> findingFor(const Config& config, std::string_view id) {
    for (const Finding& finding : runDeployChecks(config)) {
        if (finding.id == id) return finding;
    }
    return std::nullopt;
}

void expectFinding(const Config& config, std::string_view id, Severity severity) {
    const auto finding = findingFor(config, id);
    ASSERT_TRUE(finding) << "expected " << id;
    EXPECT_EQ(finding->severity, severity) << formatFinding(*finding);
    EXPECT_FALSE(finding->problem.empty());
    EXPECT_FALSE(finding->fix.empty());
}

void expectNoFinding(const Config& config, std::string_view id) {
    const auto finding = findingFor(config, id);
    EXPECT_FALSE(finding) << formatFinding(*finding);
}

TEST(DeployCheck, WellConfiguredProductionHasNoFindings) {
    TempDir dir;
    const auto findings = runDeployChecks(goodProduction(dir));
    for (const Finding& finding : findings) ADD_FAILURE() << formatFinding(finding);
    EXPECT_FALSE(hasCritical(findings));
}

TEST(DeployCheck, ProductionWithOwnTlsHasNoCriticalFinding) {
    TempDir dir;
    Config config = goodProduction(dir);
    config.tlsTerminatedByProxy = false;
    config.trustedProxies.clear();
    config.listen = "0.0.0.0:443";
    config.tls.certFile = dir.write("cert.pem", "cert", 0644);
    config.tls.keyFile = dir.write("key.pem", "key", 0600);
    EXPECT_FALSE(hasCritical(runDeployChecks(config)));
}

TEST(DeployCheck, SecretKeyMissing) {
    TempDir dir;
    Config config = goodProduction(dir);
    config.secretKey = SecretString();
    expectFinding(config, "secret_key.missing", Severity::critical);
    expectNoFinding(config, "secret_key.weak");
}

TEST(DeployCheck, SecretKeyWeak) {
    TempDir dir;
    Config config = goodProduction(dir);
    for (const std::string& weak :
         {std::string("short-but-random-8Hq2"), std::string(60, 'a') + "bcd",
          "django-insecure-" + std::string(kStrongKey), "CHANGEME" + std::string(kStrongKey),
          "secret" + std::string(kStrongKey)}) {
        SCOPED_TRACE(weak);
        config.secretKey = SecretString(weak);
        expectFinding(config, "secret_key.weak", Severity::critical);
    }
    config.secretKey = SecretString(std::string(kStrongKey));
    expectNoFinding(config, "secret_key.weak");
}

TEST(DeployCheck, SecretKeyFileReadableByOthers) {
    TempDir dir;
    Config config = goodProduction(dir);
    config.secretKeyFile = dir.write("secret_key", kStrongKey, 0644);
    expectFinding(config, "secret_key.file_permissions", Severity::warning);
    ::chmod(config.secretKeyFile.c_str(), 0600);
    expectNoFinding(config, "secret_key.file_permissions");
}

TEST(DeployCheck, VerboseErrors) {
    TempDir dir;
    Config config = goodProduction(dir);
    config.verboseErrors = true;
    expectFinding(config, "debug.verbose_errors", Severity::critical);
}

TEST(DeployCheck, HostsEmpty) {
    TempDir dir;
    Config config = goodProduction(dir);
    config.allowedHosts.clear();
    expectFinding(config, "hosts.empty", Severity::critical);
}

TEST(DeployCheck, HostsWildcard) {
    TempDir dir;
    Config config = goodProduction(dir);
    config.allowedHosts = {"api.example.com", "*"};
    expectFinding(config, "hosts.wildcard", Severity::critical);
}

TEST(DeployCheck, TlsMissing) {
    TempDir dir;
    Config config = goodProduction(dir);
    config.tlsTerminatedByProxy = false;
    expectFinding(config, "tls.missing", Severity::critical);

    // Terminated by a proxy, but which one? Without trusted proxies no forwarded header counts.
    config.tlsTerminatedByProxy = true;
    config.trustedProxies.clear();
    expectFinding(config, "tls.missing", Severity::critical);
}

TEST(DeployCheck, TlsFilesMissing) {
    TempDir dir;
    Config config = goodProduction(dir);
    config.tls.certFile = dir.path() / "absent-cert.pem";
    config.tls.keyFile = dir.write("key.pem", "key", 0600);
    expectFinding(config, "tls.files", Severity::critical);
    EXPECT_THAT(findingFor(config, "tls.files")->problem, HasSubstr("absent-cert.pem"));
}

TEST(DeployCheck, TlsKeyReadableByOthers) {
    TempDir dir;
    Config config = goodProduction(dir);
    config.tls.certFile = dir.write("cert.pem", "cert", 0644);
    config.tls.keyFile = dir.write("key.pem", "key", 0640);
    expectFinding(config, "tls.files", Severity::warning);
}

TEST(DeployCheck, HttpsRedirectOff) {
    TempDir dir;
    Config config = goodProduction(dir);
    config.requireTls = false;
    expectFinding(config, "https.redirect_off", Severity::critical);
}

TEST(DeployCheck, HstsShort) {
    TempDir dir;
    Config config = goodProduction(dir);
    config.hsts.maxAge = std::chrono::seconds(3600);
    expectFinding(config, "hsts.short", Severity::critical);
    config.hsts.maxAge = std::chrono::seconds(31'536'000);
    expectNoFinding(config, "hsts.short");
}

TEST(DeployCheck, HstsWithoutSubdomains) {
    TempDir dir;
    Config config = goodProduction(dir);
    config.hsts.includeSubdomains = false;
    expectFinding(config, "hsts.no_subdomains", Severity::warning);
}

TEST(DeployCheck, InsecureCookies) {
    TempDir dir;
    Config config = goodProduction(dir);
    config.secureCookies = false;
    expectFinding(config, "cookies.insecure", Severity::critical);
}

TEST(DeployCheck, CorsWildcard) {
    TempDir dir;
    Config config = goodProduction(dir);
    config.cors.allowedOrigins = {"*"};
    expectFinding(config, "cors.wildcard", Severity::critical);
    config.cors.allowCredentials = true;
    expectFinding(config, "cors.wildcard", Severity::critical);
    EXPECT_THAT(findingFor(config, "cors.wildcard")->problem, HasSubstr("allow_credentials"));
}

TEST(DeployCheck, CorsInsecureOrigin) {
    TempDir dir;
    Config config = goodProduction(dir);
    config.cors.allowedOrigins = {"https://app.example.com", "http://localhost:3000", "http://[::1]:3000"};
    expectNoFinding(config, "cors.insecure_origin");
    config.cors.allowedOrigins.push_back("http://app.example.com");
    expectFinding(config, "cors.insecure_origin", Severity::warning);
    EXPECT_THAT(findingFor(config, "cors.insecure_origin")->problem, HasSubstr("http://app.example.com"));
}

TEST(DeployCheck, PublicPlaintextListener) {
    TempDir dir;
    Config config = goodProduction(dir);
    config.tlsTerminatedByProxy = false;
    config.trustedProxies.clear();
    for (const std::string listen : {"0.0.0.0:8080", "[::]:8080", "192.0.2.10:80", "api.internal:80"}) {
        SCOPED_TRACE(listen);
        config.listen = listen;
        expectFinding(config, "listen.public_plaintext", Severity::critical);
    }
    for (const std::string listen : {"127.0.0.1:8080", "[::1]:8080", "localhost:8080"}) {
        SCOPED_TRACE(listen);
        config.listen = listen;
        expectNoFinding(config, "listen.public_plaintext");
    }
    // Behind a trusted TLS proxy, listening on every interface is fine.
    config = goodProduction(dir);
    config.listen = "0.0.0.0:8080";
    expectNoFinding(config, "listen.public_plaintext");
}

TEST(DeployCheck, PublicMetrics) {
    TempDir dir;
    Config config = goodProduction(dir);
    config.metricsPublic = true;
    expectFinding(config, "metrics.public", Severity::warning);
}

TEST(DeployCheck, AdminTotpOptionalInProduction) {
    TempDir dir;
    Config config = goodProduction(dir);
    expectNoFinding(config, "auth.admin_totp_optional");
    config.auth.requireAdminTotp = false;
    expectFinding(config, "auth.admin_totp_optional", Severity::warning);
    EXPECT_FALSE(hasCritical(runDeployChecks(config)));
    // Development does not require TOTP by default, so it is not a finding there.
    config.mode = Mode::development;
    expectNoFinding(config, "auth.admin_totp_optional");
}

TEST(DeployCheck, DataDirWritableByOthers) {
    TempDir dir;
    Config config = goodProduction(dir);
    ::chmod(dir.path().c_str(), 0777);
    expectFinding(config, "data_dir.permissions", Severity::warning);
    ::chmod(dir.path().c_str(), 0700);
    expectNoFinding(config, "data_dir.permissions");

    config.dataDir = dir.path() / "not-created-yet";
    expectNoFinding(config, "data_dir.permissions");
}

TEST(DeployCheck, DatabaseWithoutVerifiedTls) {
    TempDir dir;
    Config config = goodProduction(dir);
    config.databaseUrl = SecretString("postgresql://rampart:pw@db.internal/rampart");
    expectFinding(config, "database.tls", Severity::critical);
    config.databaseUrl = SecretString("postgresql://rampart:pw@db.internal/rampart?sslmode=require");
    expectFinding(config, "database.tls", Severity::warning);
    config.databaseUrl = SecretString("postgresql://rampart:pw@db.internal/rampart?sslmode=verify-ca");
    expectFinding(config, "database.tls", Severity::warning);
    config.databaseUrl = SecretString("postgresql://rampart:pw@db.internal/rampart?sslmode=verify-full");
    expectNoFinding(config, "database.tls");
    config.databaseUrl = SecretString("postgresql://rampart:pw@localhost/rampart");
    expectNoFinding(config, "database.tls");
    config.databaseUrl = SecretString("postgresql:///rampart?host=/var/run/postgresql");
    expectNoFinding(config, "database.tls");
}

TEST(DeployCheck, APasswordWrittenInTheConfigurationFile) {
    TempDir dir;
    Config config = goodProduction(dir);
    config.databaseUrl =
        SecretString("postgresql://rampart:s3cret-pw@db.internal/rampart?sslmode=verify-full");
    expectNoFinding(config, "database.password_in_file");  // from the environment
    config.secretsInFile = {"database_url"};
    expectFinding(config, "database.password_in_file", Severity::critical);
    for (const auto& finding : runDeployChecks(config)) {
        EXPECT_EQ(finding.problem.find("s3cret-pw"), std::string::npos) << finding.id;
        EXPECT_EQ(finding.fix.find("s3cret-pw"), std::string::npos) << finding.id;
    }
    // Without a password in it (a passfile, or peer authentication), the URL may live in the file.
    config.databaseUrl =
        SecretString("postgresql://rampart@db.internal/rampart?sslmode=verify-full&passfile=/run/pgpass");
    expectNoFinding(config, "database.password_in_file");

    config.redisUrl = SecretString("rediss://rampart:pw@cache.internal:6380");
    config.secretsInFile = {"redis_url"};
    expectFinding(config, "redis.password_in_file", Severity::critical);
}

TEST(DeployCheck, RedisPlaintextOrWithoutPassword) {
    TempDir dir;
    Config config = goodProduction(dir);
    config.redisUrl = SecretString("redis://:pw@cache.internal:6379");
    expectFinding(config, "redis.plaintext", Severity::critical);
    expectNoFinding(config, "redis.no_auth");
    config.redisUrl = SecretString("rediss://cache.internal:6380");
    expectNoFinding(config, "redis.plaintext");
    expectFinding(config, "redis.no_auth", Severity::critical);
    config.redisUrl = SecretString("redis://rampart:pw@127.0.0.1:6379");
    expectNoFinding(config, "redis.plaintext");
    expectNoFinding(config, "redis.no_auth");
    config.redisUrl = SecretString("rediss://rampart:pw@cache.internal:6380/1");
    expectNoFinding(config, "redis.plaintext");
    expectNoFinding(config, "redis.no_auth");
}

TEST(DeployCheck, RedisPlaintextIsOnlyForLoopback) {
    TempDir dir;
    Config config = goodProduction(dir);
    // Addresses that are not this host, however they are written.
    for (const char* url :
         {"redis://:pw@10.0.0.7", "redis://:pw@[2001:db8::7]:6379", "redis://:pw@[::ffff:10.0.0.7]",
          "redis://:pw@localhost.evil.example", "redis://:pw@0.0.0.0", "redis://u:pw@redis/2"}) {
        SCOPED_TRACE(url);
        config.redisUrl = SecretString(url);
        expectFinding(config, "redis.plaintext", Severity::critical);
    }
    for (const char* url : {"redis://:pw@localhost", "redis://:pw@[::1]:6379", "redis://:pw@127.0.0.2"}) {
        SCOPED_TRACE(url);
        config.redisUrl = SecretString(url);
        expectNoFinding(config, "redis.plaintext");
    }
}

TEST(DeployCheck, RedisWithoutPasswordIsCriticalEvenOnLoopback) {
    TempDir dir;
    Config config = goodProduction(dir);
    // An empty password, a bare "@", or no user information at all: no AUTH is sent.
    for (const char* url :
         {"redis://127.0.0.1:6379", "redis://@localhost", "redis://:@localhost", "rediss://[::1]"}) {
        SCOPED_TRACE(url);
        config.redisUrl = SecretString(url);
        expectFinding(config, "redis.no_auth", Severity::critical);
    }
    // The finding never shows the URL, and a password-bearing URL has no such finding.
    config.redisUrl = SecretString("redis://:Secr3tPw@localhost");
    expectNoFinding(config, "redis.no_auth");
    for (const auto& finding : runDeployChecks(config)) {
        EXPECT_EQ(finding.problem.find("Secr3tPw"), std::string::npos) << finding.id;
        EXPECT_EQ(finding.fix.find("Secr3tPw"), std::string::npos) << finding.id;
    }
}

TEST(DeployCheck, TracesOverPlainHttpToAnotherMachine) {
    TempDir dir;
    Config config = goodProduction(dir);
    config.telemetry.endpoint = "http://otel-collector.internal:4318/?api_key=hunter2";
    config.telemetry.headers.emplace_back("Authorization", SecretString("Bearer hunter2"));
    expectFinding(config, "telemetry.plaintext", Severity::warning);  // a warning even in production
    const auto finding = findingFor(config, "telemetry.plaintext");
    ASSERT_TRUE(finding);
    EXPECT_THAT(finding->problem, HasSubstr("otel-collector.internal"));
    EXPECT_THAT(finding->problem, HasSubstr("credentials"));
    EXPECT_THAT(formatFinding(*finding), Not(HasSubstr("hunter2")));

    // A collector on this machine, TLS, or no tracing at all: nothing to say.
    for (const char* endpoint : {"http://127.0.0.1:4318", "http://localhost:4318", "http://[::1]:4318",
                                 "https://otel-collector.internal:4318", ""}) {
        config.telemetry.endpoint = endpoint;
        expectNoFinding(config, "telemetry.plaintext");
    }
    // traces_endpoint is what is used when set.
    config.telemetry.endpoint = "https://otel-collector.internal:4318";
    config.telemetry.tracesEndpoint = "http://10.0.0.9:4318/v1/traces";
    expectFinding(config, "telemetry.plaintext", Severity::warning);
    config.telemetry.sdkDisabled = true;
    expectNoFinding(config, "telemetry.plaintext");
}

TEST(DeployCheck, DevelopmentReportsTheSameFindingsAsWarnings) {
    TempDir dir;
    Config config = goodProduction(dir);
    config.secretKey = SecretString("weak");
    config.allowedHosts = {"*"};
    config.verboseErrors = true;
    config.metricsPublic = true;
    const auto production = runDeployChecks(config);
    EXPECT_TRUE(hasCritical(production));

    config.mode = Mode::development;
    const auto development = runDeployChecks(config);
    EXPECT_FALSE(hasCritical(development));
    ASSERT_EQ(development.size(), production.size());
    for (std::size_t i = 0; i < development.size(); ++i) {
        EXPECT_EQ(development[i].id, production[i].id);
        EXPECT_NE(development[i].severity, Severity::critical);
    }
}

TEST(DeployCheck, NoFindingQuotesASecret) {
    TempDir dir;
    Config config;
    config.mode = Mode::production;
    config.dataDir = dir.path();
    config.secretKey = SecretString("changeme-UniqueKeyText");
    config.secretKeyFile = dir.write("secret_key", "changeme-UniqueKeyText", 0644);
    config.databaseUrl = SecretString("postgresql://rampart:DbPassw0rdText@db.internal/rampart");
    config.redisUrl = SecretString("redis://:RedisPassw0rdText@cache.internal");
    config.allowedHosts = {"*"};
    config.verboseErrors = true;
    config.listen = "0.0.0.0:80";
    config.hsts.maxAge = std::chrono::seconds(0);
    config.cors.allowedOrigins = {"*", "http://example.com"};
    config.secureCookies = false;

    const auto findings = runDeployChecks(config);
    EXPECT_GE(findings.size(), 10U);
    for (const Finding& finding : findings) {
        const std::string line = formatFinding(finding);
        EXPECT_THAT(line, Not(HasSubstr("UniqueKeyText")));
        EXPECT_THAT(line, Not(HasSubstr("changeme")));
        EXPECT_THAT(line, Not(HasSubstr("DbPassw0rdText")));
        EXPECT_THAT(line, Not(HasSubstr("RedisPassw0rdText")));
    }
}

TEST(DeployCheck, FormatsOneLinePerFinding) {
    const Finding finding{"secret_key.weak", Severity::critical, "The key is weak.", "Use a strong one."};
    EXPECT_EQ(formatFinding(finding), "CRITICAL secret_key.weak: The key is weak. Fix: Use a strong one.");
    EXPECT_EQ(formatFinding({"metrics.public", Severity::warning, "P.", "F."}),
              "WARNING metrics.public: P. Fix: F.");
    EXPECT_EQ(formatFinding({"x.y", Severity::info, "P.", "F."}), "INFO x.y: P. Fix: F.");
}

TEST(DeployCheck, HasCritical) {
    EXPECT_FALSE(hasCritical({}));
    EXPECT_FALSE(hasCritical({{"a", Severity::warning, "", ""}, {"b", Severity::info, "", ""}}));
    EXPECT_TRUE(hasCritical({{"a", Severity::warning, "", ""}, {"b", Severity::critical, "", ""}}));
}

}  // namespace
}  // namespace rampart
