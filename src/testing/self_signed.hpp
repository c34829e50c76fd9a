// Self-signed certificates made in memory for tests that run their own TLS servers (OIDC JWKS
// fetches, the egress client): a P-256 key, CA:TRUE, and the subjectAltName the test asks for.
#pragma once

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <memory>
#include <random>
#include <string>

#include <gtest/gtest.h>

namespace rampart::testing {

// The contents of a memory BIO that PEM_write_bio_* filled.
inline std::string pemOf(BIO* bio) {
    char* data = nullptr;
    const long size = BIO_get_mem_data(bio, &data);
    return std::string(data, static_cast<std::size_t>(size));
}

namespace detail {

inline void addExtension(X509* cert, int nid, const char* value) {
    X509V3_CTX context;
    X509V3_set_ctx_nodb(&context);
    X509V3_set_ctx(&context, cert, cert, nullptr, nullptr, 0);
    X509_EXTENSION* extension = X509V3_EXT_conf_nid(nullptr, &context, nid, value);
    ASSERT_NE(extension, nullptr);
    X509_add_ext(cert, extension, -1);
    X509_EXTENSION_free(extension);
}

}  // namespace detail

struct SelfSigned {
    std::string certPem;
    std::string keyPem;
};

// A certificate that is its own trust anchor, for the names in `subjectAltName` ("IP:127.0.0.1",
// "DNS:localhost").
inline SelfSigned makeSelfSigned(const char* subjectAltName) {
    std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(
        EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"), EVP_PKEY_free);
    std::unique_ptr<X509, decltype(&X509_free)> cert(X509_new(), X509_free);
    X509_set_version(cert.get(), 2);
    ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), static_cast<long>(std::random_device{}() | 1U));
    X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
    X509_gmtime_adj(X509_getm_notAfter(cert.get()), 24 * 3600);
    X509_set_pubkey(cert.get(), key.get());
    X509_NAME* name = X509_get_subject_name(cert.get());
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                               reinterpret_cast<const unsigned char*>("Rampart test"), -1, -1, 0);
    X509_set_issuer_name(cert.get(), name);
    detail::addExtension(cert.get(), NID_basic_constraints, "critical,CA:TRUE");
    detail::addExtension(cert.get(), NID_subject_alt_name, subjectAltName);
    EXPECT_GT(X509_sign(cert.get(), key.get(), EVP_sha256()), 0);

    SelfSigned out;
    std::unique_ptr<BIO, decltype(&BIO_free)> certBio(BIO_new(BIO_s_mem()), BIO_free);
    PEM_write_bio_X509(certBio.get(), cert.get());
    out.certPem = pemOf(certBio.get());
    std::unique_ptr<BIO, decltype(&BIO_free)> keyBio(BIO_new(BIO_s_mem()), BIO_free);
    PEM_write_bio_PrivateKey(keyBio.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr);
    out.keyPem = pemOf(keyBio.get());
    return out;
}

}  // namespace rampart::testing
