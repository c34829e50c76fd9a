// The server's TLS context: TLS 1.2 and 1.3 only, forward-secret AEAD ciphers, no renegotiation,
// no compression. And the one client context that every outgoing TLS connection starts from.
#pragma once

#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string_view>

#include <boost/asio/ssl/context.hpp>

#include "app/config.hpp"

namespace rampart::http {

class TlsError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

// Loads the certificate chain and key named in `tls`; throws TlsError (naming the file, never any key
// material) when they are missing, unreadable or do not match.
std::shared_ptr<boost::asio::ssl::context> makeServerTlsContext(const TlsConfig& tls);

// A client context: TLS 1.2 or later, peers verified against `caFile`, or the system's CA store when it
// is empty. Host names are checked per connection by the caller. Throws TlsError, its message starting
// with `user` ("egress", "redis", "oidc"), when the CAs cannot be loaded.
std::shared_ptr<boost::asio::ssl::context> makeClientTlsContext(const std::filesystem::path& caFile,
                                                                std::string_view user);

}  // namespace rampart::http
