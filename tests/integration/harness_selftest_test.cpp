// Tests of the integration harness itself, against stand-ins: /bin/sh scripts and Debian's nginx.
// They must pass before any failure of a Rampart test can be blamed on Rampart.
#include <gtest/gtest.h>
#include <signal.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "harness.hpp"

using namespace rampart::testing;
using namespace std::chrono_literals;

namespace {

const std::filesystem::path kNginx = "/usr/sbin/nginx";

// Live (not zombie) processes whose process group is `group`, from /proc.
int liveProcessesInGroup(pid_t group) {
    int count = 0;
    for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
        const std::string stat = readFile(entry.path() / "stat");
        const auto afterName = stat.rfind(')');
        if (afterName == std::string::npos) continue;
        char state = 0;
        int parent = 0;
        int processGroup = 0;
        if (std::sscanf(stat.c_str() + afterName + 1, " %c %d %d", &state, &parent, &processGroup) != 3)
            continue;
        if (processGroup == group && state != 'Z') ++count;
    }
    return count;
}

bool processIsLive(pid_t pid) {
    const std::string stat = readFile("/proc/" + std::to_string(pid) + "/stat");
    const auto afterName = stat.rfind(')');
    return afterName != std::string::npos && stat.size() > afterName + 2 && stat[afterName + 2] != 'Z';
}

std::filesystem::path writeScript(const TempDir& dir, const std::string& name, const std::string& body) {
    const auto path = dir / name;
    writeFile(path, "#!/bin/sh\n" + body);
    std::filesystem::permissions(path, std::filesystem::perms::owner_all);
    return path;
}

// What `rampart serve` will do, minus HTTP: note its arguments and environment, write STANDIN_PORT
// into the port file by tmp + rename, and exit 0 on SIGTERM.
constexpr const char* kStandInServer = R"(echo "args: $*"
env | sort | sed 's/^/env: /'
portfile=""
while [ $# -gt 0 ]; do
    if [ "$1" = "--port-file" ]; then portfile="$2"; shift; fi
    shift
done
trap 'echo "stopping on SIGTERM" >&2; exit 0' TERM
printf '%s\n' "$STANDIN_PORT" > "$portfile.tmp" && mv "$portfile.tmp" "$portfile"
while :; do sleep 0.05; done
)";

constexpr const char* kNginxConf = R"(worker_processes 1;
pid {dir}/nginx.pid;
events { worker_connections 64; }
http {
    access_log off;
    client_body_temp_path {dir}/client_body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    client_header_timeout 1s;
    default_type text/plain;
    ssl_certificate {cert};
    ssl_certificate_key {key};
    server {
        listen 127.0.0.1:{http};
        listen 127.0.0.1:{tls} ssl;
        ssl_protocols TLSv1.2 TLSv1.3;
        location = /healthz { default_type application/json; return 200 '{"status":"ok"}'; }
        location = /host { return 200 "$http_host"; }
        location = /length { return 200 "$content_length"; }
        location = /multi { add_header X-Multi one; add_header X-Multi two; return 204; }
    }
    server {
        listen 127.0.0.1:{legacy} ssl;
        ssl_protocols TLSv1 TLSv1.2;
        ssl_ciphers DEFAULT:@SECLEVEL=0;
        location / { return 200 legacy; }
    }
}
)";

std::string fillIn(std::string text, const std::vector<std::pair<std::string, std::string>>& values) {
    for (const auto& [placeholder, value] : values) {
        for (auto at = text.find(placeholder); at != std::string::npos; at = text.find(placeholder, at)) {
            text.replace(at, placeholder.size(), value);
            at += value.size();
        }
    }
    return text;
}

}  // namespace

