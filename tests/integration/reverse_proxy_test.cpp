// Forwarding headers through the real binary. First without a proxy: a trusted peer sends two
// X-Forwarded-For lines the way HAProxy's `option forwardfor` does (the client's own line first, the
// proxy's appended line last). Then behind a real nginx (Debian's nginx-light) running the production
// file deploy/nginx/rampart.conf, which docs/deployment.md recommends, with only its ports, addresses and
// certificate paths substituted; a client forges X-Forwarded-For and X-Forwarded-Proto through it.
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <unistd.h>

#include <arpa/inet.h>

#include <filesystem>
#include <string>
#include <string_view>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "api_client.hpp"
#include "harness.hpp"

namespace rampart::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

const std::filesystem::path kNginx = "/usr/sbin/nginx";

std::string loginBody(std::string_view username, std::string_view password) {
    return boost::json::serialize(boost::json::object{{"username", username}, {"password", password}});
}

// ---- Without a proxy: two X-Forwarded-For lines from a trusted peer --------------------------------

class ForwardedForLinesTest : public ::testing::Test {
  protected:
    void SetUp() override {
        Environment env = apiServerEnvironment(dir_);
        // 127.0.0.1 (the test itself) plays a trusted proxy that appends its own X-Forwarded-For line.
        env["RAMPART_TRUSTED_PROXIES"] = "127.0.0.1";
        env["RAMPART_RATE_LIMITS__SCOPES__LOGIN"] = "3/minute";
        server_.start({}, env);
    }

    TempDir dir_;
    ServerProcess server_;
};

// The client's forged line comes first and the proxy's line, with the address it saw, last. Reading only
// the first line gave the client a fresh login budget per request (a fresh per-address lockout too)
// and, with 127.0.0.1, the loopback-only /metrics.
TEST_F(ForwardedForLinesTest, AProxyAppendedLineDecidesTheClientNotTheClientsForgedFirstLine) {
    auto attempt = [&](int i) {
        return apiCall(
            server_.port(), "POST", "/api/v1/auth/login", {},
            loginBody("nobody-" + std::to_string(i), "not the password"),
            {{"X-Forwarded-For", "198.51.100." + std::to_string(i)}, {"X-Forwarded-For", "203.0.113.50"}});
    };
    for (int i = 1; i <= 3; ++i) EXPECT_EQ(attempt(i).status, 401) << i;
    const auto refused = attempt(4);
    EXPECT_EQ(refused.status, 429) << "the forged first line gave a fresh budget";
    EXPECT_THAT(refused.header("RateLimit").value_or(""), HasSubstr("\"login\";r=0"));

    EXPECT_EQ(request(server_.port(), "GET", "/metrics",
                      {{"X-Forwarded-For", "127.0.0.1"}, {"X-Forwarded-For", "203.0.113.50"}})
                  .status,
              404)
        << "a forged X-Forwarded-For: 127.0.0.1 line opened /metrics";
    // The loopback client itself still reads them (the proxy's line says 127.0.0.1 too).
    EXPECT_EQ(request(server_.port(), "GET", "/metrics").status, 200);
}

// ---- Behind nginx with deploy/nginx/rampart.conf ----------------------------------------------------

// A local IPv4 address that is not loopback (the test's client connects to nginx on it, so nginx sees a
// non-loopback client as it would a remote one), or empty when the machine has none.
std::string nonLoopbackAddress() {
    ifaddrs* list = nullptr;
    if (::getifaddrs(&list) != 0) return {};
    std::string found;
    for (ifaddrs* entry = list; entry != nullptr && found.empty(); entry = entry->ifa_next) {
        if (entry->ifa_addr == nullptr || entry->ifa_addr->sa_family != AF_INET) continue;
        if ((entry->ifa_flags & IFF_UP) == 0 || (entry->ifa_flags & IFF_LOOPBACK) != 0) continue;
        char text[INET_ADDRSTRLEN] = {};
        const auto* address = reinterpret_cast<const sockaddr_in*>(entry->ifa_addr);
        if (::inet_ntop(AF_INET, &address->sin_addr, text, sizeof text) != nullptr) found = text;
    }
    ::freeifaddrs(list);
    return found;
}

// `from` must occur exactly once in `text`: the test notices when the deploy file changes shape.
std::string replaceOnce(std::string text, std::string_view from, std::string_view to) {
    const auto at = text.find(from);
    if (at == std::string::npos || text.find(from, at + 1) != std::string::npos)
        throw HarnessError("deploy/nginx/rampart.conf: expected exactly one \"" + std::string(from) + "\"");
    return text.replace(at, from.size(), to);
}

