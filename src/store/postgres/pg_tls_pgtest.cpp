// TLS between the store and PostgreSQL, through the asynchronous connection the store uses: verify-full
// connects and the session is encrypted; a foreign CA, a name the certificate lacks and a plain connection
// are refused without quoting the password; long, large and pipelined traffic over TLS never stalls, also
// in 16 KiB TLS records that straddle messages, as proxies and other servers of the protocol send them.
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <future>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/asio/write.hpp>

#include "store/postgres/pg_connection.hpp"
#include "store/postgres/postgres_store.hpp"
#include "testing/postgres_server.hpp"
#include "testing/run_to_completion.hpp"
#include "testing/self_signed.hpp"
#include "testing/temp_directory.hpp"

namespace rampart::store::pg {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using rampart::testing::PostgresServer;
using rampart::testing::PostgresServerOptions;
using rampart::testing::runToCompletion;

constexpr std::string_view kUser = "rampart_tls";
constexpr std::string_view kPassword = "tls-Secret-pw-4711-zebra";
// A hang is the failure these tests look for: each piece of work gets this long, then fails.
constexpr auto kStallLimit = 60s;

asio::awaitable<std::unique_ptr<Connection>> connect(std::string url) {
    auto executor = co_await asio::this_coro::executor;
    co_return co_await Connection::open(executor, SecretString(std::move(url)), 10s);
}

// "" when `url` connects through Connection::open, else the StoreUnavailable's message.
std::string refusal(std::string url) {
    auto attempt = [](std::string url) -> asio::awaitable<std::string> {
        std::string message;
        try {
            co_await connect(std::move(url));
        } catch (const StoreUnavailable& error) {
            message = error.what();
        }
        co_return message;
    };
    return runToCompletion(attempt(std::move(url)));
}

// Runs `work` on a fresh io_context for at most kStallLimit: false if it has not finished by then (a
// stalled read or write), rethrows what it threw.
bool completes(asio::awaitable<void> work) {
    asio::io_context io;
    auto done = asio::co_spawn(io, std::move(work), asio::use_future);
    io.run_for(kStallLimit);
    if (done.wait_for(0s) != std::future_status::ready) return false;
    done.get();
    return true;
}

// The stalls these look for would hang, not fail: run them through completes().
asio::awaitable<void> sequentialQueries(std::string url) {
    auto db = co_await connect(std::move(url));
    for (int i = 0; i < 500; ++i) {
        const auto row = co_await db->query("SELECT $1::int + 1", Params(i));
        EXPECT_EQ(row.int64(0, 0), i + 1);
    }
}

asio::awaitable<void> largeResults(std::string url) {
    auto db = co_await connect(std::move(url));
    // Rows that straddle TLS records and libpq's buffer in many ways: sizes around 8 and 16 KiB
    // (PostgreSQL's send buffer, the largest TLS record), odd sizes, 1 to 7 rows per result. Named
    // arrays, not braced lists in the loops: their lifetime across the co_awaits is then plain.
    const std::array<int, 11> sizes{8191,  8192,  8193,  16379,  16384,  16389,
                                    22000, 30000, 65535, 100003, 1048573};
    const std::array<int, 4> rowCounts{1, 4, 5, 7};
    for (const int size : sizes) {
        for (const int rows : rowCounts) {
            const auto result = co_await db->query(
                "SELECT repeat('y', $1::int) FROM generate_series(1, $2::int)", Params(size, rows));
            EXPECT_EQ(result.rows(), rows);
            for (int row = 0; row < result.rows(); ++row)
                EXPECT_EQ(result.text(row, 0).size(), static_cast<std::size_t>(size))
                    << size << " x " << rows;
        }
    }
    // Last: libpq's input buffer only grows, and after this row it holds anything above in one read.
    const auto big = co_await db->query("SELECT repeat('x', 2000000)");
    EXPECT_EQ(big.text(0, 0).size(), 2000000u);
    EXPECT_EQ(big.text(0, 0).find_first_not_of('x'), std::string_view::npos);
}

asio::awaitable<void> longPipelines(std::string url) {
    auto db = co_await connect(std::move(url));
    std::vector<Statement> statements;
    for (int i = 0; i < 1000; ++i) statements.push_back({"SELECT $1::int * 2", Params(i)});
    const auto results = co_await db->pipeline(std::move(statements));
    EXPECT_EQ(results.size(), 1000u);
    for (int i = 0; i < static_cast<int>(results.size()); ++i) EXPECT_EQ(results[i].int64(0, 0), i * 2);
    // Parameters big enough that sending them takes many TLS records while the answers come back.
    const std::string payload(2000, 'p');
    std::vector<Statement> heavy;
    for (int i = 0; i < 1000; ++i) heavy.push_back({"SELECT length($1::text) + $2::int", Params(payload, i)});
    const auto lengths = co_await db->pipeline(std::move(heavy));
    EXPECT_EQ(lengths.size(), 1000u);
    EXPECT_EQ(lengths.back().int64(0, 0), 2000 + 999);
}

// Between libpq and a plain test server: answers libpq's SSLRequest, terminates TLS with `certificate`, and
// relays to the server in the clear. What the server sends is re-encrypted in chunks of whatever has
// arrived, up to 64 KiB, so libpq gets full 16 KiB records that straddle messages, as TLS-terminating
// proxies and some other servers of the protocol send them. PostgreSQL itself never does: its records
// are at most 8 KiB or end with a message, and libpq always reads with 8 KiB of room. A straddling record
// can leave decrypted bytes inside OpenSSL after libpq's read, which the socket never signals; libpq
// 15.20 reads them before PQconsumeInput returns (seen with an SSL_read hook), older releases did not
// (ruby-pg#588, cockroachdb#147890), and then only a wait that checks SSL_pending() would not stall.
class LargeRecordTlsProxy {
  public:
    using Stream = asio::ssl::stream<asio::ip::tcp::socket>;