TEST(HarnessTempDir, CreatesAndRemovesItsDirectory) {
    std::filesystem::path kept;
    {
        TempDir dir;
        kept = dir.path();
        ASSERT_TRUE(std::filesystem::is_directory(kept));
        writeFile(dir / "file", "content");
        EXPECT_EQ(readFile(dir / "file"), "content");
        TempDir moved(std::move(dir));
        EXPECT_EQ(moved.path(), kept);
        EXPECT_TRUE(dir.path().empty());
    }
    EXPECT_FALSE(std::filesystem::exists(kept));
}

TEST(HarnessProcess, GivesACleanEnvironmentAndCapturesOutput) {
    TempDir dir;
    ::setenv("RAMPART_HARNESS_MUST_NOT_LEAK", "1", 1);
    auto child =
        startProcess({"sh", "-c", "env; pwd; echo oops >&2; exit 3"}, {{"GIVEN", "yes"}}, dir.path());
    ::unsetenv("RAMPART_HARNESS_MUST_NOT_LEAK");
    EXPECT_EQ(child.waitExit(5s), 3);
    EXPECT_FALSE(child.running());
    const auto out = readFile(child.stdoutPath());
    EXPECT_NE(out.find("GIVEN=yes\n"), std::string::npos) << out;
    EXPECT_NE(out.find("PATH="), std::string::npos) << out;
    EXPECT_NE(out.find("HOME="), std::string::npos) << out;
    EXPECT_EQ(out.find("RAMPART_HARNESS_MUST_NOT_LEAK"), std::string::npos) << out;
    EXPECT_NE(out.find(std::filesystem::canonical(dir.path()).string() + "\n"), std::string::npos) << out;
    EXPECT_EQ(readFile(child.stderrPath()), "oops\n");
}

// `make sanitize` and `make tsan` rely on this: a report in a rampart child lands in the run's report
// directory and fails the run, instead of sitting unread in the child's stderr.
TEST(HarnessProcess, PassesTheSanitizerSettingsOnToTheChild) {
    TempDir dir;
    const char* previous = std::getenv("UBSAN_OPTIONS");
    const std::optional<std::string> saved = previous ? std::optional<std::string>(previous) : std::nullopt;
    ::setenv("UBSAN_OPTIONS", "halt_on_error=1:log_path=/nonexistent/harness-selftest", 1);
    auto child = startProcess({"sh", "-c", "env"}, {}, dir.path());
    if (saved) {
        ::setenv("UBSAN_OPTIONS", saved->c_str(), 1);
    } else {
        ::unsetenv("UBSAN_OPTIONS");
    }
    EXPECT_EQ(child.waitExit(5s), 0);
    const auto out = readFile(child.stdoutPath());
    EXPECT_NE(out.find("UBSAN_OPTIONS=halt_on_error=1:log_path=/nonexistent/harness-selftest\n"),
              std::string::npos)
        << out;
}

TEST(HarnessProcess, StopSendsSigtermAndReportsTheSignal) {
    TempDir dir;
    auto child = startProcess({"sleep", "60"}, {}, dir.path());
    const pid_t pid = child.pid();
    ASSERT_GT(pid, 0);
    EXPECT_TRUE(child.running());
    EXPECT_EQ(child.waitExit(100ms), std::nullopt);
    EXPECT_EQ(child.stop(), 128 + SIGTERM);
    EXPECT_FALSE(processIsLive(pid));
}

TEST(HarnessProcess, StopEscalatesToSigkillForTheWholeGroup) {
    TempDir dir;
    auto child =
        startProcess({"sh", "-c", "trap '' TERM; sleep 60 & echo $! > sleeper.pid; wait"}, {}, dir.path());
    std::string sleeper;
    for (int i = 0; i < 200 && sleeper.empty(); ++i) {
        sleeper = readFile(dir / "sleeper.pid");
        std::this_thread::sleep_for(10ms);
    }
    ASSERT_FALSE(sleeper.empty());
    const pid_t sleeperPid = std::stoi(sleeper);
    const auto started = std::chrono::steady_clock::now();
    EXPECT_EQ(child.stop(300ms), 128 + SIGKILL);
    EXPECT_LT(std::chrono::steady_clock::now() - started, 5s);
    for (int i = 0; i < 100 && processIsLive(sleeperPid); ++i) std::this_thread::sleep_for(10ms);
    EXPECT_FALSE(processIsLive(sleeperPid)) << "the grandchild outlived stop()";
}

