// The transport. Errors on the network path are error_codes (as_tuple), never exceptions; what a
// client does wrong becomes a transportError that the pipeline answers like any other error.
#include "http/server.hpp"

#include <algorithm>
#include <limits>
#include <unordered_set>
#include <vector>

#include <spdlog/spdlog.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

#include "http/problem.hpp"
#include "net/tls.hpp"

namespace rampart::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
using tcp = asio::ip::tcp;
constexpr auto kAsTuple = asio::as_tuple(asio::use_awaitable);
// A read buffer or response head larger than this after an exchange (a large body, a long answer) is
// released before the connection idles; smaller ones are kept, so a request allocates nothing for them.
constexpr std::size_t kKeptBufferBytes = 16 * 1024;

// What shutdown needs to know about a connection; touched only on its worker's thread.
struct Server::SessionState {
    bool busy = false;  // a request is being received, handled or answered
    std::function<void()> cancel;
};

struct Server::Worker {
    asio::io_context context{1};
    // Keeps run() going while the thread has no connection yet; shutdown stops the context instead.
    asio::executor_work_guard<asio::io_context::executor_type> keepRunning{context.get_executor()};
    std::unordered_set<SessionState*> sessions;
    std::thread thread;
    std::atomic<std::size_t> live{0};      // its connections now
    std::size_t reservedSocketStates = 0;  // see reserveSocketStatesAhead; the accepting thread's only
};

namespace {

// The configuration validated the syntax; names other than localhost are refused here because a
// listener bound to whatever a name resolves to at start-up is a surprise waiting to happen.
tcp::endpoint listenEndpoint(const ServerSettings& settings) {
    boost::system::error_code ec;
    const std::string& host = settings.listenHost;
    auto address = asio::ip::make_address(host == "localhost" ? "127.0.0.1" : host, ec);
    if (ec) throw std::runtime_error("listen address must be a numeric IP address or localhost");
    return {address, settings.listenPort};
}

std::string listenText(const ServerSettings& settings) {
    const bool v6 = settings.listenHost.find(':') != std::string::npos;
    return (v6 ? "[" + settings.listenHost + "]" : settings.listenHost) + ":" +
           std::to_string(settings.listenPort);
}

bool clientWentAway(const boost::system::error_code& ec) {
    return ec == beast::http::error::end_of_stream || ec == beast::http::error::partial_message ||
           ec == beast::error::timeout || ec == asio::error::operation_aborted || ec == asio::error::eof ||
           ec == asio::error::connection_reset || ec == asio::error::broken_pipe ||
           ec == asio::ssl::error::stream_truncated || ec == asio::error::bad_descriptor;
}

// At most one Transfer-Encoding field, and then exactly "chunked" (any case, blanks around allowed).
// Beast reads a body as chunked when chunked is the last coding and ignores the codings before it.
template <class Request>
bool onlyChunkedTransferEncoding(const Request& request) {
    auto [first, last] = request.equal_range(beast::http::field::transfer_encoding);
    if (first == last) return true;
    if (std::next(first) != last) return false;
    std::string_view value = first->value();
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
    while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
    return beast::iequals(value, "chunked");
}

beast::tcp_stream& lowest(beast::tcp_stream& stream) {
    return stream;
}
beast::tcp_stream& lowest(beast::ssl_stream<beast::tcp_stream>& stream) {
    return stream.next_layer();
}

// After an error answer the client may still be sending; reading (and dropping) a little of it before
// closing keeps the kernel from resetting the connection and destroying the answer in flight.
template <class Stream>
asio::awaitable<void> lingeringClose(Stream& stream) {
    boost::system::error_code ec;
    lowest(stream).socket().shutdown(tcp::socket::shutdown_send, ec);
    lowest(stream).expires_after(std::chrono::seconds(1));
    std::array<char, 16384> sink;
    std::size_t drained = 0;
    while (drained < 256 * 1024) {
        auto [readError, n] = co_await lowest(stream).async_read_some(asio::buffer(sink), kAsTuple);
        if (readError) break;
        drained += n;
    }
}

// Writes the whole message. On TLS, an answer over one record's worth (16 KiB) goes out in slices of
// at most that: given a larger buffer, Beast's SSL stream wrote nothing and the write hung until its
// deadline, so no answer over 16 KiB (a long job listing, /metrics, /openapi.json) arrived over TLS.
// Smaller answers stay one write (one record, one system call).
asio::awaitable<std::tuple<boost::system::error_code, std::size_t>> writeAll(
    beast::tcp_stream& stream, const std::array<asio::const_buffer, 2>& message) {
    co_return co_await asio::async_write(stream, message, kAsTuple);
}
asio::awaitable<std::tuple<boost::system::error_code, std::size_t>> writeAll(
    beast::ssl_stream<beast::tcp_stream>& stream, const std::array<asio::const_buffer, 2>& message) {
    constexpr std::size_t kRecord = 16 * 1024;
    if (asio::buffer_size(message) <= kRecord)
        co_return co_await asio::async_write(stream, message, kAsTuple);
    std::size_t total = 0;
    for (const asio::const_buffer& part : message) {
        for (std::size_t offset = 0; offset < part.size(); offset += kRecord) {
            const auto slice = asio::buffer(part + offset, std::min(kRecord, part.size() - offset));
            auto [error, written] = co_await asio::async_write(stream, slice, kAsTuple);
            total += written;
            if (error) co_return std::tuple{error, total};
        }
    }
    co_return std::tuple{boost::system::error_code{}, total};
}

// Status line and headers into one contiguous buffer: written with the body as two buffers in one
// system call. Beast's own serializer walks a view of several buffers per field, which showed up as
// the largest user-space cost in profiles of small responses.
void serializeHead(const Response& response, std::string_view fixedHeaders, std::string& out) {
    out.clear();
    out += response.version() == 10 ? "HTTP/1.0 " : "HTTP/1.1 ";
    out += std::to_string(response.result_int());
    out += ' ';
    out += beast::http::obsolete_reason(response.result());
    out += "\r\n";
    for (const auto& field : response) {
        out += field.name_string();
        out += ": ";
        out += field.value();
        out += "\r\n";
    }
    out += fixedHeaders;
    out += "\r\n";
}

// Opens `count` sockets on `context` at once, then closes them (see Server::reserveSocketStatesAhead).
// Stops quietly at the first it cannot open (out of descriptors): fewer are reserved.
void reserveSocketStates(asio::io_context& context, const tcp& protocol, std::size_t count) {
    std::vector<tcp::socket> sockets;
    sockets.reserve(count);
    for (std::size_t i = 0; i < count; ++i) {
        boost::system::error_code ec;
        sockets.emplace_back(context).open(protocol, ec);
        if (ec) break;
    }
}

constexpr std::size_t kSocketStateChunk = 256;
constexpr std::size_t kSpareSocketStates = 32;
// At most this many per I/O thread; past it, a larger peak pins pages again.
constexpr std::size_t kMaxReservedSocketStates = 16'384;

}  // namespace