    LargeRecordTlsProxy(std::uint16_t upstreamPort, const rampart::testing::SelfSigned& certificate)
        : upstreamPort_(upstreamPort), acceptor_(io_, {asio::ip::address_v4::loopback(), 0}) {
        tls_.use_certificate_chain(asio::buffer(certificate.certPem));
        tls_.use_private_key(asio::buffer(certificate.keyPem), asio::ssl::context::pem);
        asio::co_spawn(io_, accept(), asio::detached);
        thread_ = std::thread([this] { io_.run(); });
    }
    LargeRecordTlsProxy(const LargeRecordTlsProxy&) = delete;
    LargeRecordTlsProxy& operator=(const LargeRecordTlsProxy&) = delete;
    ~LargeRecordTlsProxy() {
        io_.stop();
        thread_.join();
    }

    [[nodiscard]] std::uint16_t port() const { return acceptor_.local_endpoint().port(); }
    // The most the server's side sent in one write to the client: above 16 KiB, it went as full records.
    [[nodiscard]] std::size_t largestChunk() const { return largestChunk_.load(); }

  private:
    asio::awaitable<void> accept() {
        for (;;) {
            auto client = co_await acceptor_.async_accept(asio::use_awaitable);
            asio::co_spawn(io_, relay(std::move(client)), asio::detached);
        }
    }

    asio::awaitable<void> relay(asio::ip::tcp::socket client) {
        // libpq's SSLRequest (length 8, code 80877103) is answered 'S' before the handshake.
        std::array<char, 8> request{};
        co_await asio::async_read(client, asio::buffer(request), asio::use_awaitable);
        co_await asio::async_write(client, asio::buffer("S", 1), asio::use_awaitable);
        auto down = std::make_shared<Stream>(std::move(client), tls_);
        co_await down->async_handshake(asio::ssl::stream_base::server, asio::use_awaitable);
        auto up = std::make_shared<asio::ip::tcp::socket>(io_);
        const asio::ip::tcp::endpoint server{asio::ip::address_v4::loopback(), upstreamPort_};
        co_await up->async_connect(server, asio::use_awaitable);
        asio::co_spawn(io_, toServer(down, up), asio::detached);
        co_await toClient(up, down);
    }