TEST(HarnessProcess, MissingProgramIsAHarnessError) {
    TempDir dir;
    EXPECT_THROW(startProcess({"/nonexistent/program"}, {}, dir.path()), HarnessError);
    EXPECT_THROW(startProcess({"rampart-no-such-program"}, {}, dir.path()), HarnessError);
}

TEST(HarnessProcess, FreePortsAreDistinctAndBindable) {
    const auto first = freePort();
    const auto second = freePort();
    EXPECT_NE(first, 0);
    EXPECT_NE(first, second);
    EXPECT_FALSE(waitForPort(first, 50ms)) << "nothing should be listening yet";
}

TEST(HarnessServerProcess, StartsWithPortFileCleanEnvironmentAndStopsOnSigterm) {
    TempDir scripts;
    ServerProcess server(writeScript(scripts, "rampart", kStandInServer));
    server.start({"--config", "/dev/null"}, {{"STANDIN_PORT", "4711"}, {"RAMPART_ENV", "development"}});
    EXPECT_EQ(server.port(), 4711);
    EXPECT_GT(server.pid(), 0);
    const auto out = server.stdoutText();
    EXPECT_NE(out.find("args: serve --listen 127.0.0.1:0 --port-file " + (server.dir() / "port").string() +
                       " --config /dev/null\n"),
              std::string::npos)
        << out;
    EXPECT_NE(out.find("env: RAMPART_DATA_DIR=" + server.dataDir().string() + "\n"), std::string::npos)
        << out;
    EXPECT_NE(out.find("env: RAMPART_ENV=development\n"), std::string::npos) << out;
    EXPECT_TRUE(std::filesystem::is_directory(server.dataDir()));
    EXPECT_EQ(server.stop(), 0);
    EXPECT_NE(server.stderrText().find("stopping on SIGTERM"), std::string::npos);

    // A restart keeps the default data directory, as a persistence test needs.
    const auto dataDir = server.dataDir();
    server.start({}, {{"STANDIN_PORT", "4712"}});
    EXPECT_EQ(server.port(), 4712);
    EXPECT_EQ(server.dataDir(), dataDir);
}

TEST(HarnessServerProcess, ReportsStderrWhenTheServerExitsEarly) {
    TempDir scripts;
    ServerProcess server(
        writeScript(scripts, "rampart", "echo 'config: RAMPART_SECRET_KEY is missing' >&2\nexit 2\n"));
    try {
        server.start();
        FAIL() << "start() should have thrown";
    } catch (const HarnessError& error) {
        const std::string message = error.what();
        EXPECT_NE(message.find("exited with status 2"), std::string::npos) << message;
        EXPECT_NE(message.find("RAMPART_SECRET_KEY is missing"), std::string::npos) << message;
    }
}

TEST(HarnessServerProcess, TimesOutWithoutAPortFile) {
    TempDir scripts;
    ServerProcess server(writeScript(scripts, "rampart", "echo 'still starting' >&2\nexec sleep 60\n"));
    const auto started = std::chrono::steady_clock::now();
    try {
        server.start({}, {}, 300ms);
        FAIL() << "start() should have thrown";
    } catch (const HarnessError& error) {
        const std::string message = error.what();
        EXPECT_NE(message.find("no port file within 300 ms"), std::string::npos) << message;
        EXPECT_NE(message.find("still starting"), std::string::npos) << message;
    }
    EXPECT_LT(std::chrono::steady_clock::now() - started, 5s);
    EXPECT_FALSE(server.running());
}

