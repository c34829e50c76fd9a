// Attacks on the audit log that only the checkpoints outside the database can show, and on the
// checkpoints themselves: a tail removed with the head, sqlite_sequence and the triggers fixed up; the
// whole log turned back into a plain chain; a checkpoint line changed or signed by another key.
#include "app/audit_checkpoints.hpp"

#include <sys/stat.h>

#include <fstream>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "testing/audit_key.hpp"
#include "testing/raw_audit_database.hpp"
#include "testing/run_to_completion.hpp"
#include "testing/temp_directory.hpp"

namespace rampart {
namespace {

using rampart::testing::RawDatabase;
using rampart::testing::runToCompletion;
using ::testing::HasSubstr;

const SecretString kSecret{std::string(rampart::testing::kAuditTestSecretKey)};

class AuditCheckpointTest : public ::testing::Test {
  protected:
    void SetUp() override {
        store_ = open();
        store_->migrate();
        append(6);
    }

    std::unique_ptr<store::Store> open() const {
        return store::openStore(SecretString("sqlite://" + path_.string()),
                                {.auditKey = rampart::testing::testAuditKey()});
    }

    void append(int count) {
        for (int i = 0; i < count; ++i) {
            runToCompletion(
                store_->appendAudit(obs::AuditEvent{.time = std::chrono::system_clock::now(),
                                                    .action = "test.event",
                                                    .actor = "user-" + std::to_string(++appended_),
                                                    .outcome = "success"}));
        }
    }

    // What `rampart audit verify --checkpoints DIR` decides, on a fresh store (nothing cached).
    AuditCheckResult verify(const std::optional<std::filesystem::path>& dir) {
        store_->close();
        store_ = open();
        return checkAuditLog(*store_, kSecret, dir);
    }

    std::vector<std::string> lines() const {
        std::ifstream in(checkpoints_ / kAuditCheckpointFile);
        std::vector<std::string> result;
        for (std::string line; std::getline(in, line);) result.push_back(line);
        return result;
    }

    void rewriteLines(const std::vector<std::string>& replaced) const {
        std::ofstream out(checkpoints_ / kAuditCheckpointFile, std::ios::trunc);
        for (const auto& line : replaced) out << line << '\n';
    }

