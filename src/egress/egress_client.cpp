// The guarded outbound HTTP(S) client: parse, check the domain lists, resolve once, check every address,
// connect to exactly those addresses, read a bounded answer before a deadline, and run the whole check
// again for each redirect.
#include "egress/egress_client.hpp"

#include <openssl/ssl.h>

#include <algorithm>
#include <array>
#include <optional>
#include <stdexcept>
#include <utility>

#include <fmt/format.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

#include "egress/address_policy.hpp"
#include "egress/url.hpp"
#include "net/tls.hpp"

namespace rampart::egress {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
namespace ip = boost::asio::ip;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

constexpr std::size_t kMaxResponseHeaderSize = 16 * 1024;
constexpr std::size_t kMaxQuotedLocation = 200;
constexpr std::string_view kUserAgent = "rampart-egress/" RAMPART_VERSION;
// Framing, routing and hop-by-hop headers are the client's own; a caller's extra header may not set them.
constexpr std::array<std::string_view, 12> kReservedHeaders{
    "host",    "content-length", "transfer-encoding", "connection",          "keep-alive",  "te", "trailer",
    "upgrade", "expect",         "user-agent",        "proxy-authorization", "content-type"};
constexpr std::array<std::string_view, 8> kKeptHeaders{"content-type",  "content-length", "content-encoding",
                                                       "location",      "etag",           "last-modified",
                                                       "cache-control", "retry-after"};

std::string normalizedDomain(std::string_view text) {
    std::string out(text);
    std::transform(out.begin(), out.end(), out.begin(),
                   [](char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; });
    if (out.size() > 1 && out.back() == '.') out.pop_back();
    return out;
}

bool matchesAny(const std::string& host, const std::vector<std::string>& entries) {
    return std::any_of(entries.begin(), entries.end(), [&](const std::string& entry) {
        if (entry.size() > 1 && entry.front() == '.') {
            return host.size() > entry.size() &&
                   host.compare(host.size() - entry.size(), entry.size(), entry) == 0;
        }
        return host == entry;
    });
}

bool isRedirect(unsigned status) {
    return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

std::string quoted(std::string_view text) {
    if (text.size() <= kMaxQuotedLocation) return std::string(text);
    return std::string(text.substr(0, kMaxQuotedLocation)) + "...";
}

FetchResult refusal(std::string why) {
    FetchResult result;
    result.refused = true;
    result.error = "egress refused: " + std::move(why);
    return result;
}

FetchResult failure(std::string why) {
    FetchResult result;
    result.error = "egress failed: " + std::move(why);
    return result;
}

std::string timeoutMessage(std::chrono::milliseconds timeout) {
    return fmt::format("timed out after {} ms", timeout.count());
}

// What a lookup left behind once the fetch coroutine stops waiting for it: the fetch may have given up at
// its deadline, so the lookup owns this state jointly and writes into it whenever it finishes.
struct Lookup {
    explicit Lookup(const asio::any_io_executor& executor) : wake(executor) {}
    asio::steady_timer wake;
    std::optional<std::vector<ip::address>> addresses;
};

asio::awaitable<void> runLookup(std::shared_ptr<Resolver> resolver, std::string host,
                                std::shared_ptr<Lookup> lookup) {
    std::vector<ip::address> addresses;
    try {
        addresses = co_await resolver->resolve(std::move(host));
    } catch (const std::exception&) {
        addresses.clear();  // a resolver that throws has simply found nothing
    }
    lookup->addresses = std::move(addresses);
    lookup->wake.cancel();
}

// The resolver is raced against the deadline rather than cancelled: getaddrinfo cannot be interrupted.
// Both coroutines run on the fetch's strand, so the shared state needs no lock.
asio::awaitable<std::optional<std::vector<ip::address>>> resolveBefore(std::shared_ptr<Resolver> resolver,
                                                                       std::string host,
                                                                       Clock::time_point deadline) {
    const auto executor = co_await asio::this_coro::executor;
    auto lookup = std::make_shared<Lookup>(executor);
    lookup->wake.expires_at(deadline);
    asio::co_spawn(executor, runLookup(std::move(resolver), std::move(host), lookup), asio::detached);
    if (!lookup->addresses) {
        // Ends at the deadline, or earlier when the lookup cancels it.
        auto [ignored] = co_await lookup->wake.async_wait(asio::as_tuple(asio::use_awaitable));
        (void)ignored;
    }
    co_return lookup->addresses;
}

struct Hop {
    std::optional<FetchResult> failed;
    http::response<http::string_body> response;
    std::string remote;
};

// What one hop sends besides the method and the URL (every hop of a GET, the only hop of a POST).
struct Outgoing {
    FetchMethod method = FetchMethod::get;
    const std::string* body = nullptr;
    const std::string* contentType = nullptr;
    const std::vector<RequestHeader>* headers = nullptr;  // checked by requestHeaderProblem
};

http::verb verbOf(FetchMethod method) {
    switch (method) {
        case FetchMethod::head:
            return http::verb::head;
        case FetchMethod::post:
            return http::verb::post;
        case FetchMethod::get:
            break;
    }
    return http::verb::get;
}

template <class Stream>
asio::awaitable<void> exchange(Stream& stream, const Url& url, const Outgoing& outgoing, std::size_t maxBytes,
                               Hop& hop) {
    const FetchMethod method = outgoing.method;
    http::request<http::string_body> request{verbOf(method), url.target, 11};
    request.set(http::field::host, url.authority());
    request.set(http::field::user_agent, kUserAgent);
    request.set(http::field::accept, "*/*");
    request.set(http::field::connection, "close");
    if (outgoing.headers != nullptr)
        for (const RequestHeader& header : *outgoing.headers)
            request.insert(header.name, header.value.reveal());
    if (method == FetchMethod::post) {
        const bool typed = outgoing.contentType != nullptr && !outgoing.contentType->empty();
        request.set(http::field::content_type, typed ? std::string_view(*outgoing.contentType)
                                                     : std::string_view("application/octet-stream"));
        if (outgoing.body != nullptr) request.body() = *outgoing.body;
        request.prepare_payload();
    }
    co_await http::async_write(stream, request, asio::use_awaitable);

    beast::flat_buffer buffer;
    http::response_parser<http::string_body> parser;
    parser.header_limit(kMaxResponseHeaderSize);
    parser.body_limit(maxBytes);
    if (method == FetchMethod::head) parser.skip(true);
    co_await http::async_read(stream, buffer, parser, asio::use_awaitable);
    hop.response = parser.release();
}

// One request to one checked address list. Network errors come back as FetchResults, never exceptions.
asio::awaitable<Hop> sendTo(const Url& url, std::vector<tcp::endpoint> endpoints, asio::ssl::context& tls,
                            const Outgoing& outgoing, std::size_t maxBytes, Clock::time_point deadline,
                            std::chrono::milliseconds timeout) {
    const auto executor = co_await asio::this_coro::executor;
    Hop hop;
    beast::error_code failedWith;
    try {
        if (!url.tls) {
            beast::tcp_stream stream(executor);
            stream.expires_at(deadline);
            const tcp::endpoint connected = co_await stream.async_connect(endpoints, asio::use_awaitable);
            hop.remote = connected.address().to_string();
            co_await exchange(stream, url, outgoing, maxBytes, hop);
            beast::error_code ignored;
            stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
        } else {
            beast::ssl_stream<beast::tcp_stream> stream(executor, tls);
            if (!net::expectPeerName(stream.native_handle(), url.host)) {
                hop.failed = failure("cannot set the expected certificate name");
                co_return hop;
            }
            beast::get_lowest_layer(stream).expires_at(deadline);
            const tcp::endpoint connected =
                co_await beast::get_lowest_layer(stream).async_connect(endpoints, asio::use_awaitable);
            hop.remote = connected.address().to_string();
            co_await stream.async_handshake(asio::ssl::stream_base::client, asio::use_awaitable);
            co_await exchange(stream, url, outgoing, maxBytes, hop);
            // The response was framed by its headers; no close_notify exchange is needed.
            beast::error_code ignored;
            beast::get_lowest_layer(stream).socket().shutdown(tcp::socket::shutdown_both, ignored);
        }
    } catch (const boost::system::system_error& error) {
        failedWith = error.code();
    }
    if (!failedWith) co_return hop;
    if (failedWith == beast::error::timeout || Clock::now() >= deadline) {
        hop.failed = failure(timeoutMessage(timeout));
    } else if (failedWith == http::error::body_limit) {
        hop.failed = failure(fmt::format("response larger than {} bytes", maxBytes));
    } else if (failedWith == http::error::header_limit) {
        hop.failed = failure(fmt::format("response headers larger than {} bytes", kMaxResponseHeaderSize));
    } else {
        hop.failed = failure(fmt::format("{}: {}", url.authority(), failedWith.message()));
    }
    co_return hop;
}

struct FetchPlan {
    EgressPolicy policy;
    std::shared_ptr<Resolver> resolver;
    std::shared_ptr<asio::ssl::context> tls;
    FetchRequest request;
};

// The guard for one URL: the domain lists, then the addresses. Returns the refusal, or the endpoints the
// connection may use.
asio::awaitable<std::optional<FetchResult>> checkedEndpoints(const FetchPlan& plan, const Url& url,
                                                             Clock::time_point deadline,
                                                             std::chrono::milliseconds timeout,
                                                             std::vector<tcp::endpoint>& endpoints) {
    if (matchesAny(url.host, plan.policy.blockDomains))
        co_return refusal(fmt::format("host {} is on the blocklist", url.host));
    const bool allowlisted = matchesAny(url.host, plan.policy.allowDomains);
    if (!plan.policy.allowDomains.empty() && !allowlisted)
        co_return refusal(fmt::format("host {} is not on the allowlist", url.host));

    std::vector<ip::address> addresses;
    if (url.address) {
        addresses.push_back(*url.address);
        const auto reason = refusedBecause(*url.address);
        if (reason && !allowlisted) co_return refusal(fmt::format("{} is {}", url.host, *reason));
    } else {
        auto resolved = co_await resolveBefore(plan.resolver, url.host, deadline);
        if (!resolved) co_return failure(timeoutMessage(timeout));
        if (resolved->empty()) co_return failure(fmt::format("cannot resolve {}", url.host));
        // One refused address refuses the host: a name that mixes public and internal answers is either
        // misconfigured or an attack, and trying only the public ones would still let it steer retries.
        for (const auto& address : *resolved) {
            const auto reason = refusedBecause(address);
            if (reason && !allowlisted) {
                co_return refusal(
                    fmt::format("{} resolves to {}, which is {}", url.host, address.to_string(), *reason));
            }
        }
        addresses = std::move(*resolved);
    }
    endpoints.clear();
    for (const auto& address : addresses) endpoints.emplace_back(address, url.port);
    co_return std::nullopt;
}

asio::awaitable<FetchResult> fetchOnStrand(FetchPlan plan) {
    const EgressPolicy& policy = plan.policy;
    const std::size_t maxBytes = plan.request.maxBytes == 0
                                     ? policy.maxResponseBytes
                                     : std::min(plan.request.maxBytes, policy.maxResponseBytes);
    const std::chrono::milliseconds timeout =
        plan.request.timeout.count() <= 0 ? policy.timeout : std::min(plan.request.timeout, policy.timeout);
    const Clock::time_point deadline = Clock::now() + timeout;

    std::string why;
    auto url = parseUrl(plan.request.url, &why);
    if (!url) co_return refusal("the URL " + why);
    for (const RequestHeader& header : plan.request.headers) {
        if (auto problem = requestHeaderProblem(header.name, header.value.reveal()))
            co_return refusal(std::move(*problem));
    }
    FetchMethod method = plan.request.method;
    int redirects = 0;
    while (true) {
        std::vector<tcp::endpoint> endpoints;
        auto refused = co_await checkedEndpoints(plan, *url, deadline, timeout, endpoints);
        if (refused) {
            refused->redirects = redirects;
            co_return std::move(*refused);
        }
        const Outgoing outgoing{.method = method,
                                .body = &plan.request.body,
                                .contentType = &plan.request.contentType,
                                .headers = &plan.request.headers};
        Hop hop =
            co_await sendTo(*url, std::move(endpoints), *plan.tls, outgoing, maxBytes, deadline, timeout);
        if (hop.failed) {
            hop.failed->redirects = redirects;
            co_return std::move(*hop.failed);
        }
        const unsigned status = hop.response.result_int();
        const auto location = hop.response.find(http::field::location);
        if (isRedirect(status) && location != hop.response.end() && method != FetchMethod::post) {
            const std::string_view target = location->value();
            if (redirects >= policy.maxRedirects) {
                FetchResult tooMany = failure(fmt::format("more than {} redirects", policy.maxRedirects));
                tooMany.redirects = redirects;
                co_return tooMany;
            }
            auto next = resolveLocation(*url, target, &why);
            if (!next) {
                FetchResult notFollowed =
                    refusal(fmt::format("redirect to {}: the URL {}", quoted(target), why));
                notFollowed.redirects = redirects;
                co_return notFollowed;
            }
            if (url->tls && !next->tls) {
                FetchResult downgrade =
                    refusal(fmt::format("redirect from https to http ({})", quoted(target)));
                downgrade.redirects = redirects;
                co_return downgrade;
            }
            if (status == 303 && method != FetchMethod::head) method = FetchMethod::get;
            url = std::move(next);
            ++redirects;
            continue;
        }
        FetchResult result;
        result.ok = true;
        result.status = status;
        for (const auto& field : hop.response) {
            std::string name(field.name_string());
            std::transform(name.begin(), name.end(), name.begin(), [](char c) {
                return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
            });
            if (std::find(kKeptHeaders.begin(), kKeptHeaders.end(), name) != kKeptHeaders.end())
                result.headers.emplace(std::move(name), std::string(field.value()));
        }
        result.body = std::move(hop.response.body());
        result.finalUrl = url->text();
        result.remoteAddress = std::move(hop.remote);
        result.redirects = redirects;
        co_return result;
    }
}

bool isTokenChar(char c) {
    constexpr std::string_view kTokenPunctuation = "!#$%&'*+-.^_`|~";
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           kTokenPunctuation.find(c) != std::string_view::npos;
}

}  // namespace

std::optional<std::string> requestHeaderProblem(std::string_view name, std::string_view value) {
    if (name.empty() || !std::all_of(name.begin(), name.end(), isTokenChar))
        return std::string(
            "a request header name is not an HTTP token (letters, digits and !#$%&'*+-.^_`|~)");
    std::string lower(name);
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; });
    if (std::find(kReservedHeaders.begin(), kReservedHeaders.end(), lower) != kReservedHeaders.end())
        return fmt::format("request header {} is set by the client itself", lower);
    // Visible ASCII, obs-text (bytes from 0x80) and spaces or tabs between them; never CR, LF, NUL or DEL.
    const bool clean = std::all_of(value.begin(), value.end(), [](char c) {
        const auto byte = static_cast<unsigned char>(c);
        return byte == '\t' || (byte >= 0x20 && byte != 0x7f);
    });
    if (!clean)
        return fmt::format("request header {} has a control character (CR, LF, NUL...) in its value", name);
    if (!value.empty() &&
        (value.front() == ' ' || value.front() == '\t' || value.back() == ' ' || value.back() == '\t'))
        return fmt::format("request header {} has a value with blanks around it", name);
    return std::nullopt;
}