class ReverseProxyTest : public ::testing::Test {
  protected:
    void SetUp() override {
        ASSERT_TRUE(std::filesystem::exists(kNginx))
            << kNginx << " is missing; install it with: apt-get install nginx-light";
        address_ = nonLoopbackAddress();
        if (address_.empty()) address_ = "127.0.0.1";

        Environment env = apiServerEnvironment(dir_);
        // As deploy/nginx/rampart.conf's header says: nginx on this machine is the trusted proxy and ends
        // TLS.
        env["RAMPART_TRUSTED_PROXIES"] = "127.0.0.1";
        env["RAMPART_TLS_TERMINATED_BY_PROXY"] = "true";
        env["RAMPART_REQUIRE_TLS"] = "true";
        env["RAMPART_ALLOWED_HOSTS"] = "api.example.com";
        env["RAMPART_RATE_LIMITS__SCOPES__LOGIN"] = "3/minute";
        server_.start({}, env);

        pki_ = makeTestPki(nginxDir_.path());
        tls_ = makeClientTlsContext(pki_);
        // The production file; only what must differ on a test machine is replaced.
        std::string site = readFile(std::filesystem::path(RAMPART_SOURCE_DIR) / "deploy/nginx/rampart.conf");
        const std::string a = address_;
        site = replaceOnce(site, "server 127.0.0.1:8080;",
                           "server 127.0.0.1:" + std::to_string(server_.port()) + ";");
        site = replaceOnce(site, "    listen 80;\n    listen [::]:80;\n",
                           "    listen " + a + ":" + std::to_string(redirectPort_) + ";\n");
        // The TLS server also gets a plain listener, so that the same proxying settings run with
        // $scheme = http and a client's forged X-Forwarded-Proto can be tried against them.
        site = replaceOnce(site, "    listen 443 ssl http2;\n    listen [::]:443 ssl http2;\n",
                           "    listen " + a + ":" + std::to_string(tlsPort_) + " ssl http2;\n    listen " +
                               a + ":" + std::to_string(plainPort_) + ";\n");
        site = replaceOnce(site, "/etc/letsencrypt/live/api.example.com/fullchain.pem", pki_.cert.string());
        site = replaceOnce(site, "/etc/letsencrypt/live/api.example.com/privkey.pem", pki_.key.string());
        const std::string d = nginxDir_.path().string();
        writeFile(nginxDir_ / "rampart.conf", site);
        writeFile(nginxDir_ / "nginx.conf",
                  std::string(::geteuid() == 0 ? "user root;\n" : "") + "worker_processes 1;\npid " + d +
                      "/nginx.pid;\nerror_log " + d +
                      "/error.log;\nevents { worker_connections 64; }\nhttp {\n" +
                      "    access_log off;\n    client_body_temp_path " + d +
                      "/client_body;\n    proxy_temp_path " + d + "/proxy;\n    fastcgi_temp_path " + d +
                      "/fastcgi;\n    uwsgi_temp_path " + d + "/uwsgi;\n    scgi_temp_path " + d +
                      "/scgi;\n    include " + d + "/rampart.conf;\n}\n");
        nginx_ = startProcess(
            {kNginx.string(), "-p", d, "-e", d + "/error.log", "-c", d + "/nginx.conf", "-g", "daemon off;"},
            {}, nginxDir_.path());
        for (auto port : {redirectPort_, tlsPort_, plainPort_}) {
            ASSERT_TRUE(waitForPort(port, 10s, address_))
                << "nginx is not listening on " << address_ << ":" << port << "; running=" << nginx_.running()
                << "\nstderr:\n"
                << readFile(nginx_.stderrPath()) << readFile(nginxDir_ / "error.log");
        }
    }

    void TearDown() override { nginx_.stop(); }  // by its pid (and its process group: the worker)

    RequestOptions options() const { return {.tlsServerName = "localhost", .address = address_}; }

    Response viaTls(std::string_view method, std::string_view target, Headers headers,
                    std::string_view body = {}) {
        headers.emplace_back("Host", "api.example.com");
        if (!body.empty()) headers.emplace_back("Content-Type", "application/json");
        return requestTls(tlsPort_, method, target, headers, body, tls_, options());
    }

    TempDir dir_;
    TempDir nginxDir_;
    ServerProcess server_;
    TestPki pki_;
    boost::asio::ssl::context tls_{boost::asio::ssl::context::tls_client};
    ChildProcess nginx_;
    std::string address_;
    std::uint16_t redirectPort_ = freePort();
    std::uint16_t tlsPort_ = freePort();
    std::uint16_t plainPort_ = freePort();
};

