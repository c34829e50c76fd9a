// `rampart admin backup` and `restore` through the real binary: a backup taken while jobs flow holds
// every job acknowledged before it began and an audit chain that verifies; a damaged, cut, wrongly
// keyed or plain-for-encrypted file is refused and leaves the data directory empty; the backup file
// holds no plaintext; PostgreSQL is sent to its own tools.
#include <sys/stat.h>

#include <atomic>
#include <fstream>
#include <mutex>
#include <thread>

#include <gtest/gtest.h>
#include <boost/json.hpp>

#include "api_client.hpp"

namespace rampart::testing {
namespace {

namespace json = boost::json;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

constexpr std::string_view kFarFuture = "2099-01-01T00:00:00Z";
constexpr std::string_view kMarker = "backup-marker-7f3a";

struct Outcome {
    int status = -1;
    std::string out;
    std::string err;
};

mode_t modeOf(const fs::path& path) {
    struct stat info {};
    return ::stat(path.c_str(), &info) == 0 ? info.st_mode & 07777 : 0;
}

bool isEmptyDirectory(const fs::path& dir) {
    return fs::is_directory(dir) && fs::is_empty(dir);
}

class BackupTest : public ::testing::Test {
  protected:
    void SetUp() override {
        env_ = withHighRateLimits(apiServerEnvironment(dir_));
        server_.start({}, env_);
        token_ = adminAccessToken(server_.port());
        ASSERT_EQ(rampart({"admin", "backup-key", key().string()}).status, 0);
    }

    void TearDown() override { server_.stop(); }

    fs::path key() const { return dir_ / "backup.key"; }

    // Runs `rampart ARGS` with the server's environment (and its data directory) unless told.
    Outcome rampart(const std::vector<std::string>& args, std::optional<Environment> env = std::nullopt) {
        Environment use = env.value_or(env_);
        if (!env) use["RAMPART_DATA_DIR"] = server_.dataDir().string();
        std::vector<std::string> argv{RAMPART_BINARY};
        argv.insert(argv.end(), args.begin(), args.end());
        const TempDir work;
        auto child = startProcess(argv, use, work.path());
        const auto status = child.waitExit(120s);
        return Outcome{.status = status.value_or(-1),
                       .out = readFile(child.stdoutPath()),
                       .err = readFile(child.stderrPath())};
    }

    // The id of a new far-future echo job carrying `tag`, or empty when not acknowledged.
    std::string submit(std::uint16_t port, const std::string& tag) const {
        const json::object submission{
            {"task", "echo"}, {"args", json::object{{"tag", tag}}}, {"run_at", kFarFuture}};
        auto r = apiCall(port, "POST", "/api/v1/jobs", token_, json::serialize(submission));
        return r.status == 201 ? str(parse(r), "id") : std::string();
    }

    Outcome restore(const fs::path& file, const fs::path& dataDir, std::vector<std::string> extra = {}) {
        std::vector<std::string> args{"admin", "restore", file.string(), "--data-dir", dataDir.string()};
        if (extra.empty()) extra = {"--key-file", key().string()};
        args.insert(args.end(), extra.begin(), extra.end());
        return rampart(args);
    }

