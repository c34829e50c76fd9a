// The guarded client end to end: refusals happen before any connection, a name is resolved once and the
// connection goes to the checked address, and against a local Beast server (reached only through the
// allowlist) bodies, deadlines and every redirect are bounded and re-checked. Nothing leaves 127.0.0.1.
#include "egress/egress_client.hpp"

#include <atomic>
#include <memory>
#include <string>
#include <thread>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "testing/fake_resolver.hpp"
#include "testing/run_to_completion.hpp"

namespace rampart::egress {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using asio::ip::tcp;
using rampart::testing::FakeResolver;
using rampart::testing::runToCompletion;
using namespace std::chrono_literals;

constexpr std::string_view kTestHost = "localhost-test.internal";
constexpr std::size_t kBigBodySize = 4096;

asio::ip::address addressOf(const char* text) {
    return asio::ip::make_address(text);
}

// A plain HTTP/1.1 server on 127.0.0.1 in its own thread, with a route for each behaviour under test.
class LocalServer {
  public:
    LocalServer() : acceptor_(io_, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)) {
        port_ = acceptor_.local_endpoint().port();
        asio::co_spawn(io_, acceptLoop(), asio::detached);
        thread_ = std::thread([this] { io_.run(); });
    }
    ~LocalServer() {
        io_.stop();
        thread_.join();
    }

    unsigned short port() const { return port_; }
    int connections() const { return connections_.load(); }

  private:
    asio::awaitable<void> acceptLoop() {
        while (true) {
            auto [ec, socket] = co_await acceptor_.async_accept(asio::as_tuple(asio::use_awaitable));
            if (ec) co_return;
            ++connections_;
            asio::co_spawn(io_, session(std::move(socket)), asio::detached);
        }
    }

    asio::awaitable<void> session(tcp::socket socket) {
        beast::flat_buffer buffer;
        http::request<http::string_body> request;
        auto [readError, ignoredSize] =
            co_await http::async_read(socket, buffer, request, asio::as_tuple(asio::use_awaitable));
        (void)ignoredSize;
        if (readError) co_return;
        const std::string target(request.target());
        http::response<http::string_body> response{http::status::ok, 11};
        response.set(http::field::content_type, "text/plain");
        if (target == "/hello") {
            response.set(http::field::etag, "\"v1\"");
            response.set("X-Internal-Secret", "not for tasks");
            response.body() =
                fmt::format("hello, egress (Host: {})", std::string(request[http::field::host]));
        } else if (target == "/echo") {
            // What arrived: method, content type, the extra headers a test sends, and the body.
            response.body() = fmt::format("{} type={} key={} injected={} length={} body={}",
                                          std::string(request.method_string()),
                                          std::string(request[http::field::content_type]),
                                          std::string(request["X-Api-Key"]), request.count("X-Injected"),
                                          std::string(request[http::field::content_length]), request.body());
        } else if (target == "/big") {
            response.body() = std::string(kBigBodySize, 'x');
        } else if (target == "/stall") {
            asio::steady_timer timer(socket.get_executor(), 30s);
            co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
            co_return;
        } else if (target.rfind("/chain/", 0) == 0) {
            const int left = std::stoi(target.substr(7));
            if (left > 0) {
                response.result(http::status::found);
                response.set(http::field::location, fmt::format("/chain/{}", left - 1));
            } else {
                response.body() = "end of chain";
            }
        } else if (target == "/relative") {
            response.result(http::status::moved_permanently);
            response.set(http::field::location, "hello");
        } else if (target == "/to-ip") {
            response.result(http::status::found);
            response.set(http::field::location, fmt::format("http://127.0.0.1:{}/hello", port_));
        } else if (target == "/to-file") {
            response.result(http::status::found);
            response.set(http::field::location, "file:///etc/passwd");
        } else {
            response.result(http::status::not_found);
        }
        response.prepare_payload();
        co_await http::async_write(socket, response, asio::as_tuple(asio::use_awaitable));
        beast::error_code ignored;
        socket.shutdown(tcp::socket::shutdown_both, ignored);
    }

    asio::io_context io_;
    tcp::acceptor acceptor_;
    unsigned short port_ = 0;
    std::atomic<int> connections_{0};
    std::thread thread_;
};

class EgressClientTest : public ::testing::Test {
  protected:
    EgressClientTest() : resolver_(std::make_shared<FakeResolver>()) {
        resolver_->answer(std::string(kTestHost), {{addressOf("127.0.0.1")}});
    }

    // The allowlist names the test host, which is what lets it resolve to 127.0.0.1.
    EgressPolicy allowlistedPolicy() const {
        EgressPolicy policy;
        policy.allowDomains = {std::string(kTestHost)};
        return policy;
    }

