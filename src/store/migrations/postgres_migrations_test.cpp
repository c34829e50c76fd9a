// The PostgreSQL migrations without a server: in step with SQLite's, the same job state edges as the
// machine, every table granted, and role names checked before they reach SQL.
#include "store/migrations/postgres_migrations.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>

#include "core/job_state.hpp"
#include "store/migrations/sqlite_migrations.hpp"

namespace rampart::store::postgres {
namespace {

// Either backend's migration `version`; its SQL, or empty.
template <typename AnyMigration>
std::string_view sqlOf(std::span<const AnyMigration> migrations, int version) {
    for (const AnyMigration& m : migrations)
        if (m.version == version) return m.sql;
    return {};
}

std::set<std::string> matches(std::string_view text, const std::regex& pattern) {
    std::set<std::string> found;
    const std::string s(text);
    for (auto it = std::sregex_iterator(s.begin(), s.end(), pattern); it != std::sregex_iterator(); ++it)
        found.insert((*it)[1].str());
    return found;
}

// The 'from>to' literals of a state trigger.
std::set<std::string> edgesIn(std::string_view sql) {
    return matches(sql, std::regex("'([a-z]+>[a-z]+)'"));
}

// docs/deployment-postgresql.md, looked for next to this source file and above the working directory
// and the test binary (ccache may make __FILE__ relative to the build directory), like config_test.cpp.
std::string deploymentDoc() {
    std::vector<std::filesystem::path> candidates = {std::filesystem::path(__FILE__).parent_path() /
                                                     "../../../docs"};
    std::error_code ec;
    for (auto start :
         {std::filesystem::current_path(), std::filesystem::read_symlink("/proc/self/exe", ec)}) {
        for (auto dir = start; !dir.empty() && dir != dir.parent_path(); dir = dir.parent_path())
            candidates.push_back(dir / "docs");
    }
    for (const auto& docs : candidates) {
        if (std::filesystem::exists(docs / "deployment-postgresql.md", ec) &&
            std::filesystem::exists(docs / "../src/store/migrations/postgres_migrations.hpp", ec)) {
            std::ifstream in(docs / "deployment-postgresql.md");
            std::ostringstream text;
            text << in.rdbuf();
            return text.str();
        }
    }
    return {};
}

TEST(PostgresMigrations, VersionsRunFromOneWithoutGaps) {
    const auto migrations = postgresMigrations();
    ASSERT_FALSE(migrations.empty());
    for (std::size_t i = 0; i < migrations.size(); ++i) {
        EXPECT_EQ(migrations[i].version, static_cast<int>(i) + 1);
        EXPECT_FALSE(migrations[i].name.empty());
        EXPECT_FALSE(migrations[i].sql.empty());
    }
}

TEST(PostgresMigrations, StayInStepWithTheSqliteMigrations) {
    const auto postgres = postgresMigrations();
    const auto sqlite = sqlite::sqliteMigrations();
    ASSERT_EQ(postgres.size(), sqlite.size()) << "a migration was added to one backend only";
    for (std::size_t i = 0; i < postgres.size(); ++i) {
        EXPECT_EQ(postgres[i].version, sqlite[i].version);
        EXPECT_EQ(postgres[i].name, sqlite[i].name) << "version " << postgres[i].version;
    }
}

// A table SQLite rebuilds (created as x_rebuilt, renamed to x) is not a new table.
TEST(PostgresMigrations, CreateTheSameTablesAsSqlite) {
    const std::regex createTable("CREATE TABLE ([a-z_]+)");
    for (const Migration& m : postgresMigrations()) {
        std::set<std::string> sqliteTables =
            matches(sqlOf(sqlite::sqliteMigrations(), m.version), createTable);
        std::erase_if(sqliteTables, [](const std::string& name) { return name.ends_with("_rebuilt"); });
        EXPECT_EQ(matches(m.sql, createTable), sqliteTables) << "version " << m.version;
    }
}

TEST(PostgresMigrations, TheStateTriggerHasExactlyTheMachinesEdges) {
    std::set<std::string> machine;
    for (const auto& [from, to] : jobs::allowedTransitions()) {
        // running -> running (a cancel request) changes no state; the trigger does not fire for it.
        if (from != to)
            machine.insert(std::string(jobs::stateName(from)) + ">" + std::string(jobs::stateName(to)));
    }
    EXPECT_EQ(machine.size(), 12u);
    // The function as migration 16 (the retry's edge) last wrote it. SQLite's trigger, written as
    // equalities since migration 13, is checked against a database by sqlite_jobs_schema_test.cpp, and
    // both databases' by the stores' own tests (pg_jobs_pgtest.cpp moves a job along every pair).
    EXPECT_EQ(edgesIn(sqlOf(postgresMigrations(), 16)), machine);
}

TEST(PostgresMigrations, TriggersRaiseSqlitesMessagesWithOurSqlstates) {
    const std::string_view audit = sqlOf(postgresMigrations(), 2);
    const std::string_view jobsSql = sqlOf(postgresMigrations(), 4);
    for (std::string_view message : {"'audit_log is append-only'", "'audit_head has exactly one row'"}) {
        EXPECT_NE(audit.find(message), std::string_view::npos) << message;
        EXPECT_NE(sqlOf(sqlite::sqliteMigrations(), 2).find(message), std::string_view::npos) << message;
    }
    for (std::string_view message :
         {"'a job starts scheduled or queued'", "'illegal job state transition'"}) {
        EXPECT_NE(jobsSql.find(message), std::string_view::npos) << message;
        EXPECT_NE(sqlOf(sqlite::sqliteMigrations(), 4).find(message), std::string_view::npos) << message;
    }
    EXPECT_NE(audit.find("ERRCODE = '" + std::string(kAuditRefused) + "'"), std::string_view::npos);
    EXPECT_NE(jobsSql.find("ERRCODE = '" + std::string(kJobStateRefused) + "'"), std::string_view::npos);
    EXPECT_NE(audit.find("BEFORE TRUNCATE ON audit_log"), std::string_view::npos);
}

TEST(PostgresMigrations, AuditIdsDoNotComeFromASequence) {
    // A rolled-back append would leave a gap, which verifyAudit() reports as removed rows.
    const std::string_view audit = sqlOf(postgresMigrations(), 2);
    EXPECT_EQ(audit.find("IDENTITY"), std::string_view::npos);
    EXPECT_EQ(audit.find("SERIAL"), std::string_view::npos);
}

TEST(PostgresMigrations, TheMigrationsTableIsCreatedOnlyIfMissing) {
    EXPECT_NE(kMigrationsTable.find("CREATE TABLE IF NOT EXISTS schema_migrations"), std::string_view::npos);
}

TEST(PostgresMigrations, GrantsRefuseRoleNamesThatAreNotPlain) {
    for (std::string_view bad : {"x; DROP", "Robert\"", "", "Rampart_app", "RAMPART", "1app", "app-role",
                                 "app role", "app\"; DROP TABLE jobs; --", "caf\xc3\xa9"}) {
        EXPECT_THROW(grantDataPrivileges(bad), std::invalid_argument) << bad;
    }
    EXPECT_THROW(grantDataPrivileges(std::string(64, 'a')), std::invalid_argument);  // would be truncated
    EXPECT_NO_THROW(grantDataPrivileges(std::string(63, 'a')));
}

TEST(PostgresMigrations, GrantsQuoteTheRole) {
    for (std::string_view good : {"rampart_app", "_app", "app2"}) {
        const std::string sql = grantDataPrivileges(good);
        const std::string quoted = "\"" + std::string(good) + "\"";
        EXPECT_NE(sql.find("TO " + quoted + ";"), std::string::npos) << sql;
        // Every mention of the role is the quoted one.
        std::size_t mentions = 0, quotedMentions = 0;
        for (auto at = sql.find(good); at != std::string::npos; at = sql.find(good, at + 1)) {
            ++mentions;
            if (at > 0 && sql[at - 1] == '"' && sql.compare(at + good.size(), 1, "\"") == 0) ++quotedMentions;
        }
        EXPECT_GT(mentions, 0u);
        EXPECT_EQ(mentions, quotedMentions) << sql;
    }
}

TEST(PostgresMigrations, GrantsNameEveryTableAndNoMoreThanData) {
    const std::string sql = grantDataPrivileges("rampart_app");
    std::set<std::string> tables = {"schema_migrations"};
    for (const Migration& m : postgresMigrations())
        tables.merge(matches(m.sql, std::regex("CREATE TABLE ([a-z_]+)")));
    std::set<std::string> granted;
    std::set<std::string> revoked;
    const std::regex grant("GRANT ([A-Z, ]+(?:\\([a-z_, ]+\\))?) ON ([a-z_, ]+) TO");
    const std::regex revoke("REVOKE ALL ON ([a-z_, ]+) FROM");
    const std::regex name("([a-z_]+)");
    for (auto it = std::sregex_iterator(sql.begin(), sql.end(), grant); it != std::sregex_iterator(); ++it) {
        const std::string privileges = (*it)[1].str();
        const std::set<std::string> on = matches((*it)[2].str(), name);
        for (std::string_view never : {"TRUNCATE", "REFERENCES", "TRIGGER", "ALL"})
            EXPECT_EQ(privileges.find(never), std::string::npos) << privileges;
        if (on.contains("audit_log")) {
            EXPECT_EQ(privileges, "SELECT, INSERT");
        }
        if (on.contains("audit_head")) {
            // Not keyed_from: the app role may not move where the keyed audit chain starts.
            EXPECT_EQ(privileges, "SELECT, UPDATE (id, hash, rows)");
        }
        if (on.contains("schema_migrations")) {
            EXPECT_EQ(privileges, "SELECT");
        }
        granted.merge(std::set(on));
    }
    for (auto it = std::sregex_iterator(sql.begin(), sql.end(), revoke); it != std::sregex_iterator(); ++it)
        revoked.merge(matches((*it)[1].str(), name));
    EXPECT_EQ(granted, tables) << "a table without a grant, or a grant on a table no migration creates";
    EXPECT_EQ(revoked, tables);
    EXPECT_NE(sql.find("GRANT USAGE ON SCHEMA"), std::string::npos);
    EXPECT_EQ(sql.find("GRANT CREATE"), std::string::npos);
}

TEST(PostgresMigrations, TheDeploymentDocQuotesTheGrantsExactly) {
    const std::string doc = deploymentDoc();
    ASSERT_FALSE(doc.empty()) << "docs/deployment-postgresql.md not found";
    const std::string sql = grantDataPrivileges("rampart_app");
    EXPECT_NE(doc.find("```sql\n" + sql + "```\n"), std::string::npos) << "the doc should quote:\n" << sql;
}

}  // namespace
}  // namespace rampart::store::postgres
