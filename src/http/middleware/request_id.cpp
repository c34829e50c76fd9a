// Request ids: the client's when well-formed, else a per-thread random prefix plus a counter (unique
// without a system call per request).
#include "http/middleware/request_id.hpp"

#include <array>
#include <cstdint>

#include <sodium.h>

namespace rampart::http {
namespace {

std::string generateRequestId() {
    static constexpr char kHex[] = "0123456789abcdef";
    thread_local std::array<unsigned char, 8> prefix = [] {
        std::array<unsigned char, 8> bytes{};
        randombytes_buf(bytes.data(), bytes.size());
        return bytes;
    }();
    thread_local std::uint64_t counter = 0;
    std::uint64_t n = ++counter;
    std::string id(32, '0');
    for (std::size_t i = 0; i < prefix.size(); ++i) {
        id[2 * i] = kHex[prefix[i] >> 4];
        id[2 * i + 1] = kHex[prefix[i] & 0xF];
    }
    for (int i = 31; i >= 16; --i, n >>= 4) id[i] = kHex[n & 0xF];
    return id;
}

}  // namespace

bool RequestIdStage::wellFormed(std::string_view id) {
    if (id.empty() || id.size() > 128) return false;
    for (char c : id) {
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                  c == '_' || c == ':' || c == '-';
        if (!ok) return false;
    }
    return true;
}

boost::asio::awaitable<void> RequestIdStage::handle(Exchange& ex, Next next) {
    auto incoming = ex.request["X-Request-ID"];
    ex.requestId = wellFormed(incoming) ? std::string(incoming) : generateRequestId();
    co_await next(ex);
    ex.response.set("X-Request-ID", ex.requestId);
}

}  // namespace rampart::http