Server::Server(ServerSettings settings, const Pipeline& pipeline, obs::HttpMetrics& metrics)
    : settings_(std::move(settings)), pipeline_(pipeline), metrics_(metrics) {}

Server::~Server() {
    shutdown();
}

void Server::start() {
    if (settings_.tls.enabled()) tls_.store(net::makeServerTlsContext(settings_.tls));
    auto endpoint = listenEndpoint(settings_);
    unsigned threads =
        settings_.threads ? settings_.threads : std::max(1u, std::thread::hardware_concurrency());
    for (unsigned i = 0; i < threads; ++i) workers_.push_back(std::make_unique<Worker>());
    // One listening socket, without SO_REUSEPORT: a second server started on the same port fails with
    // "address in use" instead of silently taking half of the connections.
    acceptor_ = std::make_unique<tcp::acceptor>(workers_[0]->context);
    acceptor_->open(endpoint.protocol());
    acceptor_->set_option(tcp::acceptor::reuse_address(true));
    boost::system::error_code ec;
    acceptor_->bind(endpoint, ec);
    if (ec) throw std::runtime_error("cannot listen on " + listenText(settings_) + ": " + ec.message());
    acceptor_->listen(asio::socket_base::max_listen_connections);
    port_ = acceptor_->local_endpoint().port();
    protocol_ = endpoint.protocol();
    for (auto& worker : workers_) reserveSocketStatesAhead(*worker);
    asio::co_spawn(workers_[0]->context, acceptLoop(), asio::detached);
    for (auto& worker : workers_)
        worker->thread = std::thread([context = &worker->context] { context->run(); });
}

asio::awaitable<void> Server::acceptLoop() {
    std::size_t next = 0;
    for (;;) {
        // Each connection lives on one I/O thread for its whole life, spread round-robin.
        Worker& worker = *workers_[next++ % workers_.size()];
        auto [ec, socket] = co_await acceptor_->async_accept(worker.context, kAsTuple);
        if (ec) {
            if (ec == asio::error::operation_aborted || !acceptor_->is_open()) co_return;
            // Out of descriptors or a transient failure: back off briefly instead of spinning.
            spdlog::warn("accept failed: {}", ec.message());
            asio::steady_timer pause(workers_[0]->context, std::chrono::milliseconds(50));
            co_await pause.async_wait(kAsTuple);
            continue;
        }
        if (open_.load() >= settings_.limits.maxConnections || stopping_.load()) {
            metrics_.connectionRejected();
            continue;  // the socket closes as it goes out of scope
        }
        reserveSocketStatesAhead(worker);
        asio::co_spawn(worker.context, runSession(std::move(socket), worker), asio::detached);
    }
}

