// The audit event and its tamper-evident form: one canonical byte string per event, and the SHA-256
// chain that links each stored row to the one before it.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include <boost/json/object.hpp>

namespace rampart::obs {

// One security-relevant action. Audit rows are kept for years and read by auditors, so nothing in
// an event may be a secret: no passwords, tokens, keys, cookies, database URLs or request bodies,
// in details either. Name the thing (a key id, a finding id), never its value.
struct AuditEvent {
    std::chrono::system_clock::time_point time{};  // stored to the microsecond
    std::string action{};                          // e.g. "auth.login", "server.start"
    std::string actor{};                           // a user id, or "system"
    std::string client{};                          // client address, empty when there is none
    std::string requestId{};
    std::string target{};           // what was acted on, e.g. a job id
    std::string outcome{};          // "success", "failure" or "denied"
    boost::json::object details{};  // never a secret (see above)
};

// A stored event with the id the log gave it; ids ascend in the order events were appended.
struct AuditRecord {
    std::int64_t id = 0;
    AuditEvent event;
};

// An event as the text columns of its row: the time in RFC 3339 and the details as canonical JSON.
// The chain is computed over these strings, so a verifier needs only what the row stores.
struct AuditFields {
    std::string time;
    std::string action;
    std::string actor;
    std::string client;
    std::string requestId;
    std::string target;
    std::string outcome;
    std::string details;
};

using AuditHash = std::array<std::uint8_t, 32>;

// RFC 3339 in UTC with exactly six fractional digits ("2024-05-01T12:34:56.123456Z"): fixed width,
// so the text sorts like the time it stands for.
std::string formatAuditTime(std::chrono::system_clock::time_point time);
// The inverse of formatAuditTime; nullopt for anything else.
std::optional<std::chrono::system_clock::time_point> parseAuditTime(std::string_view text);

AuditFields auditFields(const AuditEvent& event);

// The bytes a row's hash covers: a JSON object with the fields in a fixed order, details canonical.
// The same event always gives the same bytes; any change to any field gives different ones.
std::string canonicalAuditContent(const AuditFields& fields);
std::string canonicalAuditContent(const AuditEvent& event);

// SHA-256(previousHash || canonicalContent); the first row's previous hash is 32 zero bytes.
// Throws std::runtime_error when OpenSSL fails (it does not for SHA-256 short of memory exhaustion).
AuditHash auditRowHash(std::span<const std::uint8_t> previousHash, std::string_view canonicalContent);

}  // namespace rampart::obs