    FetchResult fetch(const EgressPolicy& policy, const std::string& url) {
        FetchRequest request;
        request.url = url;
        return fetch(policy, request);
    }

    FetchResult fetch(const EgressPolicy& policy, const FetchRequest& request) {
        EgressClient client(policy, resolver_);
        return runToCompletion(client.fetch(request));
    }

    std::string testUrl(std::string_view path) const {
        return fmt::format("http://{}:{}{}", kTestHost, server_.port(), path);
    }

    std::shared_ptr<FakeResolver> resolver_;
    LocalServer server_;
};

TEST_F(EgressClientTest, ANameResolvingToLoopbackIsRefusedBeforeAnyConnection) {
    resolver_->answer("evil.test", {{addressOf("127.0.0.1")}});
    const FetchResult result =
        fetch(EgressPolicy{}, fmt::format("http://evil.test:{}/hello", server_.port()));
    EXPECT_FALSE(result.ok);
    EXPECT_TRUE(result.refused);
    EXPECT_EQ(result.error, "egress refused: evil.test resolves to 127.0.0.1, which is loopback");
    EXPECT_EQ(server_.connections(), 0);
}

TEST_F(EgressClientTest, AnEncodedLoopbackLiteralIsRefusedBeforeAnyConnection) {
    const FetchResult result =
        fetch(EgressPolicy{}, fmt::format("http://0x7f000001:{}/hello", server_.port()));
    EXPECT_TRUE(result.refused);
    EXPECT_EQ(result.error, "egress refused: 127.0.0.1 is loopback");
    const FetchResult mapped =
        fetch(EgressPolicy{}, fmt::format("http://[::ffff:7f00:1]:{}/", server_.port()));
    EXPECT_EQ(mapped.error, "egress refused: ::ffff:127.0.0.1 is ipv4_mapped");
    const FetchResult metadata = fetch(EgressPolicy{}, "http://2852039166/latest/meta-data/");
    EXPECT_EQ(metadata.error, "egress refused: 169.254.169.254 is link_local");
    EXPECT_EQ(server_.connections(), 0);
}

TEST_F(EgressClientTest, ANameWithOnePrivateAddressAmongPublicOnesIsRefused) {
    resolver_->answer("mixed.test", {{addressOf("8.8.8.8"), addressOf("10.1.2.3")}});
    const FetchResult result = fetch(EgressPolicy{}, "http://mixed.test/");
    EXPECT_TRUE(result.refused);
    EXPECT_EQ(result.error, "egress refused: mixed.test resolves to 10.1.2.3, which is private");
    resolver_->answer("v6.test", {{addressOf("2606:4700:4700::1111"), addressOf("fd00::1")}});
    const FetchResult v6 = fetch(EgressPolicy{}, "http://v6.test/");
    EXPECT_EQ(v6.error, "egress refused: v6.test resolves to fd00::1, which is unique_local");
}

TEST_F(EgressClientTest, ANameIsResolvedOnceAndTheConnectionGoesToTheCheckedAddress) {
    // A rebinding answer: the name would move to an unreachable documentation address on a second lookup.
    resolver_->answer(std::string(kTestHost), {{addressOf("127.0.0.1")}, {addressOf("192.0.2.1")}});
    const FetchResult result = fetch(allowlistedPolicy(), testUrl("/hello"));
    ASSERT_TRUE(result.ok) << result.error;
    EXPECT_EQ(resolver_->calls(std::string(kTestHost)), 1);
    EXPECT_EQ(result.remoteAddress, "127.0.0.1");
    EXPECT_EQ(server_.connections(), 1);

    // Refused on the first answer: no second lookup hoping for a better one.
    resolver_->answer("rebind.test", {{addressOf("10.0.0.5")}, {addressOf("8.8.8.8")}});
    const FetchResult refused = fetch(EgressPolicy{}, "http://rebind.test/");
    EXPECT_TRUE(refused.refused);
    EXPECT_EQ(resolver_->calls("rebind.test"), 1);
}

// A resolver that answers only after a second, like a DNS server that does not reply.
class SlowResolver final : public Resolver {
  public:
    asio::awaitable<std::vector<asio::ip::address>> resolve(std::string host) override {
        asio::steady_timer timer(co_await asio::this_coro::executor, 1s);
        co_await timer.async_wait(asio::use_awaitable);
        std::vector<asio::ip::address> addresses;
        addresses.push_back(addressOf("127.0.0.1"));
        co_return addresses;
    }
};

