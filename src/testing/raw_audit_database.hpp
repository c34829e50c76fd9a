// An attacker's view of a SQLite audit log: a plain sqlite3 handle on the file, no store, no key. For
// the tests that tamper with the log (store/sqlite/sqlite_audit_test.cpp, app/audit_checkpoints_test.cpp).
#pragma once

#include <sqlite3.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "obs/audit.hpp"

namespace rampart::testing {

// The attacker's view: a plain sqlite3 handle on the file, no store, no authorizer.
class RawDatabase {
  public:
    explicit RawDatabase(const std::filesystem::path& path) {
        if (sqlite3_open(path.c_str(), &db_) != SQLITE_OK) throw std::runtime_error("open failed");
    }
    RawDatabase(const RawDatabase&) = delete;
    RawDatabase& operator=(const RawDatabase&) = delete;
    ~RawDatabase() { sqlite3_close(db_); }

    void exec(const std::string& sql) {
        char* error = nullptr;
        if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &error) != SQLITE_OK) {
            const std::string message = error ? error : "unknown";
            sqlite3_free(error);
            throw std::runtime_error(message);
        }
    }

    void dropTriggers() { exec("DROP TRIGGER audit_log_no_update; DROP TRIGGER audit_log_no_delete;"); }

    // Changes row id's actor and stores the hash recomputed over the changed row, as a careful
    // forger would; the next row's prev_hash is left alone.
    void forgeActor(std::int64_t id, const std::string& actor) {
        sqlite3_stmt* select = nullptr;
        sqlite3_prepare_v2(db_,
                           "SELECT time, action, actor, client, request_id, target, outcome, details, "
                           "prev_hash FROM audit_log WHERE id = ?1",
                           -1, &select, nullptr);
        sqlite3_bind_int64(select, 1, id);
        ASSERT_EQ(sqlite3_step(select), SQLITE_ROW);
        auto text = [select](int column) {
            return std::string(reinterpret_cast<const char*>(sqlite3_column_text(select, column)));
        };
        obs::AuditFields fields{text(0), text(1), actor, text(3), text(4), text(5), text(6), text(7)};
        const auto* previous = static_cast<const std::uint8_t*>(sqlite3_column_blob(select, 8));
        const std::vector<std::uint8_t> previousHash(previous, previous + sqlite3_column_bytes(select, 8));
        sqlite3_finalize(select);
        const obs::AuditHash hash = obs::auditRowHash(previousHash, obs::canonicalAuditContent(fields));

        sqlite3_stmt* update = nullptr;
        sqlite3_prepare_v2(db_, "UPDATE audit_log SET actor = ?1, hash = ?2 WHERE id = ?3", -1, &update,
                           nullptr);
        sqlite3_bind_text(update, 1, actor.c_str(), -1, SQLITE_TRANSIENT);
        sqlite3_bind_blob(update, 2, hash.data(), static_cast<int>(hash.size()), SQLITE_TRANSIENT);
        sqlite3_bind_int64(update, 3, id);
        EXPECT_EQ(sqlite3_step(update), SQLITE_DONE);
        sqlite3_finalize(update);
    }

    // What the attacker can compute without the key: the plain SHA-256 chain of old. Appends a row
    // chained to the current last one and moves the head (and sqlite_sequence) along, like the store.
    void appendPlain(const std::string& actor) {
        const std::vector<std::uint8_t> previous = lastHash();
        const obs::AuditFields fields{
            "2026-01-01T00:00:00.000000Z", "auth.login", actor, "", "", "", "success", "{}"};
        const obs::AuditHash hash = obs::auditRowHash(previous, obs::canonicalAuditContent(fields));
        sqlite3_stmt* insert = nullptr;
        sqlite3_prepare_v2(db_,
                           "INSERT INTO audit_log (time, action, actor, client, request_id, target, outcome, "
                           "details, prev_hash, hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                           -1, &insert, nullptr);
        const std::string texts[] = {fields.time,      fields.action, fields.actor,   fields.client,
                                     fields.requestId, fields.target, fields.outcome, fields.details};
        for (int i = 0; i < 8; ++i) sqlite3_bind_text(insert, i + 1, texts[i].c_str(), -1, SQLITE_TRANSIENT);
        sqlite3_bind_blob(insert, 9, previous.data(), static_cast<int>(previous.size()), SQLITE_TRANSIENT);
        sqlite3_bind_blob(insert, 10, hash.data(), static_cast<int>(hash.size()), SQLITE_TRANSIENT);
        EXPECT_EQ(sqlite3_step(insert), SQLITE_DONE);
        sqlite3_finalize(insert);
        setHead(sqlite3_last_insert_rowid(db_), hash);
    }

    // Recomputes, with plain SHA-256, every row's link and hash from `from` on, then the head: a rewrite
    // that leaves the chain whole for anyone who cannot check the key.
    void rechainPlainFrom(std::int64_t from) {
        std::vector<std::uint8_t> previous(32, 0);
        if (from > 1) previous = hashOf(from - 1);
        std::int64_t last = from - 1;
        for (std::int64_t id = from; hasRow(id); ++id) {
            sqlite3_stmt* select = nullptr;
            sqlite3_prepare_v2(
                db_,
                "SELECT time, action, actor, client, request_id, target, outcome, details FROM "
                "audit_log WHERE id = ?1",
                -1, &select, nullptr);
            sqlite3_bind_int64(select, 1, id);
            EXPECT_EQ(sqlite3_step(select), SQLITE_ROW);
            auto text = [select](int column) {
                return std::string(reinterpret_cast<const char*>(sqlite3_column_text(select, column)));
            };
            const obs::AuditFields fields{text(0), text(1), text(2), text(3),
                                          text(4), text(5), text(6), text(7)};
            sqlite3_finalize(select);
            const obs::AuditHash hash = obs::auditRowHash(previous, obs::canonicalAuditContent(fields));
            sqlite3_stmt* update = nullptr;
            sqlite3_prepare_v2(db_, "UPDATE audit_log SET prev_hash = ?1, hash = ?2 WHERE id = ?3", -1,
                               &update, nullptr);
            sqlite3_bind_blob(update, 1, previous.data(), static_cast<int>(previous.size()),
                              SQLITE_TRANSIENT);
            sqlite3_bind_blob(update, 2, hash.data(), static_cast<int>(hash.size()), SQLITE_TRANSIENT);
            sqlite3_bind_int64(update, 3, id);
            EXPECT_EQ(sqlite3_step(update), SQLITE_DONE);
            sqlite3_finalize(update);
            previous.assign(hash.begin(), hash.end());
            last = id;
        }
        obs::AuditHash head{};
        std::copy(previous.begin(), previous.end(), head.begin());
        setHead(last, head);
    }

    std::vector<std::uint8_t> hashOf(std::int64_t id) {
        sqlite3_stmt* select = nullptr;
        sqlite3_prepare_v2(db_, "SELECT hash FROM audit_log WHERE id = ?1", -1, &select, nullptr);
        sqlite3_bind_int64(select, 1, id);
        std::vector<std::uint8_t> hash;
        if (sqlite3_step(select) == SQLITE_ROW) {
            const auto* bytes = static_cast<const std::uint8_t*>(sqlite3_column_blob(select, 0));
            hash.assign(bytes, bytes + sqlite3_column_bytes(select, 0));
        }
        sqlite3_finalize(select);
        return hash;
    }

    // Points the head (and sqlite_sequence) at row `id` with `hash`, its row count `id`: what an
    // attacker who removed the rows after `id` writes so that the head agrees.
    void setHead(std::int64_t id, std::span<const std::uint8_t> hash) {
        sqlite3_stmt* update = nullptr;
        sqlite3_prepare_v2(db_, "UPDATE audit_head SET id = ?1, hash = ?2, rows = ?1", -1, &update, nullptr);
        sqlite3_bind_int64(update, 1, id);
        sqlite3_bind_blob(update, 2, hash.data(), static_cast<int>(hash.size()), SQLITE_TRANSIENT);
        EXPECT_EQ(sqlite3_step(update), SQLITE_DONE);
        sqlite3_finalize(update);
        exec("UPDATE sqlite_sequence SET seq = " + std::to_string(id) + " WHERE name = 'audit_log'");
    }

  private:
    bool hasRow(std::int64_t id) { return !hashOf(id).empty(); }

    std::vector<std::uint8_t> lastHash() {
        sqlite3_stmt* select = nullptr;
        sqlite3_prepare_v2(db_, "SELECT hash FROM audit_head", -1, &select, nullptr);
        EXPECT_EQ(sqlite3_step(select), SQLITE_ROW);
        const auto* bytes = static_cast<const std::uint8_t*>(sqlite3_column_blob(select, 0));
        std::vector<std::uint8_t> hash(bytes, bytes + sqlite3_column_bytes(select, 0));
        sqlite3_finalize(select);
        return hash;
    }

    sqlite3* db_ = nullptr;
};

}  // namespace rampart::testing
