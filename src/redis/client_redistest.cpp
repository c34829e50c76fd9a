// Tests of the Redis client against a real redis-server (testing/redis_server.hpp), plain and TLS, and
// against fake servers that stall or send hostile replies.
#include "redis/client.hpp"

#include <atomic>
#include <thread>

#include <gtest/gtest.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/asio/write.hpp>

#include "testing/child_process.hpp"
#include "testing/redis_server.hpp"
#include "testing/run_to_completion.hpp"

namespace rampart::redis {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using testing::RedisServer;
using testing::RedisServerOptions;
using testing::runToCompletion;

// The client's own io_context on a thread of its own, so that every call below comes from another
// executor (runToCompletion's), as the rate limiter's calls will.
class ClientThread {
  public:
    ClientThread() : guard_(io_.get_executor()), thread_([this] { io_.run(); }) {}
    ~ClientThread() {
        guard_.reset();
        io_.stop();
        thread_.join();
    }
    asio::any_io_executor executor() { return io_.get_executor(); }

  private:
    asio::io_context io_;
    asio::executor_work_guard<asio::io_context::executor_type> guard_;
    std::thread thread_;
};

ClientOptions fastOptions() {
    ClientOptions options;
    options.connectTimeout = 2s;
    options.commandTimeout = 2s;
    options.firstBackoff = 50ms;
    options.maxBackoff = 200ms;
    return options;
}

Reply run(Client& client, std::vector<std::string> arguments) {
    return runToCompletion(client.command(std::move(arguments)));
}

// The message of the Unavailable that `arguments` throws (fails the test if it does not).
std::string unavailableMessage(Client& client, std::vector<std::string> arguments) {
    try {
        run(client, std::move(arguments));
    } catch (const Unavailable& error) {
        return error.what();
    }
    ADD_FAILURE() << "no Unavailable";
    return {};
}

// Calls PING until it succeeds or `limit` passes (the client is in back-off meanwhile).
bool pingWithin(Client& client, std::chrono::milliseconds limit) {
    for (const auto deadline = std::chrono::steady_clock::now() + limit;
         std::chrono::steady_clock::now() < deadline;) {
        if (runToCompletion(client.ping())) return true;
        std::this_thread::sleep_for(20ms);
    }
    return false;
}

void expectNoPassword(const std::string& text, const RedisServer& server) {
    EXPECT_EQ(text.find(server.userPassword()), std::string::npos) << text;
    EXPECT_EQ(text.find(server.defaultPassword()), std::string::npos) << text;
}

TEST(RedisClient, RunsCommandsAsAnAclUser) {
    RedisServer server;
    ClientThread thread;
    Client client(thread.executor(), server.testUrl(), fastOptions());
    EXPECT_TRUE(run(client, {"SET", "greeting", std::string("he\0llo", 6)}).isString("OK"));
    const Reply value = run(client, {"GET", "greeting"});
    EXPECT_EQ(value.type, ReplyType::kBulkString);
    EXPECT_EQ(value.text, std::string("he\0llo", 6));
    EXPECT_TRUE(run(client, {"GET", "missing"}).isNull());
    EXPECT_EQ(run(client, {"INCRBY", "counter", "5"}).integer, 5);
    EXPECT_EQ(run(client, {"ACL", "WHOAMI"}).text, RedisServer::kTestUser);
    // A server error is a reply, not an exception.
    const Reply error = run(client, {"INCR", "greeting"});
    EXPECT_TRUE(error.isError());
    EXPECT_TRUE(runToCompletion(client.ping()));
}

TEST(RedisClient, AuthenticatesWithThePasswordAloneAndSelectsTheDatabase) {
    RedisServer server;
    ClientThread thread;
    Client defaultUser(thread.executor(), server.defaultUserUrl(), fastOptions());
    EXPECT_EQ(run(defaultUser, {"ACL", "WHOAMI"}).text, "default");
    EXPECT_TRUE(run(defaultUser, {"SET", "k", "in-db-0"}).isString("OK"));
    Client database3(thread.executor(), server.testUrl(3), fastOptions());
    EXPECT_TRUE(run(database3, {"GET", "k"}).isNull());
    EXPECT_TRUE(run(database3, {"SET", "k", "in-db-3"}).isString("OK"));
    EXPECT_EQ(run(defaultUser, {"GET", "k"}).text, "in-db-0");
}

TEST(RedisClient, PipelinesAThousandCommandsFromManyThreads) {
    RedisServer server;
    ClientThread thread;
    Client client(thread.executor(), server.testUrl(), fastOptions());
    constexpr int kThreads = 4;
    constexpr int kPerThread = 250;
    std::atomic<int> wrong{0};
    std::vector<std::thread> callers;
    for (int t = 0; t < kThreads; ++t) {
        callers.emplace_back([&, t] {
            asio::io_context io;
            std::vector<std::future<Reply>> replies;
            for (int i = 0; i < kPerThread; ++i) {
                std::vector<std::string> command{"ECHO", std::to_string(t) + ":" + std::to_string(i)};
                replies.push_back(asio::co_spawn(io, client.command(std::move(command)), asio::use_future));
            }
            io.run();  // all 250 in flight at once on this thread
            for (int i = 0; i < kPerThread; ++i)
                if (replies[i].get().text != std::to_string(t) + ":" + std::to_string(i)) ++wrong;
        });
    }
    for (auto& caller : callers) caller.join();
    EXPECT_EQ(wrong.load(), 0);
}

TEST(RedisClient, WrongPasswordIsRefusedWithoutShowingIt) {
    RedisServer server;
    ClientThread thread;
    const std::string wrongPassword = "not-the-password-" + server.userPassword().substr(0, 8);
    Client client(thread.executor(),
                  "redis://rampart:" + wrongPassword + "@127.0.0.1:" + std::to_string(server.port()),
                  fastOptions());
    const std::string message = unavailableMessage(client, {"PING"});
    EXPECT_NE(message.find("WRONGPASS"), std::string::npos) << message;
    EXPECT_NE(message.find("rampart:***@"), std::string::npos) << message;
    EXPECT_EQ(message.find(wrongPassword), std::string::npos) << message;
    expectNoPassword(message, server);
    // In back-off now: the next call fails at once with the same safe message.
    const std::string again = unavailableMessage(client, {"PING"});
    EXPECT_EQ(again.find(wrongPassword), std::string::npos) << again;
    EXPECT_NE(again.find("next attempt"), std::string::npos) << again;
}

TEST(RedisClient, WithoutAuthTheServerRefusesCommands) {
    RedisServer server;
    ClientThread thread;
    Client client(thread.executor(), "redis://127.0.0.1:" + std::to_string(server.port()), fastOptions());
    const Reply reply = run(client, {"GET", "k"});
    EXPECT_TRUE(reply.isError());
    EXPECT_TRUE(reply.text.starts_with("NOAUTH")) << reply.text;
    EXPECT_FALSE(runToCompletion(client.ping()));
}

TEST(RedisClient, EvalShaFallsBackToEvalAfterScriptFlush) {
    RedisServer server;
    ClientThread thread;
    Client client(thread.executor(), server.testUrl(), fastOptions());
    const Script script("return redis.call('INCRBY', KEYS[1], ARGV[1])");
    EXPECT_EQ(script.sha1.size(), 40U);
    const Reply loaded = run(client, {"SCRIPT", "LOAD", script.source});
    EXPECT_EQ(loaded.text, script.sha1);  // the same SHA-1 as the server's
    run(client, {"SCRIPT", "FLUSH"});

    EXPECT_EQ(runToCompletion(client.eval(script, {"n"}, {"2"})).integer, 2);  // NOSCRIPT, then EVAL
    const Reply exists = run(client, {"SCRIPT", "EXISTS", script.sha1});
    ASSERT_EQ(exists.elements.size(), 1U);
    EXPECT_EQ(exists.elements[0].integer, 1);  // EVAL loaded it
    EXPECT_EQ(runToCompletion(client.eval(script, {"n"}, {"3"})).integer, 5);
    // A script error is a reply of error type.
    const Script broken("return redis.call('NOSUCHCOMMAND')");
    EXPECT_TRUE(runToCompletion(client.eval(broken, {}, {})).isError());
}

TEST(RedisClient, KilledServerMakesCallsUnavailableAndTheClientReconnectsByItself) {
    RedisServer server;
    ClientThread thread;
    Client client(thread.executor(), server.testUrl(), fastOptions());
    EXPECT_TRUE(run(client, {"SET", "k", "v"}).isString("OK"));

    // Commands in flight when the server dies.
    asio::io_context io;
    std::vector<std::future<Reply>> inFlight;
    for (int i = 0; i < 50; ++i) {
        std::vector<std::string> command{"BLPOP", "never-filled", "0"};
        inFlight.push_back(asio::co_spawn(io, client.command(std::move(command)), asio::use_future));
    }
    std::thread caller([&] { io.run(); });
    std::this_thread::sleep_for(200ms);
    server.kill();
    caller.join();
    for (auto& reply : inFlight) EXPECT_THROW(reply.get(), Unavailable);

    const std::string message = unavailableMessage(client, {"GET", "k"});
    expectNoPassword(message, server);
    EXPECT_FALSE(runToCompletion(client.ping()));

    server.start();
    EXPECT_TRUE(pingWithin(client, 5s));
    EXPECT_TRUE(run(client, {"GET", "k"}).isNull());  // a new, empty server
}

TEST(RedisClient, ACommandTimesOutAgainstAStoppedServer) {
    RedisServer server;
    ClientThread thread;
    ClientOptions options = fastOptions();
    options.commandTimeout = 300ms;
    Client client(thread.executor(), server.testUrl(), options);
    EXPECT_TRUE(runToCompletion(client.ping()));
    server.pause();
    const auto started = std::chrono::steady_clock::now();
    const std::string message = unavailableMessage(client, {"PING"});
    EXPECT_NE(message.find("did not answer within 300 ms"), std::string::npos) << message;
    EXPECT_GE(std::chrono::steady_clock::now() - started, 300ms);
    server.resume();
    EXPECT_TRUE(pingWithin(client, 5s));
}

TEST(RedisClient, CloseFailsLaterCalls) {
    RedisServer server;
    ClientThread thread;
    Client client(thread.executor(), server.testUrl(), fastOptions());
    EXPECT_TRUE(runToCompletion(client.ping()));
    client.close();
    EXPECT_NE(unavailableMessage(client, {"PING"}).find("closed"), std::string::npos);
}

TEST(RedisClient, ConnectionRefusedBacksOff) {
    const auto port = testing::probeFreePort();
    ClientThread thread;
    ClientOptions options = fastOptions();
    options.firstBackoff = 10s;  // long enough that the second call surely falls in it
    Client client(thread.executor(), "redis://:pw@127.0.0.1:" + std::to_string(port), options);
    const std::string first = unavailableMessage(client, {"PING"});
    EXPECT_NE(first.find("cannot connect"), std::string::npos) << first;
    EXPECT_EQ(first.find(":pw@"), std::string::npos) << first;
    const std::string second = unavailableMessage(client, {"PING"});
    EXPECT_NE(second.find("next attempt in"), std::string::npos) << second;
}

// --- TLS ------------------------------------------------------------------------------------------

TEST(RedisClientTls, WorksWithTheTestCa) {
    RedisServer server(RedisServerOptions{.tls = true});
    ClientThread thread;
    ClientOptions options = fastOptions();
    options.caFile = server.caPath();
    Client byAddress(thread.executor(), server.testUrl(), options);
    EXPECT_TRUE(run(byAddress, {"SET", "k", "v"}).isString("OK"));
    Client byName(thread.executor(),
                  "rediss://" + std::string(RedisServer::kTestUser) + ":" + server.userPassword() +
                      "@localhost:" + std::to_string(server.port()),
                  options);
    EXPECT_EQ(run(byName, {"GET", "k"}).text, "v");
}

TEST(RedisClientTls, RefusesAServerSignedByAnotherCa) {
    RedisServer server(RedisServerOptions{.tls = true});
    RedisServer other(RedisServerOptions{.tls = true});  // its own, different test CA
    ClientThread thread;
    ClientOptions options = fastOptions();
    options.caFile = other.caPath();
    Client client(thread.executor(), server.testUrl(), options);
    const std::string message = unavailableMessage(client, {"PING"});
    EXPECT_NE(message.find("certificate was refused"), std::string::npos) << message;
    expectNoPassword(message, server);

    ClientOptions systemTrust = fastOptions();  // the system's CAs do not know the test CA either
    Client withSystemTrust(thread.executor(), server.testUrl(), systemTrust);
    EXPECT_NE(unavailableMessage(withSystemTrust, {"PING"}).find("certificate was refused"),
              std::string::npos);
}

TEST(RedisClientTls, RefusesACertificateForAnotherName) {
    RedisServer server(RedisServerOptions{.tls = true, .certificateNames = "DNS:redis.example.com"});
    ClientThread thread;
    ClientOptions options = fastOptions();
    options.caFile = server.caPath();
    Client byAddress(thread.executor(), server.testUrl(), options);
    EXPECT_NE(unavailableMessage(byAddress, {"PING"}).find("certificate was refused"), std::string::npos);
    Client byName(thread.executor(),
                  "rediss://" + std::string(RedisServer::kTestUser) + ":" + server.userPassword() +
                      "@localhost:" + std::to_string(server.port()),
                  options);
    EXPECT_NE(unavailableMessage(byName, {"PING"}).find("certificate was refused"), std::string::npos);
}

TEST(RedisClientTls, PlainRedisToATlsPortFailsCleanly) {
    RedisServer server(RedisServerOptions{.tls = true});
    ClientThread thread;
    Client client(thread.executor(), "redis://127.0.0.1:" + std::to_string(server.port()), fastOptions());
    const std::string message = unavailableMessage(client, {"PING"});
    EXPECT_FALSE(message.empty());
    EXPECT_FALSE(runToCompletion(client.ping()));
}

TEST(RedisClientTls, TlsToAPlainPortFailsCleanly) {
    RedisServer server;
    ClientThread thread;
    ClientOptions options = fastOptions();
    options.connectTimeout = 300ms;  // the plain port takes the ClientHello for an unfinished command
    Client client(thread.executor(),
                  "rediss://rampart:" + server.userPassword() + "@127.0.0.1:" + std::to_string(server.port()),
                  options);
    const std::string message = unavailableMessage(client, {"PING"});
    EXPECT_NE(message.find("cannot connect"), std::string::npos) << message;
    expectNoPassword(message, server);
}

// --- Fake servers ---------------------------------------------------------------------------------

// Accepts connections on 127.0.0.1 and answers each read with `reply` (empty: never answers).
class FakeServer {
  public:
    explicit FakeServer(std::string reply)
        : reply_(std::move(reply)), acceptor_(io_, {asio::ip::make_address("127.0.0.1"), 0}) {
        asio::co_spawn(io_, accept(), asio::detached);
        thread_ = std::thread([this] { io_.run(); });
    }
    ~FakeServer() {
        io_.stop();
        thread_.join();
    }
    std::uint16_t port() const { return acceptor_.local_endpoint().port(); }
    int connections() const { return connections_.load(); }