TEST(EgressClientResolverTest, TheDeadlineCoversAResolverThatDoesNotAnswer) {
    EgressPolicy policy;
    policy.allowDomains = {std::string(kTestHost)};
    EgressClient client(policy, std::make_shared<SlowResolver>());
    FetchRequest request;
    request.url = fmt::format("http://{}/", kTestHost);
    request.timeout = 100ms;
    const FetchResult result = runToCompletion(client.fetch(request));
    EXPECT_FALSE(result.ok);
    EXPECT_EQ(result.error, "egress failed: timed out after 100 ms");
}

TEST(EgressClientResolverTest, TheSystemResolverReturnsTheAddressOfANumericHost) {
    SystemResolver resolver;
    const auto addresses = runToCompletion(resolver.resolve("127.0.0.1"));
    ASSERT_EQ(addresses.size(), 1U);
    EXPECT_EQ(addresses.front(), addressOf("127.0.0.1"));
    // No host and no service: getaddrinfo fails locally, without asking a DNS server.
    const auto none = runToCompletion(resolver.resolve(""));
    EXPECT_TRUE(none.empty());
}

TEST_F(EgressClientTest, AnUnresolvableNameFails) {
    const FetchResult result = fetch(EgressPolicy{}, "http://nowhere.test/");
    EXPECT_FALSE(result.ok);
    EXPECT_FALSE(result.refused);
    EXPECT_EQ(result.error, "egress failed: cannot resolve nowhere.test");
}

TEST_F(EgressClientTest, AnInvalidUrlIsRefusedWithItsReason) {
    const FetchResult result = fetch(EgressPolicy{}, "http://user:pw@example.com/");
    EXPECT_TRUE(result.refused);
    EXPECT_EQ(result.error,
              "egress refused: the URL must not carry a user name or password (@ in the authority)");
}

TEST_F(EgressClientTest, AnAllowlistedHostIsFetchedWithStatusBodyAndKeptHeaders) {
    const FetchResult result = fetch(allowlistedPolicy(), testUrl("/hello"));
    ASSERT_TRUE(result.ok) << result.error;
    EXPECT_EQ(result.status, 200U);
    EXPECT_EQ(result.body, fmt::format("hello, egress (Host: {}:{})", kTestHost, server_.port()));
    EXPECT_EQ(result.headers.at("content-type"), "text/plain");
    EXPECT_EQ(result.headers.at("etag"), "\"v1\"");
    EXPECT_EQ(result.headers.count("x-internal-secret"), 0U);
    EXPECT_EQ(result.finalUrl, testUrl("/hello"));
    EXPECT_EQ(result.redirects, 0);
}

TEST_F(EgressClientTest, HostsOffTheAllowlistAreRefused) {
    resolver_->answer("other.test", {{addressOf("8.8.8.8")}});
    const FetchResult result = fetch(allowlistedPolicy(), "http://other.test/");
    EXPECT_TRUE(result.refused);
    EXPECT_EQ(result.error, "egress refused: host other.test is not on the allowlist");
    EXPECT_EQ(resolver_->calls("other.test"), 0);
}

TEST_F(EgressClientTest, TheBlocklistWinsOverTheAllowlist) {
    EgressPolicy policy;
    policy.allowDomains = {".internal"};
    policy.blockDomains = {"LOCALHOST-TEST.internal."};
    const FetchResult result = fetch(policy, testUrl("/hello"));
    EXPECT_TRUE(result.refused);
    EXPECT_EQ(result.error, fmt::format("egress refused: host {} is on the blocklist", kTestHost));
    EXPECT_EQ(server_.connections(), 0);

    policy.blockDomains = {".example.com"};
    const FetchResult allowed = fetch(policy, testUrl("/hello"));
    EXPECT_TRUE(allowed.ok) << allowed.error;
}

TEST_F(EgressClientTest, ABodyOverTheLimitFails) {
    FetchRequest request;
    request.url = testUrl("/big");
    request.maxBytes = 1000;
    const FetchResult result = fetch(allowlistedPolicy(), request);
    EXPECT_FALSE(result.ok);
    EXPECT_FALSE(result.refused);
    EXPECT_EQ(result.error, "egress failed: response larger than 1000 bytes");

    // A request cannot raise the policy's limit.
    EgressPolicy policy = allowlistedPolicy();
    policy.maxResponseBytes = 2000;
    request.maxBytes = 1'000'000;
    const FetchResult clamped = fetch(policy, request);
    EXPECT_EQ(clamped.error, "egress failed: response larger than 2000 bytes");

    request.maxBytes = 0;
    policy.maxResponseBytes = kBigBodySize;
    const FetchResult fits = fetch(policy, request);
    ASSERT_TRUE(fits.ok) << fits.error;
    EXPECT_EQ(fits.body.size(), kBigBodySize);
}

