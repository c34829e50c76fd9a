// The real binary over real sockets: headers on every kind of answer, Host and CORS refusals, limits,
// slow clients, TLS versions, graceful shutdown, production refusal, and logs that leak nothing.
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <future>

#include <gtest/gtest.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/json/parse.hpp>

#include "harness.hpp"

namespace rampart::testing {
namespace {

void expectSecurityHeaders(const Response& r, const std::string& what) {
    SCOPED_TRACE(what);
    EXPECT_EQ(r.header("Content-Security-Policy")
                  .value_or("")
                  .rfind("default-src 'none'; frame-ancestors 'none'", 0),
              0u);
    EXPECT_EQ(r.header("X-Content-Type-Options"), "nosniff");
    EXPECT_EQ(r.header("X-Frame-Options"), "DENY");
    EXPECT_EQ(r.header("Referrer-Policy"), "no-referrer");
    EXPECT_TRUE(r.hasHeader("Permissions-Policy"));
    EXPECT_EQ(r.header("Cross-Origin-Opener-Policy"), "same-origin");
    EXPECT_EQ(r.header("Cache-Control"), "no-store");
    EXPECT_TRUE(r.hasHeader("X-Request-ID"));
    EXPECT_FALSE(r.hasHeader("Server"));
}

Environment baseEnv() {
    return {{"RAMPART_LIMITS__MAX_BODY_BYTES", "1024"},
            {"RAMPART_CORS__ALLOWED_ORIGINS", "https://app.example.com"},
            {"RAMPART_LOG_LEVEL", "info"}};
}

class ServerTest : public ::testing::Test {
  protected:
    void SetUp() override { server_.start({}, baseEnv()); }
    ServerProcess server_;
};

TEST_F(ServerTest, SecurityHeadersOnEveryKindOfAnswer) {
    auto ok = request(server_.port(), "GET", "/healthz");
    EXPECT_EQ(ok.status, 200);
    EXPECT_EQ(ok.body, R"({"status":"ok"})");
    EXPECT_EQ(ok.header("Content-Type"), "application/json");
    expectSecurityHeaders(ok, "200");
    EXPECT_FALSE(ok.hasHeader("Strict-Transport-Security")) << "no HSTS on plain HTTP";

    auto badHost = request(server_.port(), "GET", "/healthz", {{"Host", "evil.example"}});
    EXPECT_EQ(badHost.status, 400);
    expectSecurityHeaders(badHost, "400");

    auto notFound = request(server_.port(), "GET", "/nope");
    EXPECT_EQ(notFound.status, 404);
    EXPECT_EQ(notFound.header("Content-Type"), "application/problem+json");
    expectSecurityHeaders(notFound, "404");

    auto wrongMethod = request(server_.port(), "DELETE", "/healthz");
    EXPECT_EQ(wrongMethod.status, 405);
    EXPECT_EQ(wrongMethod.header("Allow"), "GET, HEAD");
    expectSecurityHeaders(wrongMethod, "405");

    auto tooLarge = request(server_.port(), "GET", "/healthz", {}, std::string(4096, 'x'));
    EXPECT_EQ(tooLarge.status, 413);
    expectSecurityHeaders(tooLarge, "413");

    auto wrongType = request(server_.port(), "GET", "/healthz", {{"Content-Type", "text/plain"}}, "hello");
    EXPECT_EQ(wrongType.status, 415);
    expectSecurityHeaders(wrongType, "415");

    auto problem = boost::json::parse(notFound.body).as_object();
    EXPECT_EQ(problem.at("status").as_int64(), 404);
    EXPECT_EQ(problem.at("instance").as_string(), "urn:rampart:request:" + *notFound.header("X-Request-ID"));
}

TEST_F(ServerTest, HostHeaderAttacks) {
    EXPECT_EQ(request(server_.port(), "GET", "/healthz", {{"Host", "localhost:8080"}}).status, 200);
    EXPECT_EQ(request(server_.port(), "GET", "/healthz", {{"Host", "evil.example"}}).status, 400);
    RequestOptions noHost;
    noHost.omitHost = true;
    EXPECT_EQ(request(server_.port(), "GET", "/healthz", {}, {}, noHost).status, 400);
    auto twoHosts = sendRaw(
        server_.port(),
        "GET /healthz HTTP/1.1\r\nHost: localhost\r\nHost: evil.example\r\nConnection: close\r\n\r\n");
    EXPECT_EQ(twoHosts.rfind("HTTP/1.1 400", 0), 0u) << twoHosts;
    auto absolute =
        sendRaw(server_.port(), "GET http://evil.example/healthz HTTP/1.1\r\nHost: localhost\r\n\r\n");
    EXPECT_EQ(absolute.rfind("HTTP/1.1 400", 0), 0u) << absolute;
    // The server goes on serving.
    EXPECT_EQ(request(server_.port(), "GET", "/healthz").status, 200);
}

TEST_F(ServerTest, CorsPreflightAllowedAndDenied) {
    auto allowed = request(server_.port(), "OPTIONS", "/healthz",
                           {{"Origin", "https://app.example.com"}, {"Access-Control-Request-Method", "GET"}});
    EXPECT_EQ(allowed.status, 204);
    EXPECT_EQ(allowed.header("Access-Control-Allow-Origin"), "https://app.example.com");
    expectSecurityHeaders(allowed, "preflight 204");

    auto denied = request(server_.port(), "OPTIONS", "/healthz",
                          {{"Origin", "https://evil.example"}, {"Access-Control-Request-Method", "GET"}});
    EXPECT_EQ(denied.status, 403);
    EXPECT_FALSE(denied.hasHeader("Access-Control-Allow-Origin"));

    auto simple = request(server_.port(), "GET", "/healthz", {{"Origin", "https://evil.example"}});
    EXPECT_EQ(simple.status, 200);
    EXPECT_FALSE(simple.hasHeader("Access-Control-Allow-Origin")) << "an unlisted origin is never reflected";
}

TEST_F(ServerTest, OverLimitBodyGets413AndTheServerGoesOn) {
    // Announced too large: refused before the body is read.
    auto announced = sendRaw(server_.port(),
                             "POST /healthz HTTP/1.1\r\nHost: localhost\r\nContent-Length: 100000\r\n\r\n" +
                                 std::string(2000, 'x'));
    EXPECT_EQ(announced.rfind("HTTP/1.1 413", 0), 0u) << announced;
    // Chunked, growing past the limit while being read.
    std::string chunked = "POST /healthz HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n";
    for (int i = 0; i < 8; ++i) chunked += "200\r\n" + std::string(512, 'y') + "\r\n";
    chunked += "0\r\n\r\n";
    auto streamed = sendRaw(server_.port(), chunked);
    EXPECT_EQ(streamed.rfind("HTTP/1.1 413", 0), 0u) << streamed;
    EXPECT_NE(streamed.find("Connection: close"), std::string::npos);
    EXPECT_EQ(request(server_.port(), "GET", "/healthz").status, 200);
}

TEST_F(ServerTest, RequestSmugglingShapesAreRefused) {
    for (std::string raw : {
             "POST /healthz HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\nTransfer-Encoding: "
             "chunked\r\n\r\n0\r\n\r\n",
             "POST /healthz HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\nContent-Length: "
             "6\r\n\r\nhello!",
             // Codings other than chunked, and chunked twice, leave the framing to guesswork.
             "POST /healthz HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
             "POST /healthz HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: "
             "chunked\r\n\r\n0\r\n\r\n",
             "POST /healthz HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: identity\r\n\r\n",
             "GET /healthz HTTP/1.1\r\nHost: local\rhost\r\n\r\n",
             "GET /healthz HTTP/1.1\r\nHost : localhost\r\n\r\n",
             "GET /api/v1/%2e%2e/healthz HTTP/1.1\r\nHost: localhost\r\n\r\n",
             "GET /healthz/..%2f..%2fetc HTTP/1.1\r\nHost: localhost\r\n\r\n",
             "GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Bad: \x01\r\n\r\n",
         }) {
        auto answer = sendRaw(server_.port(), raw);
        EXPECT_EQ(answer.rfind("HTTP/1.1 400", 0), 0u) << "for: " << raw << "\ngot: " << answer;
        EXPECT_EQ(request(server_.port(), "GET", "/healthz").status, 200);
    }
}

TEST_F(ServerTest, HeadersOverTheLimitGet431) {
    auto answer = request(server_.port(), "GET", "/healthz", {{"X-Big", std::string(20000, 'a')}});
    EXPECT_EQ(answer.status, 431);
    EXPECT_EQ(request(server_.port(), "GET", "/healthz").status, 200);
}

TEST_F(ServerTest, HeadHasNoBody) {
    auto head = request(server_.port(), "HEAD", "/healthz");
    EXPECT_EQ(head.status, 200);
    EXPECT_TRUE(head.body.empty());
    EXPECT_EQ(head.header("Content-Length"), "15");
}

TEST_F(ServerTest, OperationalEndpoints) {
    EXPECT_EQ(request(server_.port(), "GET", "/readyz").status, 200);
    request(server_.port(), "GET", "/nope/secret-in-path");
    auto metrics = request(server_.port(), "GET", "/metrics");
    ASSERT_EQ(metrics.status, 200);
    EXPECT_NE(
        metrics.body.find(R"(rampart_http_requests_total{method="GET",route="/readyz",status="200"} 1)"),
        std::string::npos)
        << metrics.body;
    EXPECT_NE(metrics.body.find("rampart_http_request_duration_seconds_bucket"), std::string::npos);
    EXPECT_NE(metrics.body.find("rampart_http_open_connections"), std::string::npos);
    EXPECT_NE(metrics.body.find("rampart_http_requests_in_flight"), std::string::npos);
    EXPECT_EQ(metrics.body.find("secret-in-path"), std::string::npos);

    auto openapi = request(server_.port(), "GET", "/openapi.json");
    ASSERT_EQ(openapi.status, 200);
    auto document = boost::json::parse(openapi.body).as_object();
    EXPECT_EQ(document.at("openapi").as_string(), "3.1.0");
    for (auto path : {"/healthz", "/readyz", "/metrics", "/openapi.json"})
        EXPECT_TRUE(document.at("paths").as_object().contains(path)) << path;
}

TEST_F(ServerTest, SlowHeaderClientIsCutOffWhileOthersAreServed) {
    server_.stop();
    auto env = baseEnv();
    env["RAMPART_LIMITS__HEADER_TIMEOUT_MS"] = "1500";
    env["RAMPART_THREADS"] = "1";  // one I/O thread: the slow client must not hold it
    server_.start({}, env);
    SlowClient slow(server_.port(), std::chrono::milliseconds(200));
    for (int i = 0; i < 5; ++i) {
        auto start = std::chrono::steady_clock::now();
        EXPECT_EQ(request(server_.port(), "GET", "/healthz").status, 200);
        EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(1));
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    ASSERT_TRUE(slow.waitClosed(std::chrono::seconds(5))) << "sent " << slow.bytesSent() << " bytes";
    EXPECT_LT(*slow.closedAfter(), std::chrono::milliseconds(3000));
    EXPECT_GT(*slow.closedAfter(), std::chrono::milliseconds(1000));
}

TEST_F(ServerTest, ConnectionLimit) {
    server_.stop();
    auto env = baseEnv();
    env["RAMPART_LIMITS__MAX_CONNECTIONS"] = "3";
    env["RAMPART_THREADS"] = "1";
    server_.start({}, env);
    std::vector<std::unique_ptr<SlowClient>> holders;
    for (int i = 0; i < 3; ++i)
        holders.push_back(std::make_unique<SlowClient>(server_.port(), std::chrono::milliseconds(500)));
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    auto refused = request(server_.port(), "GET", "/healthz");
    EXPECT_EQ(refused.status, 0) << "a fourth connection is closed at once";
    holders.clear();
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    EXPECT_EQ(request(server_.port(), "GET", "/healthz").status, 200);
}

TEST_F(ServerTest, GracefulShutdownFinishesARequestInFlight) {
    // Half a request is on the wire when SIGTERM arrives; the rest follows; the answer still comes.
    boost::asio::io_context io;
    boost::asio::ip::tcp::socket socket(io);
    socket.connect({boost::asio::ip::make_address("127.0.0.1"), server_.port()});
    boost::asio::write(socket, boost::asio::buffer(std::string("GET /healthz HTTP/1.1\r\nHost: loc")));
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    server_.signal(SIGTERM);
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    // New connections are no longer accepted.
    EXPECT_EQ(request(server_.port(), "GET", "/healthz").status, 0);
    boost::asio::write(socket, boost::asio::buffer(std::string("alhost\r\n\r\n")));
    std::string answer;
    boost::system::error_code ec;
    std::array<char, 4096> chunk;
    while (!ec) {
        auto n = socket.read_some(boost::asio::buffer(chunk), ec);
        answer.append(chunk.data(), n);
    }
    EXPECT_EQ(answer.rfind("HTTP/1.1 200", 0), 0u) << answer;
    EXPECT_NE(answer.find("Connection: close"), std::string::npos);
    EXPECT_EQ(server_.waitExit(std::chrono::seconds(10)), 0);
}

TEST_F(ServerTest, LogsNeverHoldCredentialsOrBodies) {
    request(server_.port(), "POST", "/healthz",
            {{"Authorization", "Bearer rmp_supersecrettoken"},
             {"Cookie", "session=cookiesecret"},
             {"Content-Type", "application/json"}},
            R"({"password":"bodysecret"})");
    request(server_.port(), "GET", "/healthz?token=querysecret", {{"X-Api-Key", "headersecret"}});
    server_.stop();
    auto logs = server_.stdoutText() + server_.stderrText();
    for (auto secret : {"supersecrettoken", "cookiesecret", "bodysecret", "querysecret", "headersecret"})
        EXPECT_EQ(logs.find(secret), std::string::npos) << secret;
    // The access log is JSON lines with the route template.
    auto out = server_.stdoutText();
    auto firstLine = out.substr(0, out.find('\n'));
    auto record = boost::json::parse(firstLine).as_object();
    EXPECT_EQ(record.at("route").as_string(), "/healthz");
    EXPECT_EQ(record.at("status").as_int64(), 401);  // the forged token is refused before the router
    for (auto key : {"time", "method", "duration_ms", "bytes", "request_id", "client"})
        EXPECT_TRUE(record.contains(key)) << key;
}

// One keep-alive connection driven by hand: `send` writes bytes as they are (several requests in one
// write are pipelined) and reads `count` answers in order, with what the server sent ahead kept for the
// next call. An answer that does not arrive within 10 s ends the exchange.
template <class Stream>
class KeepAliveClient {
  public:
    using Answer = boost::beast::http::response<boost::beast::http::string_body>;
    explicit KeepAliveClient(Stream& stream) : stream_(stream) {}