    rampart::testing::TempDirectory dir_;
    std::filesystem::path path_ = dir_.path() / "audit.db";
    std::filesystem::path checkpoints_ = dir_.path() / "checkpoints";
    std::unique_ptr<store::Store> store_;
    int appended_ = 0;
};

TEST_F(AuditCheckpointTest, NormalActivityVerifiesAgainstEveryCheckpoint) {
    const AuditCheckpoint first = writeAuditCheckpoint(*store_, kSecret, checkpoints_);
    EXPECT_EQ(first.seq, 6);
    append(3);
    EXPECT_EQ(writeAuditCheckpoint(*store_, kSecret, checkpoints_).seq, 9);
    append(2);
    ASSERT_EQ(lines().size(), 2u);

    const AuditCheckResult result = verify(checkpoints_);
    EXPECT_TRUE(result.ok) << result.message;
    EXPECT_EQ(result.message, "audit log intact: 11 rows, 2 checkpoints agree");

    struct stat file {};
    ASSERT_EQ(::stat((checkpoints_ / kAuditCheckpointFile).c_str(), &file), 0);
    EXPECT_EQ(file.st_mode & 0777, 0600u);
    struct stat directory {};
    ASSERT_EQ(::stat(checkpoints_.c_str(), &directory), 0);
    EXPECT_EQ(directory.st_mode & 0777, 0700u);
}

TEST_F(AuditCheckpointTest, AnEmptyLogCanBeCheckpointed) {
    rampart::testing::TempDirectory other;
    auto empty = store::openStore(SecretString("sqlite://" + (other.path() / "empty.db").string()),
                                  {.auditKey = rampart::testing::testAuditKey()});
    empty->migrate();
    EXPECT_EQ(writeAuditCheckpoint(*empty, kSecret, other.path() / "cp").seq, 0);
    EXPECT_TRUE(checkAuditLog(*empty, kSecret, other.path() / "cp").ok);
}

// The attack of the issue: drop the triggers, delete the tail, set audit_head and sqlite_sequence back
// to the last row kept. The chain alone cannot tell; the checkpoint can.
TEST_F(AuditCheckpointTest, TruncationWithTheHeadRewrittenIsReported) {
    writeAuditCheckpoint(*store_, kSecret, checkpoints_);
    store_->close();
    {
        RawDatabase raw(path_);
        raw.dropTriggers();
        raw.exec("DELETE FROM audit_log WHERE id >= 5");
        raw.setHead(4, raw.hashOf(4));
    }
    EXPECT_TRUE(verify(std::nullopt).ok) << "the chain alone cannot see this truncation";
    const AuditCheckResult result = verify(checkpoints_);
    EXPECT_FALSE(result.ok);
    EXPECT_THAT(result.message, HasSubstr("truncated"));
    EXPECT_THAT(result.message, HasSubstr("records row 6, but the log ends at row 4"));
}

TEST_F(AuditCheckpointTest, ForgedAppendWithAPlainHashIsReported) {
    writeAuditCheckpoint(*store_, kSecret, checkpoints_);
    store_->close();
    {
        RawDatabase raw(path_);
        raw.appendPlain("mallory");
    }
    const AuditCheckResult result = verify(checkpoints_);
    EXPECT_FALSE(result.ok);
    EXPECT_THAT(result.message, HasSubstr("tampered at row 7"));
    EXPECT_THAT(result.message, HasSubstr("forged"));
}

TEST_F(AuditCheckpointTest, RewrittenHistoryIsReported) {
    writeAuditCheckpoint(*store_, kSecret, checkpoints_);
    store_->close();
    {
        RawDatabase raw(path_);
        raw.dropTriggers();
        raw.exec("UPDATE audit_log SET actor = 'mallory' WHERE id = 2");
        raw.rechainPlainFrom(2);
    }
    const AuditCheckResult result = verify(checkpoints_);
    EXPECT_FALSE(result.ok);
    EXPECT_THAT(result.message, HasSubstr("tampered at row 2"));
}

// The one rewrite the key cannot stop: declare every row older than the keyed chain (keyed_from past
// the tail) and recompute them all with plain SHA-256. The chain verifies, as a fully legacy log; the
// checkpoint's signed keyed_from and hash do not agree.
TEST_F(AuditCheckpointTest, LogTurnedBackIntoAPlainChainIsReported) {
    writeAuditCheckpoint(*store_, kSecret, checkpoints_);
    store_->close();
    {
        RawDatabase raw(path_);
        raw.dropTriggers();
        raw.exec("UPDATE audit_log SET actor = 'mallory' WHERE id = 2");
        raw.rechainPlainFrom(1);
        raw.exec("UPDATE audit_head SET keyed_from = 7");
    }
    const AuditCheckResult plain = verify(std::nullopt);
    EXPECT_TRUE(plain.ok) << plain.message;
    EXPECT_THAT(plain.message, HasSubstr("rows 1..6 predate the keyed chain"));
    const AuditCheckResult result = verify(checkpoints_);
    EXPECT_FALSE(result.ok);
    EXPECT_THAT(result.message, HasSubstr("keyed chain starts at row 7, but checkpoint line 1 says row 1"));
}

TEST_F(AuditCheckpointTest, ChangedCheckpointLineIsReported) {
    writeAuditCheckpoint(*store_, kSecret, checkpoints_);
    append(1);
    writeAuditCheckpoint(*store_, kSecret, checkpoints_);
    auto original = lines();
    ASSERT_EQ(original.size(), 2u);

    // An attacker who truncated the log lowers the second checkpoint's seq to match: the signature breaks.
    auto changed = original;
    const auto at = changed[1].find("\"seq\":7");
    ASSERT_NE(at, std::string::npos) << changed[1];
    changed[1].replace(at, 7, "\"seq\":6");
    rewriteLines(changed);
    AuditCheckResult result = verify(checkpoints_);
    EXPECT_FALSE(result.ok);
    EXPECT_THAT(result.message, HasSubstr("checkpoint line 2: the signature does not verify"));

    // A flipped character of the signature.
    changed = original;
    const auto signature = changed[0].find("\"signature\":\"") + 13;
    changed[0][signature] = changed[0][signature] == 'A' ? 'B' : 'A';
    rewriteLines(changed);
    result = verify(checkpoints_);
    EXPECT_FALSE(result.ok);
    EXPECT_THAT(result.message, HasSubstr("checkpoint line 1: the signature does not verify"));

    // Not JSON at all.
    rewriteLines({original[0], "not a checkpoint"});
    result = verify(checkpoints_);
    EXPECT_FALSE(result.ok);
    EXPECT_THAT(result.message, HasSubstr("line 2"));
    EXPECT_THAT(result.message, HasSubstr("malformed"));
}

TEST_F(AuditCheckpointTest, CheckpointSignedByAnotherKeyIsReported) {
    // Whoever does not hold the secret key signs with a key of their own, and puts its public key in the
    // line.
    writeAuditCheckpoint(*store_, SecretString("another-secret-key-that-is-not-this-servers-0001"),
                         checkpoints_);
    const AuditCheckResult result = verify(checkpoints_);
    EXPECT_FALSE(result.ok);
    EXPECT_THAT(result.message, HasSubstr("signed by another key"));
}

TEST_F(AuditCheckpointTest, MissingCheckpointFileIsReported) {
    const AuditCheckResult result = verify(checkpoints_);
    EXPECT_FALSE(result.ok);
    EXPECT_THAT(result.message, HasSubstr("checkpoints missing"));
}

TEST_F(AuditCheckpointTest, ABrokenChainIsNeverCheckpointed) {
    store_->close();
    {
        RawDatabase raw(path_);
        raw.appendPlain("mallory");
    }
    store_ = open();
    EXPECT_THROW(writeAuditCheckpoint(*store_, kSecret, checkpoints_), std::runtime_error);
    EXPECT_FALSE(std::filesystem::exists(checkpoints_ / kAuditCheckpointFile));
}

}  // namespace
}  // namespace rampart
