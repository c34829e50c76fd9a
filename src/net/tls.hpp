// The server's TLS context: TLS 1.2 and 1.3 only, forward-secret AEAD ciphers, no renegotiation,
// no compression. And the one client context and the one peer-name check that every outgoing TLS
// connection (Redis, egress, OIDC key fetches) uses.
#pragma once

#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>

#include <openssl/ssl.h>

#include <boost/asio/ssl/context.hpp>

#include "net/tls_files.hpp"

namespace rampart::net {

class TlsError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

// Loads the certificate chain and key named in `tls`; throws TlsError (naming the file, never any key
// material) when they are missing, unreadable or do not match.
std::shared_ptr<boost::asio::ssl::context> makeServerTlsContext(const TlsFiles& tls);

// A client context: TLS 1.2 or later, peers verified against `caFile`, or the system's CA store when it
// is empty. Each connection names the peer it expects with expectPeerName before its handshake. Throws
// TlsError, its message starting with `user` ("egress", "redis", "oidc"), when the CAs cannot be loaded.
std::shared_ptr<boost::asio::ssl::context> makeClientTlsContext(const std::filesystem::path& caFile,
                                                                std::string_view user);

// Before a client handshake: the certificate must name `host`. For a DNS name that also sends it as SNI
// and checks it against the certificate's names; for an IP literal (no SNI for an address, RFC 6066)
// the certificate must name the address itself. False when OpenSSL refuses the name: the caller must
// then not connect.
[[nodiscard]] bool expectPeerName(SSL* ssl, const std::string& host);

}  // namespace rampart::net
