// The security run's own client (tests/security/run.sh), for what the attack tools cannot do:
//   rampart_security_probe hardening PORT CA_FILE TOKEN
//     sends malformed and hostile requests over TLS, each on a fresh connection, and checks the exact
//     4xx of each and that a normal request on a new connection still gets 200;
//   rampart_security_probe idle PORT CA_FILE COUNT HOLD_SECONDS SERVER_PID
//     opens COUNT TLS keep-alive connections, sends one request on each and leaves them idle, then for
//     HOLD_SECONDS times a normal request every half second and reads the server's RSS.
// Prints one line per check ("ok ..." or "FAIL ...") and a last "verdict" line; exits 1 on any failure.
#include <poll.h>
#include <sys/select.h>

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace {

namespace asio = boost::asio;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using Stream = ssl::stream<tcp::socket>;

constexpr auto kReadTimeout = std::chrono::seconds(5);

struct Target {
    std::uint16_t port = 0;
    std::string caFile;
};

ssl::context makeContext(const Target& target) {
    ssl::context context(ssl::context::tls_client);
    context.load_verify_file(target.caFile);
    context.set_verify_mode(ssl::verify_peer);
    return context;
}

// A verified TLS connection to localhost:port with SNI "localhost"; throws on failure.
std::unique_ptr<Stream> connectTls(asio::io_context& io, ssl::context& context, std::uint16_t port) {
    auto stream = std::make_unique<Stream>(io, context);
    stream->lowest_layer().connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
    SSL_set_tlsext_host_name(stream->native_handle(), "localhost");
    stream->set_verify_callback(ssl::host_name_verification("localhost"));
    stream->handshake(ssl::stream_base::client);
    return stream;
}

// Sends `bytes` on a fresh connection and returns what came back until the server closed, one full
// response had arrived (by Content-Length) or the time-out passed.
std::string roundTrip(const Target& target, const std::string& bytes) {
    asio::io_context io;
    auto context = makeContext(target);
    auto stream = connectTls(io, context, target.port);
    // The server may answer (413) and close before it has read everything: the answer counts.
    boost::system::error_code writeError;
    asio::write(*stream, asio::buffer(bytes), writeError);
    std::string received;
    auto deadline = Clock::now() + kReadTimeout;
    int fd = stream->lowest_layer().native_handle();
    for (;;) {
        auto headerEnd = received.find("\r\n\r\n");
        if (headerEnd != std::string::npos) {
            auto lower = received.substr(0, headerEnd);
            std::transform(lower.begin(), lower.end(), lower.begin(), ::tolower);
            auto at = lower.find("\r\ncontent-length:");
            std::size_t length = at == std::string::npos ? 0 : std::stoul(lower.substr(at + 17));
            if (received.size() >= headerEnd + 4 + length) break;
        }
        if (Clock::now() > deadline) break;
        if (SSL_pending(stream->native_handle()) == 0) {
            fd_set set;
            FD_ZERO(&set);
            FD_SET(fd, &set);
            timeval wait{0, 100000};
            if (select(fd + 1, &set, nullptr, nullptr, &wait) <= 0) continue;
        }
        char buffer[16384];
        boost::system::error_code error;
        auto n = stream->read_some(asio::buffer(buffer), error);
        received.append(buffer, n);
        if (error) break;
    }
    return received;
}

int statusOf(const std::string& response) {
    if (response.rfind("HTTP/1.1 ", 0) != 0 || response.size() < 12) return 0;
    return std::atoi(response.substr(9, 3).c_str());
}

std::string firstLine(const std::string& response) {
    if (response.empty()) return "(no answer)";
    return response.substr(0, response.find("\r\n"));
}

std::string getRequest(const std::string& target, const std::string& extraHeaders = {}) {
    return "GET " + target + " HTTP/1.1\r\nHost: localhost\r\n" + extraHeaders + "Connection: close\r\n\r\n";
}

std::string postJson(const std::string& target, const std::string& token, const std::string& body) {
    return "POST " + target + " HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer " + token +
           "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
           "\r\nConnection: close\r\n\r\n" + body;
}

struct Case {
    std::string name;
    std::string bytes;
    int expected;
};

int hardening(const Target& target, const std::string& token) {
    const std::string bearer = "Authorization: Bearer " + token + "\r\n";
    std::string nested;
    for (int i = 0; i < 100000; ++i) nested += "[";
    for (int i = 0; i < 100000; ++i) nested += "]";
    std::string huge = R"({"task": "echo", "args": {"data": ")" + std::string(4 * 1024 * 1024, 'x') + "\"}}";
    std::vector<Case> cases = {
        // Header injection: a bare CR or LF inside a value, and a NUL.
        {"CR in a header value", getRequest("/healthz", "X-Note: one\rSet-Cookie: injected=1\r\n"), 400},
        {"LF in a header value", getRequest("/healthz", "X-Note: one\nSet-Cookie: injected=1\r\n"), 400},
        {"NUL in a header value", getRequest("/healthz", std::string("X-Note: a\0b\r\n", 13)), 400},
        {"space before the colon", getRequest("/healthz", "X-Note : a\r\n"), 400},
        // Request smuggling.
        {"two different Content-Length",
         "POST /healthz HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
         400},
        // (Two equal Content-Length fields are one length, which RFC 9112 lets a server accept.)
        {"Transfer-Encoding with Content-Length",
         "POST /healthz HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\nTransfer-Encoding: "
         "chunked\r\n\r\n0\r\n\r\n",
         400},
        {"Transfer-Encoding other than chunked",
         "POST /healthz HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
         400},
        {"Transfer-Encoding twice",
         "POST /healthz HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: "
         "chunked\r\n\r\n0\r\n\r\n",
         400},
        // Targets.
        {"absolute-form target", getRequest("http://evil.example/healthz"), 400},
        {"absolute-form target naming this host", getRequest("https://localhost/healthz"), 400},
        {"asterisk-form target", "GET * HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n", 400},
        {"path traversal /../", getRequest("/api/v1/../healthz"), 400},
        {"path traversal %2e%2e", getRequest("/api/v1/%2e%2e/healthz"), 400},
        {"path traversal %2E%2E", getRequest("/api/v1/%2E%2E/%2E%2E/etc/passwd"), 400},
        {"percent-encoded slash %2F", getRequest("/api/v1/jobs%2Fx", bearer), 400},
        {"percent-encoded slash %2f in an id", getRequest("/api/v1/jobs/..%2f..%2fhealthz", bearer), 400},
        {"percent-encoded NUL", getRequest("/healthz%00", bearer), 400},
        // JSON bodies.
        {"JSON nested 100000 deep", postJson("/api/v1/jobs", token, nested), 400},
        {"JSON args nested 100000 deep",
         postJson("/api/v1/jobs", token, R"({"task": "echo", "args": {"a": )" + nested + "}}"), 400},
        {"huge JSON body (4 MiB)", postJson("/api/v1/jobs", token, huge), 413},
        {"invalid UTF-8 in a JSON string", postJson("/api/v1/jobs", token, "{\"task\": \"echo\xff\xfe\"}"),
         400},
        {"overlong UTF-8 in a JSON string", postJson("/api/v1/jobs", token, "{\"task\": \"\xc0\xaf\"}"), 400},
        {"lone surrogate escape in JSON",
         postJson("/api/v1/jobs", token, R"({"task": "echo", "args": {"s": "\ud800"}})"), 400},
        // Host header attacks.
        {"no Host", "GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n", 400},
        {"two Host headers",
         "GET /healthz HTTP/1.1\r\nHost: localhost\r\nHost: evil.example\r\nConnection: close\r\n\r\n", 400},
        {"unlisted Host", "GET /healthz HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n", 400},
        {"Host with a non-numeric port",
         "GET /healthz HTTP/1.1\r\nHost: localhost:evil.example\r\nConnection: close\r\n\r\n", 400},
        {"Host with user info",
         "GET /healthz HTTP/1.1\r\nHost: evil.example@localhost\r\nConnection: close\r\n\r\n", 400},
        {"Host with a port out of range",
         "GET /healthz HTTP/1.1\r\nHost: localhost:99999\r\nConnection: close\r\n\r\n", 400},
        {"listed Host as a suffix",
         "GET /healthz HTTP/1.1\r\nHost: localhost.evil.example\r\nConnection: close\r\n\r\n", 400},
        {"empty Host", "GET /healthz HTTP/1.1\r\nHost: \r\nConnection: close\r\n\r\n", 400},
    };

    int failures = 0;
    for (const auto& c : cases) {
        std::string answer, after;
        try {
            answer = roundTrip(target, c.bytes);
            after = roundTrip(target, getRequest("/healthz"));
        } catch (const std::exception& e) {
            std::cout << "FAIL " << c.name << ": " << e.what() << "\n";
            ++failures;
            continue;
        }
        int status = statusOf(answer);
        if (status != c.expected) {
            std::cout << "FAIL " << c.name << ": expected " << c.expected << ", got " << firstLine(answer)
                      << "\n";
            ++failures;
        } else if (statusOf(after) != 200) {
            std::cout << "FAIL " << c.name << ": the next request on a new connection got "
                      << firstLine(after) << "\n";
            ++failures;
        } else {
            std::cout << "ok " << c.name << ": " << status << "\n";
        }
    }
    std::cout << "verdict: " << cases.size() - failures << " of " << cases.size() << " passed\n";
    return failures == 0 ? 0 : 1;
}

