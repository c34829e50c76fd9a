// Test TLS certificates made in memory: a fresh P-256 CA and a server certificate signed by it, for test
// servers that speak TLS (PostgreSQL, Redis). (testing/self_signed.hpp makes self-signed ones, but reports
// through GoogleTest, which the core library does not link.)
#pragma once

#include <string>

namespace rampart::testing {

struct TestCertificates {
    std::string caPem;           // the CA's certificate: what a client trusts
    std::string certificatePem;  // the server's certificate, CN localhost
    std::string keyPem;          // the server's private key
};

// `subjectAltName` names the server ("DNS:localhost,IP:127.0.0.1"). Throws std::runtime_error.
TestCertificates makeTestCertificates(const char* subjectAltName = "DNS:localhost,IP:127.0.0.1");

}  // namespace rampart::testing