TEST_F(EgressClientTest, HeadReadsNoBody) {
    FetchRequest request;
    request.url = testUrl("/big");
    request.method = FetchMethod::head;
    request.maxBytes = 10;
    const FetchResult result = fetch(allowlistedPolicy(), request);
    ASSERT_TRUE(result.ok) << result.error;
    EXPECT_TRUE(result.body.empty());
    EXPECT_EQ(result.headers.at("content-length"), std::to_string(kBigBodySize));
}

TEST_F(EgressClientTest, AStalledServerFailsWithTheTimeout) {
    FetchRequest request;
    request.url = testUrl("/stall");
    request.timeout = 300ms;
    const FetchResult result = fetch(allowlistedPolicy(), request);
    EXPECT_FALSE(result.ok);
    EXPECT_EQ(result.error, "egress failed: timed out after 300 ms");
}

TEST_F(EgressClientTest, ARelativeRedirectIsFollowedAndReChecked) {
    const FetchResult result = fetch(allowlistedPolicy(), testUrl("/relative"));
    ASSERT_TRUE(result.ok) << result.error;
    EXPECT_EQ(result.redirects, 1);
    EXPECT_EQ(result.finalUrl, testUrl("/hello"));
    // Each hop runs the whole guard again, lookup included.
    EXPECT_EQ(resolver_->calls(std::string(kTestHost)), 2);
}

TEST_F(EgressClientTest, ARedirectToAnAddressOffTheAllowlistIsRefused) {
    const FetchResult result = fetch(allowlistedPolicy(), testUrl("/to-ip"));
    EXPECT_TRUE(result.refused);
    EXPECT_EQ(result.error, "egress refused: host 127.0.0.1 is not on the allowlist");
    EXPECT_EQ(result.redirects, 1);
    EXPECT_EQ(server_.connections(), 1);
}

TEST_F(EgressClientTest, ARedirectToFileIsRefused) {
    const FetchResult result = fetch(allowlistedPolicy(), testUrl("/to-file"));
    EXPECT_TRUE(result.refused);
    EXPECT_EQ(result.error,
              "egress refused: redirect to file:///etc/passwd: the URL has scheme file, which is not allowed "
              "(http and https only)");
}

TEST_F(EgressClientTest, AtMostFiveRedirectsAreFollowed) {
    const FetchResult five = fetch(allowlistedPolicy(), testUrl("/chain/5"));
    ASSERT_TRUE(five.ok) << five.error;
    EXPECT_EQ(five.redirects, 5);
    EXPECT_EQ(five.body, "end of chain");

    const FetchResult six = fetch(allowlistedPolicy(), testUrl("/chain/6"));
    EXPECT_FALSE(six.ok);
    EXPECT_EQ(six.error, "egress failed: more than 5 redirects");
    EXPECT_EQ(six.redirects, 5);
}

FetchRequest postRequest(std::string url) {
    FetchRequest request;
    request.url = std::move(url);
    request.method = FetchMethod::post;
    request.body = std::string("\n\0binary\r\nbody", 14);  // bytes a text path would mangle
    request.contentType = "application/x-protobuf";
    request.headers = {{.name = "X-Api-Key", .value = SecretString("k-123")}};
    return request;
}

TEST_F(EgressClientTest, PostSendsTheBodyTheContentTypeAndTheExtraHeaders) {
    const FetchRequest request = postRequest(testUrl("/echo"));
    const FetchResult result = fetch(allowlistedPolicy(), request);
    ASSERT_TRUE(result.ok) << result.error;
    EXPECT_EQ(result.status, 200U);
    EXPECT_EQ(result.body,
              "POST type=application/x-protobuf key=k-123 injected=0 length=14 body=" + request.body);
}

TEST_F(EgressClientTest, PostPassesTheSameGuardBeforeAnyConnection) {
    resolver_->answer("evil.test", {{addressOf("127.0.0.1")}});
    const FetchResult loopback =
        fetch(EgressPolicy{}, postRequest(fmt::format("http://evil.test:{}/echo", server_.port())));
    EXPECT_TRUE(loopback.refused);
    EXPECT_EQ(loopback.error, "egress refused: evil.test resolves to 127.0.0.1, which is loopback");
    const FetchResult metadata =
        fetch(EgressPolicy{}, postRequest("http://169.254.169.254/latest/api/token"));
    EXPECT_EQ(metadata.error, "egress refused: 169.254.169.254 is link_local");
    EXPECT_EQ(server_.connections(), 0);
}

