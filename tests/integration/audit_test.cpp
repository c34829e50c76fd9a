// The audit commands through the binary: `rampart audit checkpoint` writes signed checkpoints outside the
// database, `rampart audit verify --checkpoints` finds a tail removed with the head rewritten (which the
// chain alone cannot see) and a changed checkpoint file, each with exit status 1.
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "api_client.hpp"
#include "testing/raw_audit_database.hpp"

namespace rampart::testing {
namespace {

class AuditCliTest : public ::testing::Test {
  protected:
    std::pair<int, std::string> run(std::vector<std::string> args) {
        args.insert(args.begin(), RAMPART_BINARY);
        auto child = startProcess(args, env_, data_.path());
        auto status = child.waitExit(std::chrono::seconds(30));
        return {status.value_or(-1), readFile(child.stdoutPath()) + readFile(child.stderrPath())};
    }

    TempDir data_;
    Environment env_{{"RAMPART_DATA_DIR", (data_.path() / "var").string()},
                     {"RAMPART_SECRET_KEY", std::string(kSecretKey)},
                     {"RAMPART_AUTH__ARGON2_OPS_LIMIT", "2"},
                     {"RAMPART_AUTH__ARGON2_MEMORY_KIB", "19456"}};
    std::filesystem::path checkpoints_ = data_.path() / "checkpoints";
};

TEST_F(AuditCliTest, CheckpointsCatchATruncatedTailAndAChangedCheckpointFile) {
    ASSERT_EQ(run({"migrate"}).first, 0);
    for (const char* name : {"carol", "dave", "erin"}) {
        auto [created, out] = run({"admin", "user", "create", name});
        ASSERT_EQ(created, 0) << out;
    }
    auto [written, writtenOut] = run({"audit", "checkpoint", "--dir", checkpoints_.string()});
    ASSERT_EQ(written, 0) << writtenOut;
    EXPECT_NE(writtenOut.find("audit checkpoint at row 3"), std::string::npos) << writtenOut;
    auto [intact, intactOut] = run({"audit", "verify", "--checkpoints", checkpoints_.string()});
    EXPECT_EQ(intact, 0) << intactOut;
    EXPECT_NE(intactOut.find("1 checkpoints agree"), std::string::npos) << intactOut;

    // The tail removed, the head, sqlite_sequence and the triggers made to agree.
    {
        RawDatabase raw(data_.path() / "var" / "rampart.db");
        raw.dropTriggers();
        raw.exec("DELETE FROM audit_log WHERE id = 3");
        raw.setHead(2, raw.hashOf(2));
    }
    auto [chainOnly, chainOnlyOut] = run({"audit", "verify"});
    EXPECT_EQ(chainOnly, 0) << "the chain alone cannot see it: " << chainOnlyOut;
    auto [truncated, truncatedOut] = run({"audit", "verify", "--checkpoints", checkpoints_.string()});
    EXPECT_EQ(truncated, 1) << truncatedOut;
    EXPECT_NE(truncatedOut.find("truncated"), std::string::npos) << truncatedOut;

    // Checkpoints name no secret; a changed one is refused.
    const std::filesystem::path file = checkpoints_ / "audit-checkpoints.jsonl";
    std::string line = readFile(file);
    EXPECT_EQ(line.find(kSecretKey), std::string::npos);
    const auto seq = line.find("\"seq\":3");
    ASSERT_NE(seq, std::string::npos) << line;
    line.replace(seq, 7, "\"seq\":2");
    std::ofstream(file, std::ios::trunc) << line;
    auto [changed, changedOut] = run({"audit", "verify", "--checkpoints", checkpoints_.string()});
    EXPECT_EQ(changed, 1) << changedOut;
    EXPECT_NE(changedOut.find("signature does not verify"), std::string::npos) << changedOut;
}

TEST_F(AuditCliTest, ACheckpointNeedsADirectory) {
    ASSERT_EQ(run({"migrate"}).first, 0);
    auto [status, out] = run({"audit", "checkpoint"});
    EXPECT_EQ(status, 2) << out;
    EXPECT_NE(out.find("--dir"), std::string::npos) << out;
}

}  // namespace
}  // namespace rampart::testing