    std::vector<Answer> send(boost::asio::io_context& io, std::string bytes, int count) {
        std::vector<Answer> answers;
        auto run = [&]() -> boost::asio::awaitable<void> {
            co_await boost::asio::async_write(stream_, boost::asio::buffer(bytes),
                                              boost::asio::use_awaitable);
            for (int i = 0; i < count; ++i) {
                Answer answer;
                co_await boost::beast::http::async_read(stream_, buffer_, answer, boost::asio::use_awaitable);
                answers.push_back(std::move(answer));
            }
        };
        boost::asio::co_spawn(io, run(), [](std::exception_ptr) {});
        io.restart();
        io.run_for(std::chrono::seconds(10));
        return answers;
    }

  private:
    Stream& stream_;
    boost::beast::flat_buffer buffer_;
};

std::string getRequest(const std::string& target, const std::string& extraHeader = {}) {
    return "GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\n" + extraHeader + "\r\n";
}

// Requests one after another on one connection, idle in between (the server gives its buffers back
// then), one with a header longer than what an idle connection reads at once, an answer of several TLS
// records, then four requests pipelined in one write.
template <class Stream>
void servesKeepAliveRequestsInARowAndPipelined(boost::asio::io_context& io, Stream& stream) {
    KeepAliveClient client(stream);
    for (int i = 0; i < 3; ++i) {
        auto answers = client.send(io, getRequest("/healthz"), 1);
        ASSERT_EQ(answers.size(), 1u) << "request " << i << " in a row got no answer";
        EXPECT_EQ(answers[0].result_int(), 200);
        EXPECT_EQ(answers[0].body(), R"({"status":"ok"})");
        EXPECT_TRUE(answers[0].keep_alive());
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    auto longHeader =
        client.send(io, getRequest("/healthz", "X-Padding: " + std::string(3000, 'p') + "\r\n"), 1);
    ASSERT_EQ(longHeader.size(), 1u) << "a request with a 3 KB header got no answer";
    EXPECT_EQ(longHeader[0].result_int(), 200);
    EXPECT_EQ(longHeader[0].body(), R"({"status":"ok"})");

    auto large = client.send(io, getRequest("/openapi.json"), 1);
    ASSERT_EQ(large.size(), 1u) << "the large answer did not arrive";
    EXPECT_EQ(large[0].result_int(), 200);
    EXPECT_GT(large[0].body().size(), 4u * 16 * 1024);
    EXPECT_NO_THROW(boost::json::parse(large[0].body()));

    auto pipelined = client.send(
        io,
        getRequest("/healthz") + getRequest("/openapi.json") + getRequest("/nope") + getRequest("/healthz"),
        4);
    ASSERT_EQ(pipelined.size(), 4u) << "pipelined requests went unanswered";
    EXPECT_EQ(pipelined[0].result_int(), 200);
    EXPECT_EQ(pipelined[0].body(), R"({"status":"ok"})");
    EXPECT_EQ(pipelined[1].result_int(), 200);
    EXPECT_EQ(pipelined[1].body(), large[0].body());
    EXPECT_EQ(pipelined[2].result_int(), 404);
    EXPECT_EQ(pipelined[3].result_int(), 200);
    EXPECT_EQ(pipelined[3].body(), R"({"status":"ok"})");

    auto after = client.send(io, getRequest("/healthz"), 1);
    ASSERT_EQ(after.size(), 1u) << "the connection did not serve a request after the pipelined ones";
    EXPECT_EQ(after[0].result_int(), 200);
}

TEST_F(ServerTest, KeepAliveConnectionServesRequestsInARowAndPipelined) {
    boost::asio::io_context io;
    boost::asio::ip::tcp::socket socket(io);
    socket.connect({boost::asio::ip::make_address("127.0.0.1"), server_.port()});
    servesKeepAliveRequestsInARowAndPipelined(io, socket);
}

class TlsServerTest : public ::testing::Test {
  protected:
    void SetUp() override {
        pki_ = makeTestPki(dir_.path());
        server_.start({}, {{"RAMPART_TLS_CERT", pki_.cert.string()}, {"RAMPART_TLS_KEY", pki_.key.string()}});
    }
    TempDir dir_;
    TestPki pki_;
    ServerProcess server_;
};

TEST_F(TlsServerTest, ModernProtocolsOnly) {
    EXPECT_TRUE(opensslHandshakes(server_.port(), "-tls1_2"));
    EXPECT_TRUE(opensslHandshakes(server_.port(), "-tls1_3"));
    EXPECT_FALSE(opensslHandshakes(server_.port(), "-tls1"));
    EXPECT_FALSE(opensslHandshakes(server_.port(), "-tls1_1"));
}

TEST_F(TlsServerTest, HstsAndHeadersOverTls) {
    auto client = makeClientTlsContext(pki_);
    auto ok = requestTls(server_.port(), "GET", "/healthz", {}, {}, client);
    EXPECT_EQ(ok.status, 200);
    expectSecurityHeaders(ok, "TLS 200");
    EXPECT_EQ(ok.header("Strict-Transport-Security"), "max-age=31536000; includeSubDomains");
    auto notFound = requestTls(server_.port(), "GET", "/nope", {}, {}, client);
    EXPECT_EQ(notFound.status, 404);
    EXPECT_TRUE(notFound.hasHeader("Strict-Transport-Security"));
    // Plain HTTP to the TLS port gets no answer.
    EXPECT_EQ(request(server_.port(), "GET", "/healthz", {}, {}, {.timeout = std::chrono::seconds(3)}).status,
              0);
}

// An answer bigger than one TLS record (16 KiB) arrives whole: the server used to write the header and
// then hang on the body until its write deadline, so no long listing, /metrics or /openapi.json ever
// arrived over TLS.
TEST_F(TlsServerTest, AnswersLargerThanOneTlsRecordArriveWhole) {
    auto client = makeClientTlsContext(pki_);
    auto document = requestTls(server_.port(), "GET", "/openapi.json", {}, {}, client);
    ASSERT_EQ(document.status, 200) << "the answer did not arrive";
    EXPECT_GT(document.body.size(), 4u * 16 * 1024);
    EXPECT_EQ(document.header("Content-Length"), std::to_string(document.body.size()));
    EXPECT_NO_THROW(boost::json::parse(document.body));
    EXPECT_EQ(requestTls(server_.port(), "GET", "/healthz", {}, {}, client).status, 200);
}

// The same over TLS, where an idle connection also gives OpenSSL's record buffers back.
TEST_F(TlsServerTest, KeepAliveConnectionServesRequestsInARowAndPipelined) {
    auto context = makeClientTlsContext(pki_);
    boost::asio::io_context io;
    boost::asio::ssl::stream<boost::asio::ip::tcp::socket> stream(io, context);
    stream.lowest_layer().connect({boost::asio::ip::make_address("127.0.0.1"), server_.port()});
    SSL_set_tlsext_host_name(stream.native_handle(), "localhost");
    stream.handshake(boost::asio::ssl::stream_base::client);
    servesKeepAliveRequestsInARowAndPipelined(io, stream);
}

std::string certificateSerial(std::uint16_t port) {
    std::string command =
        "openssl s_client -connect 127.0.0.1:" + std::to_string(port) +
        " -servername localhost </dev/null 2>/dev/null | openssl x509 -noout -serial 2>/dev/null";
    std::string out;
    if (FILE* pipe = popen(command.c_str(), "r")) {
        std::array<char, 256> line;
        while (fgets(line.data(), line.size(), pipe)) out += line.data();
        pclose(pipe);
    }
    return out;
}

TEST_F(TlsServerTest, CertificateReloadsOnSighup) {
    auto before = certificateSerial(server_.port());
    ASSERT_NE(before.find("serial="), std::string::npos);
    TempDir other;
    auto renewed = makeTestPki(other.path());
    std::filesystem::copy_file(renewed.cert, pki_.cert, std::filesystem::copy_options::overwrite_existing);
    std::filesystem::copy_file(renewed.key, pki_.key, std::filesystem::copy_options::overwrite_existing);
    server_.signal(SIGHUP);
    std::string after;
    for (int i = 0; i < 50 && (after.empty() || after == before); ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        after = certificateSerial(server_.port());
    }
    EXPECT_NE(after, before);
    EXPECT_NE(after.find("serial="), std::string::npos);
    // A broken file on the next reload keeps the current certificate.
    writeFile(pki_.cert, "not a certificate");
    server_.signal(SIGHUP);
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    EXPECT_EQ(certificateSerial(server_.port()), after);
}

TEST_F(ServerTest, SecondServerOnTheSamePortFailsLoudly) {
    TempDir dir;
    auto second =
        startProcess({RAMPART_BINARY, "serve", "--listen", "127.0.0.1:" + std::to_string(server_.port())},
                     {{"RAMPART_DATA_DIR", dir.path().string()}}, dir.path());
    auto status = second.waitExit(std::chrono::seconds(10));
    ASSERT_TRUE(status.has_value()) << "a second server must not share the port";
    EXPECT_NE(*status, 0);
    EXPECT_NE(readFile(second.stderrPath()).find("cannot listen"), std::string::npos);
    EXPECT_EQ(request(server_.port(), "GET", "/healthz").status, 200);
}

// Production mode with no configuration: refuses to start and says why.
TEST(ProductionTest, RefusesToStartWithCriticalFindings) {
    TempDir dir;
    auto child =
        startProcess({RAMPART_BINARY, "serve", "--listen", "127.0.0.1:0"},
                     {{"RAMPART_ENV", "production"}, {"RAMPART_DATA_DIR", dir.path().string()}}, dir.path());
    auto status = child.waitExit(std::chrono::seconds(10));
    ASSERT_TRUE(status.has_value());
    EXPECT_NE(*status, 0);
    auto err = readFile(child.stderrPath());
    EXPECT_NE(err.find("secret_key.missing"), std::string::npos) << err;
    EXPECT_NE(err.find("refusing to start"), std::string::npos) << err;
}

// With every critical finding fixed, production still refuses to run as root.
TEST(ProductionTest, RefusesToRunAsRoot) {
    TempDir dir;
    auto pki = makeTestPki(dir.path());
    Environment env{
        {"RAMPART_ENV", "production"},
        {"RAMPART_DATA_DIR", dir.path().string()},
        {"RAMPART_SECRET_KEY", "Zq8-vN3_kP0rT7wY2xB5mC9dF1gH4jL6sA0eR8uI3oQ7tV5yW2nM-bK_cX9zE1pS"},
        {"RAMPART_TLS_CERT", pki.cert.string()},
        {"RAMPART_TLS_KEY", pki.key.string()},
        {"RAMPART_ALLOWED_HOSTS", "localhost"}};
    auto check = startProcess({RAMPART_BINARY, "check", "--deploy"}, env, dir.path());
    ASSERT_EQ(check.waitExit(std::chrono::seconds(10)), 0) << readFile(check.stdoutPath());
    auto child = startProcess({RAMPART_BINARY, "serve", "--listen", "127.0.0.1:0"}, env, dir.path());
    auto status = child.waitExit(std::chrono::seconds(5));
    if (::geteuid() == 0) {
        ASSERT_TRUE(status.has_value());
        EXPECT_EQ(*status, 2);
        EXPECT_NE(readFile(child.stderrPath()).find("refusing to run as root"), std::string::npos);
    } else {
        EXPECT_FALSE(status.has_value())
            << "an unprivileged user may serve: " << readFile(child.stderrPath());
    }
}

TEST(ProductionTest, CheckDeployListsCriticalFindingsAndFails) {
    TempDir dir;
    auto child =
        startProcess({RAMPART_BINARY, "check", "--deploy"},
                     {{"RAMPART_ENV", "production"}, {"RAMPART_DATA_DIR", dir.path().string()}}, dir.path());
    auto status = child.waitExit(std::chrono::seconds(10));
    ASSERT_TRUE(status.has_value());
    EXPECT_NE(*status, 0);
    auto out = readFile(child.stdoutPath());
    EXPECT_NE(out.find("CRITICAL secret_key.missing"), std::string::npos) << out;
    EXPECT_NE(out.find("CRITICAL tls.missing"), std::string::npos) << out;
}

TEST(ProductionTest, SecretKeyNeverPrinted) {
    TempDir dir;
    std::string weak = "weakweakweakweak-secret-value";
    auto child = startProcess({RAMPART_BINARY, "check", "--deploy"},
                              {{"RAMPART_ENV", "production"},
                               {"RAMPART_SECRET_KEY", weak},
                               {"RAMPART_DATA_DIR", dir.path().string()}},
                              dir.path());
    child.waitExit(std::chrono::seconds(10));
    auto out = readFile(child.stdoutPath()) + readFile(child.stderrPath());
    EXPECT_NE(out.find("secret_key.weak"), std::string::npos) << out;
    EXPECT_EQ(out.find(weak), std::string::npos);
}

}  // namespace
}  // namespace rampart::testing