// A POST's body was meant for the configured URL: a redirect's answer is the result, not followed.
TEST_F(EgressClientTest, PostDoesNotFollowRedirects) {
    const FetchResult result = fetch(allowlistedPolicy(), postRequest(testUrl("/to-ip")));
    ASSERT_TRUE(result.ok) << result.error;
    EXPECT_EQ(result.status, 302U);
    EXPECT_EQ(result.redirects, 0);
    EXPECT_EQ(result.headers.at("location"), fmt::format("http://127.0.0.1:{}/hello", server_.port()));
    EXPECT_EQ(server_.connections(), 1);
}

TEST_F(EgressClientTest, AHeaderThatWouldInjectIsRefusedBeforeAnyConnectionAndNeverQuoted) {
    const std::vector<RequestHeader> injections = {
        {.name = "X-Api-Key", .value = SecretString("k-123\r\nX-Injected: 1")},
        {.name = "X-Api-Key", .value = SecretString("k-123\nX-Injected: 1")},
        {.name = "X-Api-Key", .value = SecretString("k-123\rX-Injected: 1")},
        {.name = "X-Api-Key", .value = SecretString(std::string("k-123\0X-Injected", 17))},
        {.name = "X-Api-Key\r\nX-Injected", .value = SecretString("1")},
        {.name = "X-Api-Key: k\r\nX-Injected", .value = SecretString("1")},
        {.name = "", .value = SecretString("1")},
    };
    for (const RequestHeader& header : injections) {
        FetchRequest request = postRequest(testUrl("/echo"));
        request.headers = {header};
        const FetchResult result = fetch(allowlistedPolicy(), request);
        EXPECT_FALSE(result.ok);
        EXPECT_TRUE(result.refused) << result.error;
        EXPECT_EQ(result.error.find("k-123"), std::string::npos) << result.error;
        EXPECT_EQ(result.error.find("Injected"), std::string::npos) << result.error;
        EXPECT_EQ(result.error.find('\r'), std::string::npos);
        EXPECT_EQ(result.error.find('\n'), std::string::npos);
    }
    // GETs too: the check is the client's, whatever the method.
    FetchRequest get;
    get.url = testUrl("/echo");
    get.headers = {{.name = "X-Api-Key", .value = SecretString("a\r\nX-Injected: 1")}};
    EXPECT_TRUE(fetch(allowlistedPolicy(), get).refused);
    EXPECT_EQ(server_.connections(), 0);
}

TEST_F(EgressClientTest, AnExtraHeaderCannotReframeOrRedirectTheRequest) {
    for (const char* name : {"Host", "content-length", "Transfer-Encoding", "Connection", "Content-Type",
                             "TE", "Upgrade", "Expect"}) {
        FetchRequest request = postRequest(testUrl("/echo"));
        request.headers = {{.name = name, .value = SecretString("1")}};
        const FetchResult result = fetch(allowlistedPolicy(), request);
        EXPECT_TRUE(result.refused) << name;
        EXPECT_NE(result.error.find("is set by the client itself"), std::string::npos) << result.error;
    }
    EXPECT_EQ(server_.connections(), 0);
}

TEST(EgressRequestHeaders, OnlyTokensAndCleanValuesPass) {
    EXPECT_FALSE(requestHeaderProblem("Authorization", "Bearer abc.def-ghi_jkl=="));
    EXPECT_FALSE(requestHeaderProblem("X-Scope-OrgID", "tenant\t1"));
    EXPECT_FALSE(requestHeaderProblem("x-key", "caf\xc3\xa9")) << "obs-text (UTF-8 bytes) is allowed";
    EXPECT_FALSE(requestHeaderProblem("x-empty", ""));
    EXPECT_TRUE(requestHeaderProblem("x-key", "a\x7f"));
    EXPECT_TRUE(requestHeaderProblem("x-key", "a\x01"));
    EXPECT_TRUE(requestHeaderProblem("x-key", " padded"));
    EXPECT_TRUE(requestHeaderProblem("x key", "v"));
    EXPECT_TRUE(requestHeaderProblem("x:key", "v"));
    EXPECT_TRUE(requestHeaderProblem("\xc3\xa9", "v"));
    const auto problem = requestHeaderProblem("Authorization", "secret-value\r\n");
    ASSERT_TRUE(problem);
    EXPECT_EQ(*problem, "request header Authorization has a control character (CR, LF, NUL...) in its value");
    const auto badName = requestHeaderProblem("Evil\r\nName", "v");
    ASSERT_TRUE(badName);
    EXPECT_EQ(badName->find("Evil"), std::string::npos) << "a name that is not a token is not quoted";
}

}  // namespace
}  // namespace rampart::egress