asio::awaitable<std::vector<ip::address>> SystemResolver::resolve(std::string host) {
    const auto executor = co_await asio::this_coro::executor;
    tcp::resolver resolver(executor);
    auto [ec, results] = co_await resolver.async_resolve(host, "", asio::as_tuple(asio::use_awaitable));
    std::vector<ip::address> addresses;
    if (ec) co_return addresses;
    for (const auto& entry : results) {
        const ip::address address = entry.endpoint().address();
        if (std::find(addresses.begin(), addresses.end(), address) == addresses.end())
            addresses.push_back(address);
    }
    co_return addresses;
}

EgressClient::EgressClient(EgressPolicy policy, std::shared_ptr<Resolver> resolver,
                           EgressClientOptions options)
    : policy_(std::move(policy)),
      resolver_(std::move(resolver)),
      tls_(net::makeClientTlsContext(options.caFile, "egress")) {
    for (auto& entry : policy_.allowDomains) entry = normalizedDomain(entry);
    for (auto& entry : policy_.blockDomains) entry = normalizedDomain(entry);
    if (!resolver_) throw std::invalid_argument("egress: a resolver is required");
}

asio::awaitable<FetchResult> EgressClient::fetch(FetchRequest request) {
    // On a strand of its own, so the resolver race in resolveBefore is safe on a multi-threaded executor.
    const auto executor = co_await asio::this_coro::executor;
    auto strand = asio::make_strand(executor);
    FetchPlan plan{policy_, resolver_, tls_, std::move(request)};
    auto work = asio::co_spawn(strand, fetchOnStrand(std::move(plan)), asio::use_awaitable);
    FetchResult result = co_await std::move(work);
    co_return result;
}

}  // namespace rampart::egress
