// Canonical serialization of audit events and the SHA-256 link of the audit hash chain.
#include "obs/audit.hpp"
#include "core/canonical_json.hpp"
#include "crypto/openssl_handles.hpp"

#include <openssl/evp.h>

#include <algorithm>
#include <charconv>
#include <memory>
#include <stdexcept>
#include <vector>

#include <fmt/format.h>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

namespace rampart::obs {
namespace {

using crypto::MdCtxFree;

void appendField(std::string& out, std::string_view name, std::string_view value) {
    out += '"';
    out += name;
    out += "\":";
    out += boost::json::serialize(boost::json::value(value));
}

// Parses exactly `digits` decimal digits at text[pos].
std::optional<int> digitsAt(std::string_view text, std::size_t pos, std::size_t digits) {
    if (pos + digits > text.size()) return std::nullopt;
    int value = 0;
    const char* begin = text.data() + pos;
    const auto [end, ec] = std::from_chars(begin, begin + digits, value);
    if (ec != std::errc() || end != begin + digits) return std::nullopt;
    if (!std::all_of(begin, begin + digits, [](char c) { return c >= '0' && c <= '9'; })) return std::nullopt;
    return value;
}

}  // namespace

std::string formatAuditTime(std::chrono::system_clock::time_point time) {
    using namespace std::chrono;
    const auto micros = floor<microseconds>(time);
    const auto day = floor<days>(micros);
    const year_month_day date{day};
    const hh_mm_ss clock{micros - day};
    return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z", static_cast<int>(date.year()),
                       static_cast<unsigned>(date.month()), static_cast<unsigned>(date.day()),
                       clock.hours().count(), clock.minutes().count(), clock.seconds().count(),
                       clock.subseconds().count());
}

std::optional<std::chrono::system_clock::time_point> parseAuditTime(std::string_view text) {
    using namespace std::chrono;
    constexpr std::string_view kShape = "0000-00-00T00:00:00.000000Z";
    if (text.size() != kShape.size()) return std::nullopt;
    for (std::size_t i = 0; i < kShape.size(); ++i) {
        if (kShape[i] != '0' && text[i] != kShape[i]) return std::nullopt;
    }
    const auto yearValue = digitsAt(text, 0, 4), monthValue = digitsAt(text, 5, 2),
               dayValue = digitsAt(text, 8, 2), hourValue = digitsAt(text, 11, 2),
               minuteValue = digitsAt(text, 14, 2), secondValue = digitsAt(text, 17, 2),
               microValue = digitsAt(text, 20, 6);
    if (!yearValue || !monthValue || !dayValue || !hourValue || !minuteValue || !secondValue || !microValue) {
        return std::nullopt;
    }
    const year_month_day date{year{*yearValue}, month{static_cast<unsigned>(*monthValue)},
                              day{static_cast<unsigned>(*dayValue)}};
    if (!date.ok() || *hourValue > 23 || *minuteValue > 59 || *secondValue > 59) return std::nullopt;
    const auto micros = sys_days{date} + hours{*hourValue} + minutes{*minuteValue} + seconds{*secondValue} +
                        microseconds{*microValue};
    return time_point_cast<system_clock::duration>(micros);
}

AuditFields auditFields(const AuditEvent& event) {
    return AuditFields{
        .time = formatAuditTime(event.time),
        .action = event.action,
        .actor = event.actor,
        .client = event.client,
        .requestId = event.requestId,
        .target = event.target,
        .outcome = event.outcome,
        .details = canonicalJson(event.details),
    };
}

std::string canonicalAuditContent(const AuditFields& fields) {
    // JSON with escaped strings: no field's value can imitate a boundary between two fields.
    std::string out = "{";
    appendField(out, "time", fields.time);
    out += ',';
    appendField(out, "action", fields.action);
    out += ',';
    appendField(out, "actor", fields.actor);
    out += ',';
    appendField(out, "client", fields.client);
    out += ',';
    appendField(out, "requestId", fields.requestId);
    out += ',';
    appendField(out, "target", fields.target);
    out += ',';
    appendField(out, "outcome", fields.outcome);
    // details is already canonical JSON, so it goes in as it is stored: re-parsing it could change
    // the digits of a number, and the hash must depend on the stored bytes only.
    out += ",\"details\":";
    out += fields.details;
    out += '}';
    return out;
}

std::string canonicalAuditContent(const AuditEvent& event) {
    return canonicalAuditContent(auditFields(event));
}

AuditHash auditRowHash(std::span<const std::uint8_t> previousHash, std::string_view canonicalContent) {
    const std::unique_ptr<EVP_MD_CTX, MdCtxFree> context(EVP_MD_CTX_new());
    AuditHash hash{};
    unsigned int length = 0;
    if (!context || EVP_DigestInit_ex(context.get(), EVP_sha256(), nullptr) != 1 ||
        EVP_DigestUpdate(context.get(), previousHash.data(), previousHash.size()) != 1 ||
        EVP_DigestUpdate(context.get(), canonicalContent.data(), canonicalContent.size()) != 1 ||
        EVP_DigestFinal_ex(context.get(), hash.data(), &length) != 1 || length != hash.size()) {
        throw std::runtime_error("SHA-256 failed");
    }
    return hash;
}

}  // namespace rampart::obs