// Each I/O thread's reactor (Asio's epoll_reactor) keeps the state of every socket it ever registered
// in a pool it reuses and never frees. Allocated one per connection, between that connection's larger
// buffers, each of those states kept a page of the heap from going back to the system once a peak of
// connections had closed: 38 MiB still resident after 10,000 TLS connections came and went, about 4 KiB
// per connection of the peak (bench/memory.sh). So the states are allocated ahead of need, a chunk
// side by side (about 170 bytes each), by opening that many sockets at once and closing them: the
// pool keeps the states, and connections reuse them. Called on the accepting thread (registering a
// socket with another thread's reactor is safe: accepting does it for every connection).
void Server::reserveSocketStatesAhead(Worker& worker) {
    const std::size_t most = std::min(settings_.limits.maxConnections / workers_.size() + kSpareSocketStates,
                                      kMaxReservedSocketStates);
    const std::size_t live = worker.live.load();
    if (live + kSpareSocketStates <= worker.reservedSocketStates || worker.reservedSocketStates >= most)
        return;
    const std::size_t target = std::min(worker.reservedSocketStates + kSocketStateChunk, most);
    // The live connections hold states of their own: the pool reaches `target` with these.
    if (target > live) reserveSocketStates(worker.context, protocol_, target - live);
    worker.reservedSocketStates = target;
}

asio::awaitable<void> Server::runSession(tcp::socket socket, Worker& worker) {
    open_.fetch_add(1);
    worker.live.fetch_add(1);
    metrics_.connectionOpened();
    SessionState state;
    worker.sessions.insert(&state);
    boost::system::error_code ec;
    socket.set_option(tcp::no_delay(true), ec);

    auto tls = tls_.load();
    if (tls) {
        beast::ssl_stream<beast::tcp_stream> stream(beast::tcp_stream(std::move(socket)), *tls);
        state.cancel = [&stream] {
            boost::system::error_code ignored;
            stream.next_layer().socket().close(ignored);
        };
        stream.next_layer().expires_after(settings_.limits.headerTimeout);
        auto [handshakeError] = co_await stream.async_handshake(asio::ssl::stream_base::server, kAsTuple);
        if (!handshakeError) {
            co_await serveConnection(stream, worker, state);
            if (!stopping_.load()) {
                stream.next_layer().expires_after(std::chrono::seconds(2));
                co_await stream.async_shutdown(kAsTuple);
            }
        }
    } else {
        beast::tcp_stream stream(std::move(socket));
        state.cancel = [&stream] {
            boost::system::error_code ignored;
            stream.socket().close(ignored);
        };
        co_await serveConnection(stream, worker, state);
        stream.socket().shutdown(tcp::socket::shutdown_send, ec);
    }
    worker.sessions.erase(&state);
    metrics_.connectionClosed();
    worker.live.fetch_sub(1);
    open_.fetch_sub(1);
}

