// TLS settings follow Mozilla's "intermediate" profile: TLS 1.2 with ECDHE + AEAD suites, and TLS 1.3.
#include "net/tls.hpp"

#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <boost/asio/ip/address.hpp>

namespace rampart::net {

std::shared_ptr<boost::asio::ssl::context> makeServerTlsContext(const TlsFiles& tls) {
    namespace ssl = boost::asio::ssl;
    auto context = std::make_shared<ssl::context>(ssl::context::tls_server);
    SSL_CTX* native = context->native_handle();
    SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION);
    SSL_CTX_set_max_proto_version(native, TLS1_3_VERSION);
    context->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                         ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 | ssl::context::no_compression |
                         ssl::context::single_dh_use);
    SSL_CTX_set_options(native, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
    // OpenSSL frees a connection's record buffers once they are empty instead of keeping them for its
    // life. (The read buffer is taken again as soon as a read is pending, which is all the time on an
    // idle keep-alive connection; docs/benchmarks.md#memory has what this measured.)
    SSL_CTX_set_mode(native, SSL_MODE_RELEASE_BUFFERS);
    static constexpr const char* kTls12Ciphers =
        "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
        "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";
    if (SSL_CTX_set_cipher_list(native, kTls12Ciphers) != 1)
        throw TlsError("TLS: cipher configuration refused");
    if (SSL_CTX_set_ciphersuites(
            native, "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256") != 1)
        throw TlsError("TLS: cipher suite configuration refused");
    SSL_CTX_set1_groups_list(native, "X25519:P-256:P-384");

    boost::system::error_code ec;
    context->use_certificate_chain_file(tls.certFile.string(), ec);
    if (ec) throw TlsError("TLS: cannot load the certificate chain from " + tls.certFile.string());
    context->use_private_key_file(tls.keyFile.string(), ssl::context::pem, ec);
    if (ec) throw TlsError("TLS: cannot load the private key from " + tls.keyFile.string());
    if (SSL_CTX_check_private_key(native) != 1)
        throw TlsError("TLS: the private key does not match the certificate");
    return context;
}

std::shared_ptr<boost::asio::ssl::context> makeClientTlsContext(const std::filesystem::path& caFile,
                                                                std::string_view user) {
    namespace ssl = boost::asio::ssl;
    auto context = std::make_shared<ssl::context>(ssl::context::tls_client);
    SSL_CTX_set_min_proto_version(context->native_handle(), TLS1_2_VERSION);
    boost::system::error_code ec;
    if (caFile.empty()) {
        context->set_default_verify_paths(ec);
        if (ec) throw TlsError(std::string(user) + ": cannot load the system CA store");
    } else {
        context->load_verify_file(caFile.string(), ec);
        if (ec) throw TlsError(std::string(user) + ": cannot load the CA file " + caFile.string());
    }
    context->set_verify_mode(ssl::verify_peer);
    return context;
}

bool expectPeerName(SSL* ssl, const std::string& host) {
    boost::system::error_code notAnAddress;
    boost::asio::ip::make_address(host, notAnAddress);
    if (!notAnAddress) return X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host.c_str()) == 1;
    return SSL_set_tlsext_host_name(ssl, host.c_str()) == 1 && SSL_set1_host(ssl, host.c_str()) == 1;
}

}  // namespace rampart::net