// nginx on three ports: plain HTTP, TLS 1.2+1.3 only, and a legacy TLS 1.0 listener that proves
// opensslHandshakes can say "yes" to TLS 1.0 (so its "no" on the modern port means something).
class HarnessAgainstNginx : public ::testing::Test {
  protected:
    void SetUp() override {
        ASSERT_TRUE(std::filesystem::exists(kNginx))
            << kNginx << " is missing; install it with: apt-get install nginx-light";
        pki_ = makeTestPki(dir_.path());
        const std::string d = dir_.path().string();
        writeFile(dir_ / "nginx.conf", fillIn(kNginxConf, {{"{dir}", d},
                                                           {"{http}", std::to_string(httpPort_)},
                                                           {"{tls}", std::to_string(tlsPort_)},
                                                           {"{legacy}", std::to_string(legacyTlsPort_)},
                                                           {"{cert}", pki_.cert.string()},
                                                           {"{key}", pki_.key.string()}}));
        nginx_ = startProcess({kNginx.string(), "-p", d, "-c", d + "/nginx.conf", "-g", "daemon off;"}, {},
                              dir_.path());
        for (auto port : {httpPort_, tlsPort_, legacyTlsPort_}) {
            ASSERT_TRUE(waitForPort(port, 10s))
                << "nginx is not listening on " << port << "; running=" << nginx_.running() << "\nstderr:\n"
                << readFile(nginx_.stderrPath());
        }
    }

    TempDir dir_;
    TestPki pki_;
    std::uint16_t httpPort_ = freePort();
    std::uint16_t tlsPort_ = freePort();
    std::uint16_t legacyTlsPort_ = freePort();
    ChildProcess nginx_;
};

TEST_F(HarnessAgainstNginx, RequestReadsStatusHeadersAndBody) {
    auto health = request(httpPort_, "GET", "/healthz");
    ASSERT_EQ(health.status, 200) << health.error;
    EXPECT_EQ(health.body, R"({"status":"ok"})");
    EXPECT_EQ(health.header("content-type"), "application/json");
    EXPECT_EQ(health.header("CONTENT-LENGTH"), "15");
    EXPECT_TRUE(health.hasHeader("Server"));

    auto multi = request(httpPort_, "GET", "/multi");
    EXPECT_EQ(multi.status, 204);
    EXPECT_EQ(multi.headerValues("x-multi"), (std::vector<std::string>{"one", "two"}));

    auto head = request(httpPort_, "HEAD", "/healthz");
    EXPECT_EQ(head.status, 200) << head.error;
    EXPECT_EQ(head.body, "");

    EXPECT_EQ(request(httpPort_, "POST", "/length", {{"Content-Type", "text/plain"}}, "hello").body, "5");
}

TEST_F(HarnessAgainstNginx, RequestControlsTheHostHeader) {
    EXPECT_EQ(request(httpPort_, "GET", "/host").body, "127.0.0.1");
    EXPECT_EQ(request(httpPort_, "GET", "/host", {{"Host", "evil.example"}}).body, "evil.example");
    // HTTP/1.1 without Host is a 400 in every conforming server.
    EXPECT_EQ(request(httpPort_, "GET", "/host", {}, {}, {.omitHost = true}).status, 400);
}

TEST_F(HarnessAgainstNginx, RequestReportsConnectionErrors) {
    auto refused = request(freePort(), "GET", "/healthz", {}, {}, {.timeout = 2s});
    EXPECT_EQ(refused.status, 0);
    EXPECT_NE(refused.error.find("connect"), std::string::npos) << refused.error;
}