    // Each direction copies until either side closes (an exception, which ends only that coroutine).
    static asio::awaitable<void> toServer(std::shared_ptr<Stream> from,
                                          std::shared_ptr<asio::ip::tcp::socket> to) {
        std::vector<char> buffer(65536);
        for (;;) {
            const auto size = co_await from->async_read_some(asio::buffer(buffer), asio::use_awaitable);
            co_await asio::async_write(*to, asio::buffer(buffer.data(), size), asio::use_awaitable);
        }
    }

    // PostgreSQL writes 8 KiB at a time: waiting a moment once the first bytes are there lets the rest of
    // a burst arrive, so that one read takes up to 64 KiB and Asio writes it in full 16 KiB records.
    asio::awaitable<void> toClient(std::shared_ptr<asio::ip::tcp::socket> from, std::shared_ptr<Stream> to) {
        std::vector<char> buffer(65536);
        asio::steady_timer settle(io_);
        for (;;) {
            co_await from->async_wait(asio::socket_base::wait_read, asio::use_awaitable);
            settle.expires_after(2ms);
            co_await settle.async_wait(asio::use_awaitable);
            const auto size = co_await from->async_read_some(asio::buffer(buffer), asio::use_awaitable);
            if (size > largestChunk_.load()) largestChunk_.store(size);
            co_await asio::async_write(*to, asio::buffer(buffer.data(), size), asio::use_awaitable);
        }
    }

    std::uint16_t upstreamPort_;
    // Before io_: the coroutines that io_ destroys last still hold streams made from it.
    asio::ssl::context tls_{asio::ssl::context::tls_server};
    asio::io_context io_;
    asio::ip::tcp::acceptor acceptor_;
    std::atomic<std::size_t> largestChunk_{0};
    std::thread thread_;
};

class PgTlsTest : public ::testing::Test {
  protected:
    static void SetUpTestSuite() {
        server_ = std::make_unique<PostgresServer>(PostgresServerOptions{.tls = true});
        server_->createRole(kUser, kPassword);
        server_->createDatabase("tls", kUser);
    }
    static void TearDownTestSuite() { server_.reset(); }

    // The role's URL with `parameters` as its query.
    static std::string url(const std::string& parameters, std::string_view database = "tls") {
        return server_->url(kUser, kPassword, database) + "?" + parameters;
    }
    // What a production URL looks like: the CA named, the host name checked against the certificate.
    static std::string verifyFullUrl(std::string_view database = "tls") {
        return url("sslmode=verify-full&sslrootcert=" + server_->caPath().string() + "&host=localhost",
                   database);
    }

    static void expectNoPassword(const std::string& message) {
        EXPECT_EQ(message.find(kPassword), std::string::npos) << message;
    }