    TempDir dir_;
    Environment env_;
    ServerProcess server_;
    std::string token_;
};

TEST_F(BackupTest, BackupWhileJobsFlowRestoresEveryJobAcknowledgedBeforeIt) {
    struct Acknowledged {
        std::string id;
        std::string tag;
        Clock::time_point at;
    };
    std::mutex mutex;
    std::vector<Acknowledged> acknowledged;
    std::atomic<bool> stop{false};
    std::thread submitter([&] {
        for (int i = 0; !stop; ++i) {
            const std::string tag = std::string(kMarker) + "-" + std::to_string(i);
            auto id = submit(server_.port(), tag);
            const auto at = Clock::now();
            if (id.empty()) continue;
            const std::lock_guard lock(mutex);
            acknowledged.push_back({std::move(id), tag, at});
        }
    });
    auto countAcknowledged = [&] {
        const std::lock_guard lock(mutex);
        return acknowledged.size();
    };
    while (countAcknowledged() < 100) std::this_thread::sleep_for(10ms);

    const fs::path file = dir_ / "rampart.backup";
    const auto began = Clock::now();
    const Outcome backup = rampart({"admin", "backup", file.string(), "--key-file", key().string()});
    // Keep the writes going a moment after the backup, then stop.
    std::this_thread::sleep_for(200ms);
    stop = true;
    submitter.join();
    ASSERT_EQ(backup.status, 0) << backup.err;
    EXPECT_NE(backup.out.find("encrypted"), std::string::npos) << backup.out;
    EXPECT_EQ(modeOf(file), 0600U);

    std::vector<Acknowledged> before;
    std::size_t after = 0;
    for (const auto& job : acknowledged) {
        if (job.at < began)
            before.push_back(job);
        else
            ++after;
    }
    ASSERT_GE(before.size(), 100U);
    EXPECT_GT(after, 0U) << "no job was acknowledged while or after the backup ran; the test shows nothing";

    // The file holds no job argument and no SQLite page in the clear.
    const std::string sealed = readFile(file);
    EXPECT_EQ(sealed.find(kMarker), std::string::npos);
    EXPECT_EQ(sealed.find("SQLite format 3"), std::string::npos);

    const TempDir restoredParent;
    const fs::path restored = restoredParent / "data";
    const Outcome done = restore(file, restored);
    ASSERT_EQ(done.status, 0) << done.err;
    EXPECT_EQ(modeOf(restored), 0700U);
    EXPECT_EQ(modeOf(restored / "rampart.db"), 0600U);

    Environment restoredEnv = env_;
    restoredEnv["RAMPART_DATA_DIR"] = restored.string();
    const Outcome verified = rampart({"audit", "verify"}, restoredEnv);
    EXPECT_EQ(verified.status, 0) << verified.out << verified.err;
    EXPECT_NE(verified.out.find("audit log intact"), std::string::npos) << verified.out;

    ServerProcess second;
    second.start({}, restoredEnv);
    const std::string token = adminAccessToken(second.port());
    for (const auto& job : before) {
        auto r = apiCall(second.port(), "GET", "/api/v1/jobs/" + job.id, token);
        ASSERT_EQ(r.status, 200) << "job acknowledged before the backup is missing: " << job.id;
        const auto body = parse(r);
        EXPECT_EQ(str(body, "state"), "scheduled") << r.body;
        const auto* args = body.if_contains("args");
        ASSERT_TRUE(args != nullptr && args->is_object()) << r.body;
        EXPECT_EQ(str(args->as_object(), "tag"), job.tag);
    }
    // The restored store takes new work.
    EXPECT_FALSE(submit(second.port(), "after-restore").empty());
    second.stop();
    expectNoSecretsInText(backup.out + backup.err + done.out + done.err, {readFile(key())});
}

TEST_F(BackupTest, DamagedCutOrWronglyKeyedBackupsAreRefusedAndLeaveTheDirectoryEmpty) {
    ASSERT_FALSE(submit(server_.port(), std::string(kMarker)).empty());
    const fs::path file = dir_ / "rampart.backup";
    ASSERT_EQ(rampart({"admin", "backup", file.string(), "--key-file", key().string()}).status, 0);
    const std::string good = readFile(file);
    ASSERT_GT(good.size(), 4096U);

    const TempDir target;
    auto refused = [&](const std::string& name, const std::string& bytes,
                       std::vector<std::string> extra = {}) {
        const fs::path bad = dir_ / name;
        writeFile(bad, bytes);
        const Outcome r = restore(bad, target.path(), std::move(extra));
        EXPECT_NE(r.status, 0) << name << ": " << r.out;
        EXPECT_TRUE(isEmptyDirectory(target.path())) << name << " left files in the data directory";
        return r.err;
    };
    for (std::size_t at : {std::size_t{9}, std::size_t{20}, good.size() / 2, good.size() - 1}) {
        std::string flipped = good;
        flipped[at] = static_cast<char>(flipped[at] ^ 0x20);
        const std::string err = refused("flipped-" + std::to_string(at), flipped);
        EXPECT_TRUE(err.find("damaged") != std::string::npos || err.find("key is not") != std::string::npos ||
                    err.find("encrypted") != std::string::npos)
            << err;
    }
    EXPECT_NE(refused("cut", good.substr(0, good.size() - 100)).find("damaged"), std::string::npos);
    EXPECT_NE(refused("longer", good + "tail").find("damaged"), std::string::npos);

    const fs::path otherKey = dir_ / "other.key";
    ASSERT_EQ(rampart({"admin", "backup-key", otherKey.string()}).status, 0);
    EXPECT_NE(refused("wrong-key", good, {"--key-file", otherKey.string()}).find("key is not the one"),
              std::string::npos);
    EXPECT_NE(refused("no-key", good, {"--no-encrypt"}).find("encrypted"), std::string::npos);

    // A key file others may read is refused, for backup and restore alike.
    ::chmod(otherKey.c_str(), 0644);
    EXPECT_NE(refused("open-key", good, {"--key-file", otherKey.string()}).find("open to other accounts"),
              std::string::npos);
    const Outcome openKeyBackup =
        rampart({"admin", "backup", (dir_ / "b2").string(), "--key-file", otherKey.string()});
    EXPECT_EQ(openKeyBackup.status, 1);
    EXPECT_FALSE(fs::exists(dir_ / "b2"));

    // The good file restores into the same directory: the refusals left it usable.
    const Outcome ok = restore(file, target.path());
    EXPECT_EQ(ok.status, 0) << ok.err;
    // And never over an existing database.
    const Outcome again = restore(file, target.path());
    EXPECT_EQ(again.status, 1);
    EXPECT_NE(again.err.find("not empty"), std::string::npos) << again.err;
}

TEST_F(BackupTest, RestoreRefusesANonEmptyDirectory) {
    const fs::path file = dir_ / "rampart.backup";
    ASSERT_EQ(rampart({"admin", "backup", file.string(), "--key-file", key().string()}).status, 0);
    const TempDir target;
    writeFile(target / "notes.txt", "keep me");
    const Outcome r = restore(file, target.path());
    EXPECT_EQ(r.status, 1);
    EXPECT_NE(r.err.find("not empty"), std::string::npos) << r.err;
    EXPECT_FALSE(fs::exists(target / "rampart.db"));
    EXPECT_EQ(readFile(target / "notes.txt"), "keep me");
}

TEST_F(BackupTest, BackupRefusesToOverwriteWithoutForceAndNeedsAKeyOrNoEncrypt) {
    const fs::path file = dir_ / "rampart.backup";
    writeFile(file, "an older backup");
    const Outcome refused = rampart({"admin", "backup", file.string(), "--key-file", key().string()});
    EXPECT_EQ(refused.status, 1);
    EXPECT_EQ(readFile(file), "an older backup");
    const Outcome forced =
        rampart({"admin", "backup", file.string(), "--key-file", key().string(), "--force"});
    EXPECT_EQ(forced.status, 0) << forced.err;
    EXPECT_NE(readFile(file), "an older backup");
    EXPECT_EQ(modeOf(file), 0600U);

    const Outcome noKey = rampart({"admin", "backup", (dir_ / "b").string()});
    EXPECT_EQ(noKey.status, 2);
    EXPECT_NE(noKey.err.find("--key-file"), std::string::npos) << noKey.err;
    EXPECT_FALSE(fs::exists(dir_ / "b"));
    // Nothing but the backups is left beside them (no partial file).
    for (const auto& entry : fs::directory_iterator(dir_.path())) {
        EXPECT_EQ(entry.path().filename().string().find(".partial-"), std::string::npos) << entry.path();
    }
}

TEST_F(BackupTest, PlainBackupRoundTripsOnlyWhenAskedFor) {
    const std::string id = submit(server_.port(), std::string(kMarker));
    ASSERT_FALSE(id.empty());
    const fs::path file = dir_ / "plain.backup";
    const Outcome made = rampart({"admin", "backup", file.string(), "--no-encrypt"});
    ASSERT_EQ(made.status, 0) << made.err;
    EXPECT_NE(made.out.find("NOT encrypted"), std::string::npos);
    EXPECT_NE(readFile(file).find("SQLite format 3"), std::string::npos);

    const TempDir target;
    // A plain file where an encrypted one is expected could be anybody's database: refused.
    const Outcome unasked = restore(file, target.path());
    EXPECT_EQ(unasked.status, 1);
    EXPECT_NE(unasked.err.find("not encrypted"), std::string::npos) << unasked.err;
    EXPECT_TRUE(isEmptyDirectory(target.path()));

    std::string damaged = readFile(file);
    damaged[damaged.size() / 2] = static_cast<char>(damaged[damaged.size() / 2] ^ 0x01);
    writeFile(dir_ / "damaged.backup", damaged);
    EXPECT_EQ(restore(dir_ / "damaged.backup", target.path(), {"--no-encrypt"}).status, 1);
    EXPECT_TRUE(isEmptyDirectory(target.path()));

    const Outcome ok = restore(file, target.path(), {"--no-encrypt"});
    ASSERT_EQ(ok.status, 0) << ok.err;
    Environment restoredEnv = env_;
    restoredEnv["RAMPART_DATA_DIR"] = target.path().string();
    const Outcome verified = rampart({"audit", "verify"}, restoredEnv);
    EXPECT_EQ(verified.status, 0) << verified.out << verified.err;
}

TEST_F(BackupTest, PostgresStoreIsSentToItsOwnTools) {
    Environment env = env_;
    env["RAMPART_DATABASE_URL"] = "postgresql://rampart:hunter2-not-printed@127.0.0.1:1/rampart";
    const Outcome r =
        rampart({"admin", "backup", (dir_ / "pg.backup").string(), "--key-file", key().string()}, env);
    EXPECT_EQ(r.status, 2);
    EXPECT_NE(r.err.find("docs/deployment-postgresql.md"), std::string::npos) << r.err;
    EXPECT_EQ((r.out + r.err).find("hunter2"), std::string::npos);
    EXPECT_FALSE(fs::exists(dir_ / "pg.backup"));
}

}  // namespace
}  // namespace rampart::testing
