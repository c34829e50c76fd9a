// The test certificates of test_certificates.hpp, made with OpenSSL.
#include "testing/test_certificates.hpp"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <initializer_list>
#include <memory>
#include <random>
#include <stdexcept>
#include <utility>

namespace rampart::testing {
namespace {

using Key = std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)>;
using Certificate = std::unique_ptr<X509, decltype(&X509_free)>;
using Extensions = std::initializer_list<std::pair<int, const char*>>;

Key newKey() {
    Key key(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"), EVP_PKEY_free);
    if (!key) throw std::runtime_error("cannot make a test TLS key");
    return key;
}

// A certificate for `key` named `commonName`, signed by `issuerKey` in the name of `issuer` (null: the
// certificate itself, so self-signed), valid from an hour ago for a week.
Certificate newCertificate(EVP_PKEY* key, const char* commonName, X509* issuer, EVP_PKEY* issuerKey,
                           Extensions extensions) {
    Certificate certificate(X509_new(), X509_free);
    X509* cert = certificate.get();
    X509_set_version(cert, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(cert), static_cast<long>(std::random_device{}() >> 1 | 1U));
    X509_gmtime_adj(X509_getm_notBefore(cert), -3600);
    X509_gmtime_adj(X509_getm_notAfter(cert), 7 * 24 * 3600);
    X509_set_pubkey(cert, key);
    X509_NAME_add_entry_by_txt(X509_get_subject_name(cert), "CN", MBSTRING_ASC,
                               reinterpret_cast<const unsigned char*>(commonName), -1, -1, 0);
    X509_set_issuer_name(cert, X509_get_subject_name(issuer != nullptr ? issuer : cert));
    X509V3_CTX context;
    X509V3_set_ctx_nodb(&context);
    X509V3_set_ctx(&context, issuer != nullptr ? issuer : cert, cert, nullptr, nullptr, 0);
    for (const auto& [nid, value] : extensions) {
        X509_EXTENSION* extension = X509V3_EXT_conf_nid(nullptr, &context, nid, value);
        if (extension == nullptr)
            throw std::runtime_error(std::string("bad test certificate extension ") + value);
        X509_add_ext(cert, extension, -1);
        X509_EXTENSION_free(extension);
    }
    if (X509_sign(cert, issuerKey, EVP_sha256()) <= 0)
        throw std::runtime_error("cannot sign a test certificate");
    return certificate;
}

template <class Write>
std::string pemOf(Write write) {
    std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), BIO_free);
    if (!bio || write(bio.get()) != 1) throw std::runtime_error("cannot write a test certificate as PEM");
    char* data = nullptr;
    const long size = BIO_get_mem_data(bio.get(), &data);
    return std::string(data, static_cast<std::size_t>(size));
}

}  // namespace

TestCertificates makeTestCertificates(const char* subjectAltName) {
    const auto caKey = newKey();
    const auto ca = newCertificate(
        caKey.get(), "Rampart test CA", nullptr, caKey.get(),
        {{NID_basic_constraints, "critical,CA:TRUE"}, {NID_key_usage, "critical,keyCertSign,cRLSign"}});
    const auto serverKey = newKey();
    const auto server = newCertificate(serverKey.get(), "localhost", ca.get(), caKey.get(),
                                       {{NID_basic_constraints, "critical,CA:FALSE"},
                                        {NID_subject_alt_name, subjectAltName},
                                        {NID_ext_key_usage, "serverAuth"}});
    TestCertificates out;
    out.caPem = pemOf([&](BIO* bio) { return PEM_write_bio_X509(bio, ca.get()); });
    out.certificatePem = pemOf([&](BIO* bio) { return PEM_write_bio_X509(bio, server.get()); });
    out.keyPem = pemOf([&](BIO* bio) {
        return PEM_write_bio_PrivateKey(bio, serverKey.get(), nullptr, nullptr, 0, nullptr, nullptr);
    });
    return out;
}

}  // namespace rampart::testing
