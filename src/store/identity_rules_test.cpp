// The refresh-token rule both stores share, and the identity rows they read alike.
#include "store/identity_rules.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "store/identity_columns.hpp"
#include "testing/text_row.hpp"

namespace rampart::store {
namespace {

using rampart::testing::TextRow;

const Seconds kNow = secondsOf(1000);

TEST(RefreshOutcomeOf, AnExpiredTokenProvesNothingSpentOrNot) {
    EXPECT_EQ(refreshOutcomeOf(1000, false, false, kNow), RefreshOutcome::unknown) << "expired at its end";
    EXPECT_EQ(refreshOutcomeOf(999, true, true, kNow), RefreshOutcome::unknown);
}

TEST(RefreshOutcomeOf, ARevokedFamilyStaysRevokedBeforeReuseIsLookedAt) {
    EXPECT_EQ(refreshOutcomeOf(1001, false, true, kNow), RefreshOutcome::revoked);
    EXPECT_EQ(refreshOutcomeOf(1001, true, true, kNow), RefreshOutcome::revoked);
}

TEST(RefreshOutcomeOf, ASpentTokenIsReuseAndALiveOneRotates) {
    EXPECT_EQ(refreshOutcomeOf(1001, true, false, kNow), RefreshOutcome::reused);
    EXPECT_EQ(refreshOutcomeOf(1001, false, false, kNow), RefreshOutcome::rotated);
}

TEST(IdentityColumns, RowsBecomeRecordsInTheListsOrder) {
    const UserRecord user = userOfRow(TextRow{{"u1", "alice", std::nullopt, "admin", "1", "hash", "sealed",
                                               "0", "7", "100", "200", "3", std::nullopt, "300"}});
    EXPECT_EQ(user.id, "u1");
    EXPECT_EQ(user.username, "alice");
    EXPECT_EQ(user.email, std::nullopt);
    EXPECT_EQ(user.role, "admin");
    EXPECT_TRUE(user.active);
    EXPECT_EQ(user.passwordHash, "hash");
    EXPECT_EQ(user.totpSecretSealed, "sealed");
    EXPECT_FALSE(user.totpEnabled);
    EXPECT_EQ(user.totpLastStep, 7);
    EXPECT_EQ(user.created, secondsOf(100));
    EXPECT_EQ(user.lastLogin, secondsOf(200));
    EXPECT_EQ(user.failedLogins, 3);
    EXPECT_EQ(user.lockedUntil, std::nullopt);
    EXPECT_EQ(user.credentialsRevokedAt, secondsOf(300));

    const ApiTokenRecord token = tokenOfRow(TextRow{
        {"t1", "u1", "ci", "h", "rpt_ab", "jobs:read jobs:write", "10", std::nullopt, "20", std::nullopt}});
    EXPECT_EQ(token.id, "t1");
    EXPECT_EQ(token.userId, "u1");
    EXPECT_EQ(token.name, "ci");
    EXPECT_EQ(token.tokenHash, "h");
    EXPECT_EQ(token.displayPrefix, "rpt_ab");
    EXPECT_EQ(token.scopes, (std::vector<std::string>{"jobs:read", "jobs:write"}));
    EXPECT_EQ(token.created, secondsOf(10));
    EXPECT_EQ(token.expires, std::nullopt);
    EXPECT_EQ(token.lastUsed, secondsOf(20));
    EXPECT_EQ(token.revoked, std::nullopt);

    const SessionRecord session = sessionOfRow(TextRow{{"hash", "u1", "1", "2", "3"}});
    EXPECT_EQ(session.idHash, "hash");
    EXPECT_EQ(session.userId, "u1");
    EXPECT_EQ(session.created, secondsOf(1));
    EXPECT_EQ(session.expires, secondsOf(2));
    EXPECT_EQ(session.revoked, secondsOf(3));
}

}  // namespace
}  // namespace rampart::store