// The production file's TLS: 1.2 and 1.3 only, HSTS once, plain HTTP redirected, and Rampart reached.
TEST_F(ReverseProxyTest, TheDeployFileServesTls12AndUpWithHstsAndRedirectsPlainHttp) {
    EXPECT_TRUE(opensslHandshakes(tlsPort_, "-tls1_2", 10s, address_));
    EXPECT_TRUE(opensslHandshakes(tlsPort_, "-tls1_3", 10s, address_));
    EXPECT_FALSE(opensslHandshakes(tlsPort_, "-tls1_1", 10s, address_));
    EXPECT_FALSE(opensslHandshakes(tlsPort_, "-tls1", 10s, address_));

    const auto ok = viaTls("GET", "/openapi.json", {});
    EXPECT_EQ(ok.status, 200) << ok.body;
    EXPECT_EQ(ok.headerValues("Strict-Transport-Security"),
              std::vector<std::string>{"max-age=31536000; includeSubDomains"});
    EXPECT_FALSE(ok.hasHeader("Server") && ok.header("Server")->find('/') != std::string::npos)
        << "nginx shows its version: " << *ok.header("Server");

    const auto redirect =
        request(redirectPort_, "GET", "/api/v1/me?x=1", {{"Host", "api.example.com"}}, {}, options());
    EXPECT_EQ(redirect.status, 301);
    EXPECT_EQ(redirect.header("Location"), "https://api.example.com/api/v1/me?x=1");
}

// (a) A remote client sending X-Forwarded-For: 127.0.0.1 (one line or two) through nginx gets no
// /metrics: nginx replaces the header with the address it saw, and Rampart answers /metrics to loopback
// clients only.
TEST_F(ReverseProxyTest, AForgedLoopbackForwardedForThroughNginxDoesNotOpenMetrics) {
    if (address_ == "127.0.0.1")
        GTEST_SKIP() << "no non-loopback local address: every client here is loopback";
    for (const Headers& forged : {Headers{{"X-Forwarded-For", "127.0.0.1"}},
                                  Headers{{"X-Forwarded-For", "127.0.0.1"}, {"X-Forwarded-For", "127.0.0.1"}},
                                  Headers{{"X-Forwarded-For", "127.0.0.1, 127.0.0.1"}}, Headers{}}) {
        const auto r = viaTls("GET", "/metrics", forged);
        EXPECT_EQ(r.status, 404) << (forged.empty() ? "no header" : forged.front().second);
        EXPECT_THAT(r.body, Not(HasSubstr("rampart_"))) << "metrics leaked";
    }
    // Rampart serves them to a loopback client (here straight from 127.0.0.1, a trusted proxy saying the
    // request came over TLS): the 404 above is Rampart's decision about the client, not a missing route.
    EXPECT_EQ(request(server_.port(), "GET", "/metrics",
                      {{"Host", "api.example.com"}, {"X-Forwarded-Proto", "https"}})
                  .status,
              200);
}

// (b) A client rotating forged X-Forwarded-For values through nginx is still one address: the login
// scope's 3/minute is spent by its real address, whatever username it tries.
TEST_F(ReverseProxyTest, RotatingForgedForwardedForThroughNginxStillHitsTheLoginLimit) {
    const Headers forged[] = {{{"X-Forwarded-For", "198.51.100.1"}},
                              {{"X-Forwarded-For", "198.51.100.2"}, {"X-Forwarded-For", "198.51.100.3"}},
                              {{"X-Forwarded-For", "127.0.0.1, 198.51.100.4"}},
                              {{"X-Forwarded-For", "198.51.100.5"}, {"Forwarded", "for=198.51.100.6"}}};
    for (int i = 0; i < 3; ++i) {
        const auto r = viaTls("POST", "/api/v1/auth/login", forged[i],
                              loginBody("nobody-" + std::to_string(i), "not the password"));
        EXPECT_EQ(r.status, 401) << i << ": " << r.body;
    }
    const auto refused = viaTls("POST", "/api/v1/auth/login", forged[3], loginBody("admin", kAdminPassword));
    EXPECT_EQ(refused.status, 429) << refused.body;
    EXPECT_THAT(refused.header("RateLimit").value_or(""), HasSubstr("\"login\";r=0"));
}

// (c) A client's X-Forwarded-Proto: https over plain HTTP does not make the request count as TLS: nginx
// replaces it with $scheme, so Rampart (require_tls) redirects to HTTPS. Over TLS the same route works.
TEST_F(ReverseProxyTest, AForgedForwardedProtoThroughNginxDoesNotCountAsTls) {
    for (const Headers& forged : {Headers{{"X-Forwarded-Proto", "https"}},
                                  Headers{{"X-Forwarded-Proto", "https"}, {"X-Forwarded-Proto", "https"}}}) {
        Headers headers = forged;
        headers.emplace_back("Host", "api.example.com");
        const auto r = request(plainPort_, "GET", "/openapi.json", headers, {}, options());
        EXPECT_EQ(r.status, 308) << "a forged X-Forwarded-Proto counted as TLS";
        EXPECT_EQ(r.header("Location"), "https://api.example.com/openapi.json");
    }
    EXPECT_EQ(viaTls("GET", "/openapi.json", {{"X-Forwarded-Proto", "http"}}).status, 200);
}

}  // namespace
}  // namespace rampart::testing
