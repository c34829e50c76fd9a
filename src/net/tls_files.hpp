// Where the server's TLS certificate and key are: a settings struct without the TLS machinery, so
// configuration code need not compile OpenSSL's headers.
#pragma once

#include <filesystem>

namespace rampart::net {

// The server's certificate chain and key (RAMPART_TLS_CERT, RAMPART_TLS_KEY).
struct TlsFiles {
    std::filesystem::path certFile;
    std::filesystem::path keyFile;
    [[nodiscard]] bool enabled() const { return !certFile.empty() && !keyFile.empty(); }
};

}  // namespace rampart::net
