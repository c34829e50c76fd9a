// The server's TLS context: TLS 1.2 and 1.3 only, forward-secret AEAD ciphers, no renegotiation,
// no compression.
#pragma once

#include <memory>
#include <stdexcept>

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

}  // namespace rampart::http
