// The one way a task reaches the network: every URL, every resolved address and every redirect passes the
// guard (url.hpp, address_policy.hpp, the domain lists) before a byte is sent, and the connection goes to
// the addresses that were checked, never to a second lookup's answer.
#pragma once

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ssl/context.hpp>

#include "core/secret_string.hpp"

namespace rampart::egress {

// Name resolution as an interface, so tests answer with chosen (and changing) addresses.
class Resolver {
  public:
    virtual ~Resolver() = default;
    // Every address the name has; empty when it has none or the lookup failed.
    virtual boost::asio::awaitable<std::vector<boost::asio::ip::address>> resolve(std::string host) = 0;
};

// The system resolver (getaddrinfo on asio's resolver thread), on the calling coroutine's executor.
class SystemResolver final : public Resolver {
  public:
    boost::asio::awaitable<std::vector<boost::asio::ip::address>> resolve(std::string host) override;
};

struct EgressPolicy {
    // When non-empty, the only hosts a task may reach: "example.com" matches that name exactly, and
    // ".example.com" matches every name under it (not example.com itself). An IP literal matches only when
    // listed in its canonical form. A host on this list is trusted by the operator: it MAY resolve to (or be)
    // a loopback, private or other non-public address. That is the one way to reach an internal service,
    // and how tests reach their own servers on 127.0.0.1.
    std::vector<std::string> allowDomains;
    // Always refused, whatever allowDomains says; same matching rules.
    std::vector<std::string> blockDomains;
    std::size_t maxResponseBytes = 1024 * 1024;
    std::chrono::milliseconds timeout{10000};
    int maxRedirects = 5;
};

struct EgressClientOptions {
    // Trust anchors for https; empty means the system store.
    std::filesystem::path caFile;
};

// post: a redirect is never followed (its answer is the result, status and Location as sent): the body
// was meant for the URL the caller configured, not for wherever that server points.
enum class FetchMethod { get, head, post };

// An extra request header; the value may be a credential (a collector's API key), so it is a SecretString
// and no error ever quotes it.
struct RequestHeader {
    std::string name;
    SecretString value;
};

struct FetchRequest {
    std::string url;
    FetchMethod method = FetchMethod::get;
    std::size_t maxBytes = 0;              // 0 or more than the policy allows: the policy's maximum
    std::chrono::milliseconds timeout{0};  // 0 or more than the policy allows: the policy's timeout
    std::string body;                      // post only
    std::string contentType;               // post only; empty: application/octet-stream
    // Sent as given, after requestHeaderProblem's check: a request with a bad header is refused whole
    // before any lookup or connection.
    std::vector<RequestHeader> headers;
};

// Why a header may not be sent, or nullopt when it may: the name must be an RFC 9110 token and not one the
// client sets itself (host, content-length, transfer-encoding, connection, ...: an extra header must not
// reframe or redirect the request); the value must hold no CR, LF, NUL or other control character but tab
// (no header injection). The reason names the header only when its name is a token, and never quotes
// the value. For start-up checks of configured headers, and applied again by fetch.
[[nodiscard]] std::optional<std::string> requestHeaderProblem(std::string_view name, std::string_view value);

struct FetchResult {
    bool ok = false;
    // True when the guard refused (the request was never sent, or a redirect was not followed); false for
    // network failures, timeouts and oversized answers.
    bool refused = false;
    // Stable and safe to show the job's owner: "egress refused: 127.0.0.1 is loopback", "egress failed:
    // response larger than 1048576 bytes", ...
    std::string error;
    unsigned status = 0;
    // Lower-case names; only content-type, content-length, content-encoding, location, etag, last-modified,
    // cache-control and retry-after.
    std::map<std::string, std::string> headers;
    std::string body;
    std::string finalUrl;       // the URL that gave the final answer
    std::string remoteAddress;  // the checked address the final connection went to
    int redirects = 0;
};

class EgressClient {
  public:
    // Throws std::runtime_error when the CA file or the system store cannot be loaded.
    EgressClient(EgressPolicy policy, std::shared_ptr<Resolver> resolver, EgressClientOptions options = {});

    // Never throws: every failure is a FetchResult with ok false. The timeout bounds the whole fetch,
    // redirects included.
    boost::asio::awaitable<FetchResult> fetch(FetchRequest request);

    const EgressPolicy& policy() const { return policy_; }

  private:
    EgressPolicy policy_;
    std::shared_ptr<Resolver> resolver_;
    std::shared_ptr<boost::asio::ssl::context> tls_;
};

}  // namespace rampart::egress