template <class Stream>
asio::awaitable<void> Server::serveConnection(Stream& stream, Worker& worker, SessionState& state) {
    namespace http = beast::http;
    const auto& limits = settings_.limits;
    const bool tls = tls_.load() != nullptr;
    boost::system::error_code peerError;
    auto peer = lowest(stream).socket().remote_endpoint(peerError).address();
    beast::flat_buffer buffer;
    std::string head;  // the serialized status line and headers, reused across requests
    bool first = true;

    while (!stopping_.load()) {
        state.busy = false;
        // Wait for the first byte of a request: the idle timeout between keep-alive requests, the
        // header deadline on a new connection. The whole header must then arrive before that deadline:
        // a client trickling one byte at a time cannot extend it.
        lowest(stream).expires_after(first ? limits.headerTimeout : limits.idleTimeout);
        if (buffer.size() == 0) {
            // Nothing pipelined is waiting. Buffers stay for the next request (no allocation per request),
            // unless a large request or answer grew them: those go back before the connection idles.
            if (buffer.capacity() > kKeptBufferBytes) buffer.shrink_to_fit();
            if (head.capacity() > kKeptBufferBytes) std::string().swap(head);
            auto [ec, n] = co_await stream.async_read_some(buffer.prepare(4096), kAsTuple);
            if (ec) co_return;
            buffer.commit(n);
        }
        state.busy = true;
        if (!first) lowest(stream).expires_after(limits.headerTimeout);
        first = false;

        http::request_parser<http::string_body> parser;
        parser.header_limit(static_cast<std::uint32_t>(limits.maxHeaderBytes));
        // The route decides the body limit, and it is known only once the header is in: Beast would
        // otherwise check Content-Length against this value while parsing the header.
        parser.body_limit(std::numeric_limits<std::uint64_t>::max());
        Exchange ex;
        ex.peer = peer;
        ex.tls = tls;

        auto [headerError, headerBytes] = co_await http::async_read_header(stream, buffer, parser, kAsTuple);
        if (headerError && clientWentAway(headerError)) co_return;
        if (headerError == http::error::header_limit) {
            ex.transportError = std::make_shared<ApiError>(ApiError::headersTooLarge());
        } else if (headerError) {
            ex.transportError =
                std::make_shared<ApiError>(ApiError::badRequest("The request could not be parsed."));
        } else if (!onlyChunkedTransferEncoding(parser.get())) {
            // A transfer coding we do not implement (gzip, a repeated chunked, ...) would leave the body's
            // framing to guesswork, which is how requests get smuggled past a proxy: refuse it.
            ex.transportError = std::make_shared<ApiError>(
                ApiError::badRequest("Transfer-Encoding must be exactly \"chunked\" when present."));
        } else {
            std::size_t bodyLimit = pipeline_.router().bodyLimit(parser.get(), limits.maxBodyBytes);
            parser.body_limit(bodyLimit);
            auto contentLength = parser.content_length();
            if (contentLength && *contentLength > bodyLimit) {
                ex.transportError = std::make_shared<ApiError>(ApiError::payloadTooLarge(bodyLimit));
            } else if (!parser.is_done()) {
                if (parser.get()[http::field::expect] == "100-continue") {
                    http::response<http::empty_body> proceed{http::status::continue_, 11};
                    lowest(stream).expires_after(limits.writeTimeout);
                    auto [writeError, written] = co_await http::async_write(stream, proceed, kAsTuple);
                    if (writeError) co_return;
                }
                lowest(stream).expires_after(limits.bodyTimeout);
                auto [bodyError, bodyBytes] = co_await http::async_read(stream, buffer, parser, kAsTuple);
                if (bodyError == http::error::body_limit) {
                    ex.transportError = std::make_shared<ApiError>(ApiError::payloadTooLarge(bodyLimit));
                } else if (bodyError && clientWentAway(bodyError)) {
                    co_return;
                } else if (bodyError) {
                    ex.transportError = std::make_shared<ApiError>(
                        ApiError::badRequest("The request body could not be parsed."));
                }
            }
        }
        ex.request = parser.release();
        if (!ex.transportError) {
            try {
                pipeline_.router().match(ex);
            } catch (const ApiError& error) {
                ex.transportError = std::make_shared<ApiError>(error);
            }
        }

        co_await pipeline_.run(ex);

        auto& response = ex.response;
        bool keepAlive = !ex.closeConnection && !stopping_.load() && ex.request.keep_alive() && !headerError;
        response.keep_alive(keepAlive);
        if (ex.request.method() == Verb::head) {
            response.content_length(response.body().size());
            response.body().clear();
        } else {
            response.prepare_payload();
        }
        lowest(stream).expires_after(limits.writeTimeout);
        serializeHead(response, ex.fixedHeaders, head);
        std::array<asio::const_buffer, 2> message{asio::buffer(head), asio::buffer(response.body())};
        auto [writeError, written] = co_await writeAll(stream, message);
        if (writeError) co_return;
        if (!keepAlive) {
            if (ex.transportError) co_await lingeringClose(stream);
            co_return;
        }
    }
}

void Server::shutdown() {
    if (stopped_ || workers_.empty()) return;
    stopped_ = true;
    stopping_.store(true);
    auto closeSessions = [this](bool all) {
        for (auto& worker : workers_) {
            asio::post(worker->context, [this, worker = worker.get(), all] {
                if (worker == workers_[0].get()) {
                    boost::system::error_code ignored;
                    acceptor_->close(ignored);
                }
                for (auto* session : worker->sessions)
                    if (all || !session->busy) session->cancel();
            });
        }
    };
    closeSessions(false);
    auto waitForConnections = [this](std::chrono::milliseconds bound) {
        auto deadline = std::chrono::steady_clock::now() + bound;
        while (open_.load() > 0 && std::chrono::steady_clock::now() < deadline)
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
    };
    waitForConnections(settings_.limits.shutdownGrace);
    if (open_.load() > 0) {
        spdlog::warn("shutdown: closing {} connection(s) still busy after the grace period", open_.load());
        closeSessions(true);
        waitForConnections(std::chrono::milliseconds(1000));
    }
    for (auto& worker : workers_) worker->context.stop();
    for (auto& worker : workers_)
        if (worker->thread.joinable()) worker->thread.join();
}

bool Server::reloadTls() {
    if (!settings_.tls.enabled()) return false;
    try {
        tls_.store(net::makeServerTlsContext(settings_.tls));
        spdlog::info("TLS certificate reloaded");
        return true;
    } catch (const net::TlsError& error) {
        spdlog::error("TLS reload failed, keeping the current certificate: {}", error.what());
        return false;
    }
}

}  // namespace rampart::http