    static std::unique_ptr<PostgresServer> server_;
};

std::unique_ptr<PostgresServer> PgTlsTest::server_;

TEST_F(PgTlsTest, VerifyFullConnectsAndTheSessionIsEncrypted) {
    auto work = [](std::string url) -> asio::awaitable<void> {
        auto db = co_await connect(std::move(url));
        const auto session =
            co_await db->query("SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()");
        EXPECT_EQ(session.rows(), 1);
        EXPECT_TRUE(session.boolean(0, 0));
        EXPECT_TRUE(session.text(0, 1).starts_with("TLSv1.")) << session.text(0, 1);
    };
    runToCompletion(work(verifyFullUrl()));
}

TEST_F(PgTlsTest, ACertificateFromAnotherCaIsRefused) {
    const rampart::testing::TempDirectory directory;
    const auto otherCa = directory.write(
        "other-ca.crt", rampart::testing::makeSelfSigned("DNS:localhost,IP:127.0.0.1").certPem);
    const auto message =
        refusal(url("sslmode=verify-full&sslrootcert=" + otherCa.string() + "&host=localhost"));
    EXPECT_NE(message.find("certificate verify failed"), std::string::npos) << message;
    expectNoPassword(message);
}

TEST_F(PgTlsTest, AHostNameTheCertificateDoesNotNameIsRefusedUnderVerifyFull) {
    // hostaddr is where libpq connects; host is the name it checks the certificate against.
    const std::string elsewhere =
        "sslrootcert=" + server_->caPath().string() + "&hostaddr=127.0.0.1&host=db.example.org";
    const auto message = refusal(url("sslmode=verify-full&" + elsewhere));
    EXPECT_NE(message.find("does not match host name"), std::string::npos) << message;
    expectNoPassword(message);
    // The same server and CA under verify-ca, which checks the chain and not the name: the name alone
    // was what verify-full refused.
    EXPECT_EQ(refusal(url("sslmode=verify-ca&" + elsewhere)), "");
}

TEST_F(PgTlsTest, APlainConnectionIsRefusedByTheServer) {
    const auto message = refusal(url("sslmode=disable"));
    EXPECT_NE(message.find("no encryption"), std::string::npos) << message;
    expectNoPassword(message);
}

TEST_F(PgTlsTest, PostgresStoreMigratesAndPingsOverVerifyFull) {
    server_->createDatabase("tls_store", kUser);
    PostgresStore store(SecretString(verifyFullUrl("tls_store")));
    EXPECT_GT(store.migrate(), 0);
    EXPECT_EQ(store.schemaVersion(), store.latestSchemaVersion());
    EXPECT_TRUE(runToCompletion(store.ping()));
    const auto encrypted = store.blocking([](BlockingConnection& db) {
        return db.exec("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()").boolean(0, 0);
    });
    EXPECT_TRUE(encrypted);
    store.close();
}

TEST_F(PgTlsTest, FiveHundredSequentialQueriesOverTlsComplete) {
    EXPECT_TRUE(completes(sequentialQueries(verifyFullUrl()))) << "stalled";
}

TEST_F(PgTlsTest, LargeResultsOverTlsComplete) {
    EXPECT_TRUE(completes(largeResults(verifyFullUrl()))) << "stalled";
}

TEST_F(PgTlsTest, PipelinesOfAThousandStatementsOverTlsComplete) {
    EXPECT_TRUE(completes(longPipelines(verifyFullUrl()))) << "stalled";
}

// The same traffic in 16 KiB records (LargeRecordTlsProxy), to the shared plain test server.
class PgTlsLargeRecordTest : public ::testing::Test {
  protected:
    [[nodiscard]] std::string conninfo() const {
        return "host=localhost hostaddr=127.0.0.1 port=" + std::to_string(proxy_.port()) +
               " dbname=postgres user=" + std::string(PostgresServer::kSuperuser) +
               " password=" + rampart::testing::sharedPostgresServer().superuserPassword() +
               " sslmode=verify-full sslrootcert=" + caFile_.string();
    }

    rampart::testing::TempDirectory directory_;
    rampart::testing::SelfSigned certificate_ =
        rampart::testing::makeSelfSigned("DNS:localhost,IP:127.0.0.1");
    std::filesystem::path caFile_ = directory_.write("proxy.crt", certificate_.certPem);
    LargeRecordTlsProxy proxy_{rampart::testing::sharedPostgresServer().port(), certificate_};
};

TEST_F(PgTlsLargeRecordTest, FiveHundredSequentialQueriesComplete) {
    EXPECT_TRUE(completes(sequentialQueries(conninfo()))) << "stalled";
}

TEST_F(PgTlsLargeRecordTest, LargeResultsComplete) {
    EXPECT_TRUE(completes(largeResults(conninfo()))) << "stalled";
    EXPECT_GT(proxy_.largestChunk(), 16384u) << "the proxy never sent a full record: nothing was tested";
}

TEST_F(PgTlsLargeRecordTest, PipelinesOfAThousandStatementsComplete) {
    EXPECT_TRUE(completes(longPipelines(conninfo()))) << "stalled";
}

}  // namespace
}  // namespace rampart::store::pg