TEST_F(HarnessAgainstNginx, RequestTlsVerifiesTheTestCertificate) {
    auto tls = makeClientTlsContext(pki_);
    auto ok = requestTls(tlsPort_, "GET", "/healthz", {}, {}, tls);
    ASSERT_EQ(ok.status, 200) << ok.error;
    EXPECT_EQ(ok.body, R"({"status":"ok"})");

    auto byAddress = requestTls(tlsPort_, "GET", "/healthz", {}, {}, tls, {.tlsServerName = "127.0.0.1"});
    EXPECT_EQ(byAddress.status, 200) << byAddress.error;

    auto wrongName = requestTls(tlsPort_, "GET", "/healthz", {}, {}, tls, {.tlsServerName = "other.example"});
    EXPECT_EQ(wrongName.status, 0);
    EXPECT_NE(wrongName.error.find("handshake"), std::string::npos) << wrongName.error;

    // Plain HTTP on the TLS port is answered by nginx with a 400, not a hang.
    EXPECT_EQ(request(tlsPort_, "GET", "/healthz", {}, {}, {.timeout = 5s}).status, 400);
}

TEST_F(HarnessAgainstNginx, OpensslHandshakesSeesWhichProtocolsTheServerAllows) {
    EXPECT_TRUE(opensslHandshakes(tlsPort_, "-tls1_2"));
    EXPECT_TRUE(opensslHandshakes(tlsPort_, "-tls1_3"));
    EXPECT_FALSE(opensslHandshakes(tlsPort_, "-tls1"));
    EXPECT_FALSE(opensslHandshakes(tlsPort_, "-tls1_1"));
    EXPECT_TRUE(opensslHandshakes(legacyTlsPort_, "-tls1"))
        << "the client side must not be what refuses TLS 1.0";
    EXPECT_FALSE(opensslHandshakes(legacyTlsPort_, "-tls1_3"));
    EXPECT_FALSE(opensslHandshakes(httpPort_, "-tls1_2"));
}

TEST_F(HarnessAgainstNginx, SendRawReturnsWhatArrivesUntilCloseOrTimeout) {
    const auto garbage = sendRaw(httpPort_, "GARBAGE\r\n\r\n");
    EXPECT_EQ(garbage.rfind("HTTP/1.1 400", 0), 0u) << garbage;

    const auto closing =
        sendRaw(httpPort_, "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    EXPECT_EQ(closing.rfind("HTTP/1.1 200", 0), 0u) << closing;
    EXPECT_NE(closing.find(R"({"status":"ok"})"), std::string::npos) << closing;

    // nginx keeps this connection open, so only the timeout ends the read; the response is kept.
    const auto started = std::chrono::steady_clock::now();
    const auto kept = sendRaw(httpPort_, "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", 500ms);
    const auto took = std::chrono::steady_clock::now() - started;
    EXPECT_NE(kept.find(R"({"status":"ok"})"), std::string::npos) << kept;
    EXPECT_GE(took, 450ms);
    EXPECT_LT(took, 3s);
}

TEST_F(HarnessAgainstNginx, SlowClientSeesTheHeaderTimeoutClose) {
    SlowClient slow(httpPort_, 100ms);
    ASSERT_TRUE(slow.waitClosed(10s))
        << "nginx (client_header_timeout 1s) should have closed; connect error: " << slow.connectError();
    const auto after = slow.closedAfter();
    ASSERT_TRUE(after.has_value());
    EXPECT_GE(*after, 900ms);
    EXPECT_LT(*after, 5s);
    EXPECT_GE(slow.bytesSent(), 5u);
}

TEST_F(HarnessAgainstNginx, SlowClientStaysOpenWhileTheServerWaits) {
    SlowClient slow(httpPort_, 50ms);
    EXPECT_FALSE(slow.waitClosed(300ms));
    EXPECT_TRUE(slow.connectError().empty());
}

TEST_F(HarnessAgainstNginx, StopEndsNginxAndItsWorkersByPid) {
    const pid_t master = nginx_.pid();
    EXPECT_GE(liveProcessesInGroup(master), 2) << "expected the master and one worker";
    EXPECT_EQ(nginx_.stop(), 0);
    EXPECT_EQ(liveProcessesInGroup(master), 0);
    EXPECT_FALSE(waitForPort(httpPort_, 100ms));
}