long rssKib(int pid) {
    std::ifstream status("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    while (std::getline(status, line))
        if (line.rfind("VmRSS:", 0) == 0) return std::atol(line.c_str() + 6);
    return -1;
}

int idle(const Target& target, int count, int holdSeconds, int serverPid) {
    long rssBefore = rssKib(serverPid);
    auto started = Clock::now();
    constexpr int kThreads = 4;
    std::vector<std::unique_ptr<asio::io_context>> ios;
    std::vector<std::unique_ptr<ssl::context>> contexts;
    for (int i = 0; i < kThreads; ++i) {
        ios.push_back(std::make_unique<asio::io_context>());
        contexts.push_back(std::make_unique<ssl::context>(makeContext(target)));
    }
    std::mutex mutex;
    std::vector<std::unique_ptr<Stream>> held;
    std::atomic<int> failed = 0;
    std::string firstError;
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
        threads.emplace_back([&, t] {
            for (int i = t; i < count; i += kThreads) {
                try {
                    auto stream = connectTls(*ios[t], *contexts[t], target.port);
                    // One request, so that the connection is an idle keep-alive one, not a half-open one.
                    std::string request = "GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n";
                    asio::write(*stream, asio::buffer(request));
                    std::string received;
                    char buffer[4096];
                    while (received.find("{\"status\":\"ok\"}") == std::string::npos) {
                        auto n = stream->read_some(asio::buffer(buffer));
                        received.append(buffer, n);
                    }
                    std::lock_guard lock(mutex);
                    held.push_back(std::move(stream));
                } catch (const std::exception& e) {
                    std::lock_guard lock(mutex);
                    if (failed++ == 0) firstError = e.what();
                }
            }
        });
    }
    for (auto& thread : threads) thread.join();
    double openSeconds = std::chrono::duration<double>(Clock::now() - started).count();
    std::cout << "opened " << held.size() << " idle keep-alive TLS connections in " << openSeconds << " s";
    if (failed > 0) std::cout << " (" << failed << " failed, first: " << firstError << ")";
    std::cout << "\n";

    int slow = 0, failedProbes = 0, probes = 0;
    double worstMs = 0;
    long rssDuring = 0;
    auto holdUntil = Clock::now() + std::chrono::seconds(holdSeconds);
    while (Clock::now() < holdUntil) {
        auto t0 = Clock::now();
        std::string answer;
        try {
            answer = roundTrip(target, getRequest("/healthz"));
        } catch (const std::exception&) {
        }
        double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
        ++probes;
        worstMs = std::max(worstMs, ms);
        if (statusOf(answer) != 200)
            ++failedProbes;
        else if (ms > 1000)
            ++slow;
        rssDuring = std::max(rssDuring, rssKib(serverPid));
        std::this_thread::sleep_for(std::chrono::milliseconds(500));
    }
    // The held connections must still be open: the server closes idle ones only after idle_timeout_ms.
    std::size_t stillOpen = 0;
    for (auto& stream : held) {
        pollfd p{stream->lowest_layer().native_handle(), POLLIN, 0};
        if (poll(&p, 1, 0) == 0) ++stillOpen;
    }
    std::cout << "normal requests while holding: " << probes << ", failed " << failedProbes << ", over 1 s "
              << slow << ", slowest " << worstMs << " ms\n";
    std::cout << "server RSS: before " << rssBefore / 1024 << " MiB, while holding " << rssDuring / 1024
              << " MiB (" << (rssDuring - rssBefore) * 1024 / std::max<long>(1, long(held.size()))
              << " bytes per connection)\n";
    int failures = 0;
    if (int(held.size()) != count) {
        std::cout << "FAIL only " << held.size() << " of " << count << " connections were opened\n";
        ++failures;
    }
    if (stillOpen != held.size()) {
        std::cout << "FAIL the server closed " << held.size() - stillOpen << " idle connections while held\n";
        ++failures;
    }
    if (failedProbes > 0 || slow > 0 || probes == 0) {
        std::cout << "FAIL normal requests: " << failedProbes << " failed and " << slow
                  << " took over 1 s of " << probes << "\n";
        ++failures;
    }
    std::cout << "verdict: " << (failures == 0 ? "held" : "failed") << " " << held.size()
              << " connections, slowest "
              << "normal request " << worstMs << " ms, RSS " << rssBefore / 1024 << " -> " << rssDuring / 1024
              << " MiB\n";
    return failures == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
    std::vector<std::string> args(argv + 1, argv + argc);
    try {
        if (args.size() == 4 && args[0] == "hardening")
            return hardening(Target{std::uint16_t(std::stoi(args[1])), args[2]}, args[3]);
        if (args.size() == 6 && args[0] == "idle")
            return idle(Target{std::uint16_t(std::stoi(args[1])), args[2]}, std::stoi(args[3]),
                        std::stoi(args[4]), std::stoi(args[5]));
    } catch (const std::exception& e) {
        std::cout << "FAIL " << e.what() << "\nverdict: error\n";
        return 1;
    }
    std::cerr << "usage: rampart_security_probe hardening PORT CA_FILE TOKEN\n"
                 "       rampart_security_probe idle PORT CA_FILE COUNT HOLD_SECONDS SERVER_PID\n";
    return 2;
}
