// Canonical audit content (stable bytes, key order, sensitivity to every field), the time format
// and the chain hash.
#include "obs/audit.hpp"

#include <functional>
#include <string>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <boost/json/parse.hpp>

namespace rampart::obs {
namespace {

using namespace std::chrono_literals;

AuditEvent sampleEvent() {
    return AuditEvent{
        .time = std::chrono::sys_days{std::chrono::year{2024} / 5 / 1} + 12h + 34min + 56s + 123456us,
        .action = "auth.login",
        .actor = "user-42",
        .client = "203.0.113.7",
        .requestId = "req-1",
        .target = "session",
        .outcome = "success",
        .details = {{"method", "password"}, {"mfa", true}},
    };
}

TEST(AuditCanonicalContent, IsAFixedFieldOrderWithSortedDetails) {
    auto event = sampleEvent();
    event.details =
        boost::json::parse(R"({"zeta": 1, "alpha": {"y": [3, {"b": 1, "a": 2}], "x": null}})").as_object();
    EXPECT_EQ(canonicalAuditContent(event),
              R"({"time":"2024-05-01T12:34:56.123456Z","action":"auth.login","actor":"user-42",)"
              R"("client":"203.0.113.7","requestId":"req-1","target":"session","outcome":"success",)"
              R"("details":{"alpha":{"x":null,"y":[3,{"a":2,"b":1}]},"zeta":1}})");
}

TEST(AuditCanonicalContent, SameEventGivesSameBytesWhateverTheInsertionOrder) {
    auto first = sampleEvent();
    first.details = {{"b", 1}, {"a", boost::json::object{{"d", 1}, {"c", 2}}}};
    auto second = sampleEvent();
    second.details = {{"a", boost::json::object{{"c", 2}, {"d", 1}}}, {"b", 1}};
    EXPECT_EQ(canonicalAuditContent(first), canonicalAuditContent(second));
    EXPECT_EQ(canonicalAuditContent(first), canonicalAuditContent(first));
}

TEST(AuditCanonicalContent, AnyFieldChangeChangesTheBytes) {
    const std::string original = canonicalAuditContent(sampleEvent());
    const std::function<void(AuditEvent&)> changes[] = {
        [](AuditEvent& e) { e.time += 1us; },           [](AuditEvent& e) { e.action = "auth.logout"; },
        [](AuditEvent& e) { e.actor = "user-43"; },     [](AuditEvent& e) { e.client = "203.0.113.8"; },
        [](AuditEvent& e) { e.requestId = "req-2"; },   [](AuditEvent& e) { e.target = "token"; },
        [](AuditEvent& e) { e.outcome = "failure"; },   [](AuditEvent& e) { e.details["mfa"] = false; },
        [](AuditEvent& e) { e.details["extra"] = ""; },
    };
    for (const auto& change : changes) {
        auto event = sampleEvent();
        change(event);
        EXPECT_NE(canonicalAuditContent(event), original);
    }
}

TEST(AuditCanonicalContent, EscapingKeepsFieldBoundariesUnambiguous) {
    auto a = sampleEvent();
    a.actor = R"(x","client":"y)";
    a.client = "";
    auto b = sampleEvent();
    b.actor = "x";
    b.client = "y";
    EXPECT_NE(canonicalAuditContent(a), canonicalAuditContent(b));
}

TEST(AuditTime, FormatsRfc3339UtcWithMicrosecondsAndParsesBack) {
    const auto time = sampleEvent().time + 789ns;  // below a microsecond: dropped
    EXPECT_EQ(formatAuditTime(time), "2024-05-01T12:34:56.123456Z");
    EXPECT_EQ(parseAuditTime("2024-05-01T12:34:56.123456Z"), sampleEvent().time);
    EXPECT_EQ(formatAuditTime(std::chrono::system_clock::time_point{}), "1970-01-01T00:00:00.000000Z");
    EXPECT_FALSE(parseAuditTime("2024-05-01T12:34:56Z"));
    EXPECT_FALSE(parseAuditTime("2024-02-30T12:34:56.000000Z"));
    EXPECT_FALSE(parseAuditTime("2024-05-01 12:34:56.123456Z"));
    EXPECT_FALSE(parseAuditTime("2024-05-01T12:34:5x.123456Z"));
}

TEST(AuditRowHash, IsSha256OfPreviousHashThenContent) {
    const AuditHash zero{};
    // SHA-256 of 32 zero bytes followed by "abc", computed independently with `openssl dgst`.
    const AuditHash hash = auditRowHash(zero, "abc");
    std::string hex;
    for (auto byte : hash) hex += fmt::format("{:02x}", byte);
    EXPECT_EQ(hex, "365aa7d8f7f9402c4b9434502b4cc89ddb09fe50d7cd95b493b834c62d5a5370");
    EXPECT_NE(auditRowHash(hash, "abc"), hash);
}

}  // namespace
}  // namespace rampart::obs
