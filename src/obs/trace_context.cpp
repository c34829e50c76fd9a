// traceparent and tracestate as W3C Trace Context (level 1) defines them, and random ids.
#include "obs/trace_context.hpp"

#include <algorithm>
#include <cstring>

#include <sodium.h>

#include "core/sha256.hpp"
#include "core/sodium_init.hpp"

namespace rampart::obs {
namespace {

constexpr char kHex[] = "0123456789abcdef";

int hexValue(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;  // upper case is invalid in traceparent
}

template <std::size_t N>
bool parseHex(std::string_view text, std::array<std::uint8_t, N>& out) {
    if (text.size() != 2 * N) return false;
    for (std::size_t i = 0; i < N; ++i) {
        int high = hexValue(text[2 * i]);
        int low = hexValue(text[2 * i + 1]);
        if (high < 0 || low < 0) return false;
        out[i] = static_cast<std::uint8_t>(high << 4 | low);
    }
    return true;
}

template <std::size_t N>
void writeHex(const std::array<std::uint8_t, N>& bytes, char* out) {
    for (std::size_t i = 0; i < N; ++i) {
        out[2 * i] = kHex[bytes[i] >> 4];
        out[2 * i + 1] = kHex[bytes[i] & 0xF];
    }
}

template <std::size_t N>
bool allZero(const std::array<std::uint8_t, N>& bytes) {
    return std::all_of(bytes.begin(), bytes.end(), [](std::uint8_t b) { return b == 0; });
}

// Random bytes for ids, drawn 4 KiB at a time: randombytes_buf is a getrandom call, too dear per span.
template <std::size_t N>
void randomId(std::array<std::uint8_t, N>& id) {
    thread_local std::array<std::uint8_t, 4096> pool{};
    thread_local std::size_t used = pool.size();
    do {
        if (used + N > pool.size()) {
            ensureSodiumInitialised();
            randombytes_buf(pool.data(), pool.size());
            used = 0;
        }
        std::memcpy(id.data(), pool.data() + used, N);
        used += N;
    } while (allZero(id));
}

// tracestate's grammar (W3C Trace Context 3.3.1): key = simple-key / tenant@system, values of printable
// ASCII without ',' and '=' and not ending in a space.
bool keyChar(char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '*' || c == '/';
}

bool validKey(std::string_view key) {
    auto at = key.find('@');
    if (at == std::string_view::npos) {
        if (key.empty() || key.size() > 256 || !((key[0] >= 'a' && key[0] <= 'z'))) return false;
        return std::all_of(key.begin(), key.end(), keyChar);
    }
    auto tenant = key.substr(0, at);
    auto system = key.substr(at + 1);
    if (tenant.empty() || tenant.size() > 241 || system.empty() || system.size() > 14) return false;
    if (!((tenant[0] >= 'a' && tenant[0] <= 'z') || (tenant[0] >= '0' && tenant[0] <= '9'))) return false;
    if (!(system[0] >= 'a' && system[0] <= 'z')) return false;
    return std::all_of(tenant.begin(), tenant.end(), keyChar) &&
           std::all_of(system.begin(), system.end(), keyChar);
}

bool validValue(std::string_view value) {
    if (value.empty() || value.size() > 256 || value.back() == ' ') return false;
    return std::all_of(value.begin(), value.end(),
                       [](char c) { return c >= 0x20 && c <= 0x7E && c != ',' && c != '='; });
}

std::string_view trimOws(std::string_view text) {
    while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
    while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
    return text;
}

}  // namespace

bool SpanContext::valid() const {
    return !allZero(traceId) && !allZero(spanId);
}

std::optional<SpanContext> parseTraceparent(std::string_view header) {
    if (header.size() < kTraceparentSize) return std::nullopt;
    std::array<std::uint8_t, 1> version{};
    std::array<std::uint8_t, 1> flags{};
    if (!parseHex(header.substr(0, 2), version) || version[0] == 0xFF) return std::nullopt;
    if (version[0] == 0 ? header.size() != kTraceparentSize
                        : header.size() > kTraceparentSize && header[kTraceparentSize] != '-')
        return std::nullopt;
    if (header[2] != '-' || header[35] != '-' || header[52] != '-') return std::nullopt;
    SpanContext context;
    if (!parseHex(header.substr(3, 32), context.traceId) ||
        !parseHex(header.substr(36, 16), context.spanId) || !parseHex(header.substr(53, 2), flags) ||
        !context.valid())
        return std::nullopt;
    context.sampled = (flags[0] & 0x01) != 0;
    context.remote = true;
    return context;
}

void formatTraceparent(const SpanContext& context, std::array<char, kTraceparentSize>& out) {
    out.fill('-');
    out[0] = out[1] = '0';
    writeHex(context.traceId, out.data() + 3);
    writeHex(context.spanId, out.data() + 36);
    out[53] = '0';
    out[54] = context.sampled ? '1' : '0';
}

std::string formatTraceparent(const SpanContext& context) {
    std::array<char, kTraceparentSize> header;
    formatTraceparent(context, header);
    return std::string(header.data(), header.size());
}

std::string_view acceptTraceState(std::string_view header) {
    if (header.size() > 512) return {};
    std::string_view rest = header;
    int members = 0;
    bool any = false;
    while (true) {
        auto comma = rest.find(',');
        auto member = trimOws(rest.substr(0, comma));
        if (!member.empty()) {  // empty list members are allowed and skipped
            auto equals = member.find('=');
            if (equals == std::string_view::npos || !validKey(member.substr(0, equals)) ||
                !validValue(member.substr(equals + 1)) || ++members > 32)
                return {};
            any = true;
        }
        if (comma == std::string_view::npos) break;
        rest.remove_prefix(comma + 1);
    }
    return any ? trimOws(header) : std::string_view{};
}

TraceId newTraceId() {
    TraceId id;
    randomId(id);
    return id;
}

SpanId newSpanId() {
    SpanId id;
    randomId(id);
    return id;
}

std::string toHex(const TraceId& id) {
    return hexLower(id);
}

std::string toHex(const SpanId& id) {
    return hexLower(id);
}

}  // namespace rampart::obs
