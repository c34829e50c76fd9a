// The receiver of otlp_receiver.hpp: node exec'd directly (its PID is ours to signal), the port read from
// the first line of its log, and a blocking Beast client for its routes.
#include "testing/otlp_receiver.hpp"

#include <signal.h>

#include <fstream>
#include <stdexcept>
#include <thread>
#include <vector>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include "testing/child_process.hpp"

#ifndef RAMPART_SOURCE_DIR
#error "RAMPART_SOURCE_DIR must be defined (CMakeLists.txt)"
#endif
#ifndef RAMPART_OTLP_NODE_MODULES
#error "RAMPART_OTLP_NODE_MODULES must be defined (CMakeLists.txt)"
#endif

namespace rampart::testing {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

constexpr auto kReadyTimeout = 30s;
constexpr auto kStopTimeout = 10s;
constexpr auto kPollInterval = 10ms;

std::filesystem::path findNode() {
    for (const char* candidate : {"/usr/bin/node", "/usr/bin/nodejs", "/usr/local/bin/node"}) {
        std::error_code error;
        if (std::filesystem::exists(candidate, error)) return candidate;
    }
    throw std::runtime_error("no node: no /usr/bin/node (`make deps` installs nodejs)");
}

}  // namespace

OtlpReceiver::OtlpReceiver() {
    const std::filesystem::path modules = RAMPART_OTLP_NODE_MODULES;
    if (!std::filesystem::exists(modules /
                                 "@opentelemetry/otlp-proto-exporter-base/build/src/generated/root.js"))
        throw std::runtime_error("the OTLP test receiver's package is not installed in " + modules.string() +
                                 ": run `make otlp-receiver` (make test does)");
    const std::vector<std::string> arguments{findNode().string(),
                                             std::string(RAMPART_SOURCE_DIR) + "/tests/otlp/receiver.js"};
    const std::vector<std::string> environment{"PATH=/usr/bin:/bin", "LC_ALL=C",
                                               "OTLP_NODE_MODULES=" + modules.string()};
    pid_ = spawnChild(arguments, environment, directory_.path(), logPath());
    const auto deadline = Clock::now() + kReadyTimeout;
    for (;;) {
        int status = 0;
        if (reap(pid_, false, &status)) {
            pid_ = -1;
            throw std::runtime_error("the OTLP receiver exited while starting (" + describeExit(status) +
                                     "):\n" + logTail(logPath(), 0));
        }
        const std::vector<std::string> lines = readLines(logPath());
        if (!lines.empty() && !lines.front().empty() &&
            lines.front().find_first_not_of("0123456789") == std::string::npos &&
            fileSize(logPath()) > lines.front().size()) {
            port_ = static_cast<std::uint16_t>(std::stoul(lines.front()));
            return;
        }
        if (Clock::now() > deadline) {
            ::kill(pid_, SIGKILL);
            reap(pid_, true);
            pid_ = -1;
            throw std::runtime_error("the OTLP receiver printed no port within 30 s:\n" +
                                     logTail(logPath(), 0));
        }
        std::this_thread::sleep_for(kPollInterval);
    }
}

OtlpReceiver::~OtlpReceiver() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);
    for (const auto deadline = Clock::now() + kStopTimeout; Clock::now() < deadline;) {
        if (reap(pid_, false)) return;
        std::this_thread::sleep_for(kPollInterval);
    }
    ::kill(pid_, SIGKILL);
    reap(pid_, true);
}

std::string OtlpReceiver::tracesUrl() const {
    return "http://127.0.0.1:" + std::to_string(port_) + "/v1/traces";
}

std::pair<unsigned, std::string> OtlpReceiver::request(std::string_view method, std::string_view target,
                                                       std::string_view body,
                                                       std::string_view contentType) const {
    asio::io_context io;
    beast::tcp_stream stream(io);
    stream.expires_after(30s);
    stream.connect(asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), port_));
    http::request<http::string_body> message{http::string_to_verb(method), target, 11};
    message.set(http::field::host, "127.0.0.1");
    message.set(http::field::connection, "close");
    if (!body.empty() || method == "POST") {
        message.set(http::field::content_type, contentType);
        message.body() = std::string(body);
        message.prepare_payload();
    }
    http::write(stream, message);
    beast::flat_buffer buffer;
    http::response_parser<http::string_body> parser;
    parser.body_limit(256 * 1024 * 1024);
    http::read(stream, buffer, parser);
    beast::error_code ignored;
    stream.socket().shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
    return {parser.get().result_int(), parser.get().body()};
}

boost::json::array OtlpReceiver::getArray(std::string_view target) const {
    auto [status, body] = request("GET", target);
    if (status != 200)
        throw std::runtime_error("OTLP receiver: GET " + std::string(target) + " answered " +
                                 std::to_string(status));
    return boost::json::parse(body).as_array();
}

boost::json::array OtlpReceiver::spans() const {
    return getArray("/spans");
}
boost::json::array OtlpReceiver::raw() const {
    return getArray("/raw");
}
boost::json::array OtlpReceiver::headers() const {
    return getArray("/headers");
}
boost::json::array OtlpReceiver::errors() const {
    return getArray("/errors");
}

void OtlpReceiver::control(unsigned status, unsigned delayMs, std::string_view retryAfter) const {
    boost::json::object body{{"status", status}, {"delayMs", delayMs}};
    body["retryAfter"] = retryAfter.empty() ? boost::json::value(nullptr) : boost::json::value(retryAfter);
    auto [code, answer] = request("POST", "/control", boost::json::serialize(body));
    if (code != 200) throw std::runtime_error("OTLP receiver: /control answered " + std::to_string(code));
}

void OtlpReceiver::failNext(unsigned count, std::string_view retryAfter) const {
    boost::json::object body{{"failNext", count}};
    body["retryAfter"] = retryAfter.empty() ? boost::json::value(nullptr) : boost::json::value(retryAfter);
    auto [code, answer] = request("POST", "/control", boost::json::serialize(body));
    if (code != 200) throw std::runtime_error("OTLP receiver: /control answered " + std::to_string(code));
}

void OtlpReceiver::reset() const {
    (void)request("POST", "/reset", "{}");
}

boost::json::array OtlpReceiver::waitForSpans(std::size_t count, std::chrono::milliseconds timeout) const {
    const auto deadline = Clock::now() + timeout;
    for (;;) {
        boost::json::array found = spans();
        if (found.size() >= count || Clock::now() > deadline) return found;
        std::this_thread::sleep_for(20ms);
    }
}

std::string decodeBase64(std::string_view text) {
    auto value = [](char c) -> int {
        if (c >= 'A' && c <= 'Z') return c - 'A';
        if (c >= 'a' && c <= 'z') return c - 'a' + 26;
        if (c >= '0' && c <= '9') return c - '0' + 52;
        if (c == '+') return 62;
        if (c == '/') return 63;
        return -1;
    };
    std::string out;
    unsigned buffer = 0;
    int bits = 0;
    for (const char c : text) {
        const int v = value(c);
        if (v < 0) continue;  // padding
        buffer = (buffer << 6) | static_cast<unsigned>(v);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out += static_cast<char>((buffer >> bits) & 0xff);
        }
    }
    return out;
}

}  // namespace rampart::testing
