// The guarded client over TLS: the certificate is verified against the given trust anchors and must name
// the host; a redirect may not downgrade https to http. A self-signed server on 127.0.0.1, nothing else.
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <atomic>
#include <memory>
#include <random>
#include <string>
#include <thread>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include "egress/egress_client.hpp"
#include "testing/fake_resolver.hpp"
#include "testing/run_to_completion.hpp"
#include "testing/self_signed.hpp"
#include "testing/temp_directory.hpp"

namespace rampart::egress {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using asio::ip::tcp;
using rampart::testing::FakeResolver;
using rampart::testing::runToCompletion;
using rampart::testing::TempDirectory;

constexpr std::string_view kTestHost = "localhost-test.internal";
constexpr std::string_view kOtherHost = "other-name.internal";

using testing::makeSelfSigned;
using testing::SelfSigned;

// An HTTPS server on 127.0.0.1 in its own thread: /downgrade redirects to plain http, anything else is 200.
class TlsServer {
  public:
    explicit TlsServer(const SelfSigned& certificate)
        : tls_(asio::ssl::context::tls_server),
          acceptor_(io_, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)) {
        tls_.use_certificate_chain(asio::buffer(certificate.certPem));
        tls_.use_private_key(asio::buffer(certificate.keyPem), asio::ssl::context::pem);
        asio::co_spawn(io_, acceptLoop(), asio::detached);
        thread_ = std::thread([this] { io_.run(); });
    }
    ~TlsServer() {
        io_.stop();
        thread_.join();
    }

    unsigned short port() const { return acceptor_.local_endpoint().port(); }
    int requests() const { return requests_.load(); }

  private:
    asio::awaitable<void> acceptLoop() {
        while (true) {
            auto [ec, socket] = co_await acceptor_.async_accept(asio::as_tuple(asio::use_awaitable));
            if (ec) co_return;
            asio::co_spawn(io_, session(std::move(socket)), asio::detached);
        }
    }

    asio::awaitable<void> session(tcp::socket socket) {
        beast::ssl_stream<beast::tcp_stream> stream(beast::tcp_stream(std::move(socket)), tls_);
        auto [handshakeError] = co_await stream.async_handshake(asio::ssl::stream_base::server,
                                                                asio::as_tuple(asio::use_awaitable));
        if (handshakeError) co_return;  // the client refused our certificate
        beast::flat_buffer buffer;
        http::request<http::empty_body> request;
        auto [readError, ignoredSize] =
            co_await http::async_read(stream, buffer, request, asio::as_tuple(asio::use_awaitable));
        (void)ignoredSize;
        if (readError) co_return;
        requests_.fetch_add(1);
        http::response<http::string_body> response{http::status::ok, 11};
        if (request.target() == "/downgrade") {
            response.result(http::status::found);
            response.set(http::field::location, fmt::format("http://{}:{}/", kTestHost, port()));
        } else {
            response.body() = "secure hello";
        }
        response.prepare_payload();
        co_await http::async_write(stream, response, asio::as_tuple(asio::use_awaitable));
        beast::error_code ignored;
        beast::get_lowest_layer(stream).socket().shutdown(tcp::socket::shutdown_both, ignored);
    }

    asio::io_context io_;
    asio::ssl::context tls_;
    tcp::acceptor acceptor_;
    std::atomic<int> requests_{0};
    std::thread thread_;
};

class EgressClientTlsTest : public ::testing::Test {
  protected:
    EgressClientTlsTest()
        : certificate_(makeSelfSigned("DNS:localhost-test.internal")),
          caFile_(dir_.write("ca.pem", certificate_.certPem)),
          server_(certificate_),
          resolver_(std::make_shared<FakeResolver>()) {
        resolver_->answer(std::string(kTestHost), {{asio::ip::make_address("127.0.0.1")}});
        resolver_->answer(std::string(kOtherHost), {{asio::ip::make_address("127.0.0.1")}});
        policy_.allowDomains = {std::string(kTestHost), std::string(kOtherHost)};
    }

    FetchResult fetch(const std::string& url, const std::filesystem::path& caFile) {
        EgressClientOptions options;
        options.caFile = caFile;
        EgressClient client(policy_, resolver_, options);
        FetchRequest request;
        request.url = url;
        return runToCompletion(client.fetch(request));
    }

    std::string urlFor(std::string_view host, std::string_view path) const {
        return fmt::format("https://{}:{}{}", host, server_.port(), path);
    }

    TempDirectory dir_;
    SelfSigned certificate_;
    std::filesystem::path caFile_;
    TlsServer server_;
    std::shared_ptr<FakeResolver> resolver_;
    EgressPolicy policy_;
};

TEST_F(EgressClientTlsTest, AServerWithATrustedCertificateForTheHostIsFetched) {
    const FetchResult result = fetch(urlFor(kTestHost, "/"), caFile_);
    ASSERT_TRUE(result.ok) << result.error;
    EXPECT_EQ(result.status, 200U);
    EXPECT_EQ(result.body, "secure hello");
}

TEST_F(EgressClientTlsTest, ACertificateForAnotherNameFailsTheHandshake) {
    const FetchResult result = fetch(urlFor(kOtherHost, "/"), caFile_);
    EXPECT_FALSE(result.ok);
    EXPECT_FALSE(result.refused);
    EXPECT_NE(result.error.find("certificate verify failed"), std::string::npos) << result.error;
    EXPECT_EQ(server_.requests(), 0);
}

TEST_F(EgressClientTlsTest, AnUntrustedCertificateFailsTheHandshake) {
    const FetchResult result = fetch(urlFor(kTestHost, "/"), std::filesystem::path());
    EXPECT_FALSE(result.ok);
    EXPECT_NE(result.error.find("certificate verify failed"), std::string::npos) << result.error;
    EXPECT_EQ(server_.requests(), 0);
}

TEST_F(EgressClientTlsTest, ARedirectFromHttpsToHttpIsRefused) {
    const FetchResult result = fetch(urlFor(kTestHost, "/downgrade"), caFile_);
    EXPECT_TRUE(result.refused);
    EXPECT_EQ(result.error, fmt::format("egress refused: redirect from https to http (http://{}:{}/)",
                                        kTestHost, server_.port()));
    EXPECT_EQ(server_.requests(), 1);
}

}  // namespace
}  // namespace rampart::egress