  private:
    asio::awaitable<void> accept() {
        for (;;) {
            auto socket = co_await acceptor_.async_accept(asio::use_awaitable);
            ++connections_;
            asio::co_spawn(io_, serve(std::move(socket)), asio::detached);
        }
    }
    asio::awaitable<void> serve(asio::ip::tcp::socket socket) {
        char buffer[4096];
        for (;;) {
            auto [ec, size] =
                co_await socket.async_read_some(asio::buffer(buffer), asio::as_tuple(asio::use_awaitable));
            if (ec) co_return;
            if (reply_.empty()) continue;
            auto [writeError, written] =
                co_await asio::async_write(socket, asio::buffer(reply_), asio::as_tuple(asio::use_awaitable));
            if (writeError) co_return;
        }
    }

    std::string reply_;
    std::atomic<int> connections_{0};
    asio::io_context io_;
    asio::ip::tcp::acceptor acceptor_;
    std::thread thread_;
};

TEST(RedisClientHostile, ASilentServerTimesOut) {
    FakeServer silent("");
    ClientThread thread;
    ClientOptions options = fastOptions();
    options.commandTimeout = 200ms;
    Client client(thread.executor(), "redis://127.0.0.1:" + std::to_string(silent.port()), options);
    EXPECT_NE(unavailableMessage(client, {"PING"}).find("did not answer within 200 ms"), std::string::npos);
}

TEST(RedisClientHostile, AGigabyteBulkHeaderIsAProtocolError) {
    FakeServer hostile("$1073741824\r\n");
    ClientThread thread;
    Client client(thread.executor(), "redis://127.0.0.1:" + std::to_string(hostile.port()), fastOptions());
    const std::string message = unavailableMessage(client, {"GET", "k"});
    EXPECT_NE(message.find("bulk string larger than"), std::string::npos) << message;
}

TEST(RedisClientHostile, DeepNestingIsAProtocolError) {
    std::string deep;
    for (int i = 0; i < 1000; ++i) deep += "*1\r\n";
    FakeServer hostile(deep);
    ClientThread thread;
    Client client(thread.executor(), "redis://127.0.0.1:" + std::to_string(hostile.port()), fastOptions());
    const std::string message = unavailableMessage(client, {"GET", "k"});
    EXPECT_NE(message.find("nested deeper"), std::string::npos) << message;
}

TEST(RedisClientHostile, AnUnaskedReplyIsAProtocolError) {
    FakeServer chatty("+OK\r\n+OK\r\n");  // two replies to each command
    ClientThread thread;
    Client client(thread.executor(), "redis://127.0.0.1:" + std::to_string(chatty.port()), fastOptions());
    // The first reply answers the command; the second finds no command waiting, which closes the connection.
    EXPECT_TRUE(run(client, {"PING"}).isString("OK"));
    std::this_thread::sleep_for(200ms);
    EXPECT_EQ(chatty.connections(), 1);
    // So the next command needs a new connection.
    EXPECT_TRUE(run(client, {"PING"}).isString("OK"));
    EXPECT_EQ(chatty.connections(), 2);
}

}  // namespace
}  // namespace rampart::redis
