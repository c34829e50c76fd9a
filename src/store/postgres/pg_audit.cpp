// PostgresStore's audit log: chained appends numbered under audit_head's row lock, filtered pages by
// id cursor, and the chain walk over one snapshot. The chain itself is store/audit_log.hpp's, shared
// with SQLite, so both backends hash and verify the same bytes.
#include <string>
#include <string_view>

#include <fmt/format.h>

#include "store/audit_log.hpp"
#include "store/postgres/postgres_store.hpp"

namespace rampart::store {
namespace {

namespace asio = boost::asio;

// Rows the verifier reads per round trip: bounded memory however long the log is.
constexpr std::int64_t kVerifyPage = 1000;

obs::AuditFields fieldsOf(const pg::Result& result, int row) {
    return auditFieldsOfRow(pg::Row(result, row));
}

const std::string kVerifyRows = fmt::format(
    "SELECT {}, prev_hash, hash FROM audit_log WHERE id > $1 ORDER BY id LIMIT $2", kAuditColumns);

}  // namespace

asio::awaitable<void> PostgresStore::appendAudit(obs::AuditEvent event) {
    // The head's row lock serialises appends from every process: the id is the head's plus one (no
    // sequence, so a rolled-back append leaves no gap) and the row chains to the head's hash.
    // The row's hash is keyed (HMAC, obs/audit_keys.hpp): the key is in this process, never in the
    // database, so a role that may insert rows cannot make one that verifies.
    return inTransaction(
        [key = auditKey(), event = std::move(event)](pg::Connection& db) -> asio::awaitable<void> {
            const obs::AuditChainKey& chainKey = requireAuditKey(key);
            const obs::AuditFields fields = obs::auditFields(event);
            const auto head = co_await db.query("SELECT id, hash FROM audit_head FOR UPDATE");
            if (head.rows() != 1) throw StoreUnavailable("audit log head is missing or duplicated");
            const std::int64_t id = head.int64(0, 0) + 1;
            const std::vector<unsigned char> previous = head.bytes(0, 1);
            const obs::AuditHash hash = chainKey.rowHash(previous, obs::canonicalAuditContent(fields));

            pg::Params row(id, fields.time, fields.action, fields.actor, fields.client, fields.requestId,
                           fields.target, fields.outcome, fields.details);
            row.addBytes(previous).addBytes(hash);
            pg::Params moved(id);
            moved.addBytes(hash);
            std::vector<pg::Statement> statements;
            statements.push_back(pg::Statement{
                .sql = "INSERT INTO audit_log (id, time, action, actor, client, request_id, target, outcome, "
                       "details, prev_hash, hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
                .params = std::move(row),
            });
            statements.push_back(pg::Statement{
                .sql = "UPDATE audit_head SET id = $1, hash = $2, rows = rows + 1",
                .params = std::move(moved),
            });
            co_await db.pipeline(std::move(statements));
        });
}

asio::awaitable<std::vector<obs::AuditRecord>> PostgresStore::listAudit(AuditQuery query) {
    return withConnection(
        [query = std::move(query)](pg::Connection& db) -> asio::awaitable<std::vector<obs::AuditRecord>> {
            // Checked here so that a bad query fails when awaited, like every other error.
            checkAuditQuery(query);
            // Only fixed fragments go into the text; every value is bound, numbered in the order it is
            // added, since PostgreSQL cannot type a parameter the statement never uses. time compares
            // bytes (the column is COLLATE "C"), and the fixed-width text sorts like the time.
            pg::Params params(query.afterId);
            std::string sql = fmt::format("SELECT {} FROM audit_log WHERE id > $1", kAuditColumns);
            auto filter = [&sql, &params](std::string_view condition, const std::string& value) {
                params.add(value);
                sql += fmt::format(" AND {} ${}", condition, params.size());
            };
            if (query.action) filter("action =", *query.action);
            if (query.actor) filter("actor =", *query.actor);
            if (query.outcome) filter("outcome =", *query.outcome);
            if (query.since) filter("time >=", obs::formatAuditTime(*query.since));
            if (query.until) filter("time <", obs::formatAuditTime(*query.until));
            params.add(query.limit);
            sql += fmt::format(" ORDER BY id LIMIT ${}", params.size());

            const auto page = co_await db.query(std::move(sql), std::move(params));
            std::vector<obs::AuditRecord> records;
            records.reserve(page.rows());
            for (int row = 0; row < page.rows(); ++row) {
                const std::int64_t id = page.int64(row, 0);
                records.push_back(obs::AuditRecord{.id = id, .event = auditEventOf(fieldsOf(page, row), id)});
            }
            co_return records;
        });
}

AuditVerification PostgresStore::verifyAudit(const std::vector<std::int64_t>& hashesAt) {
    const obs::AuditChainKey& key = requireAuditKey(auditKey());
    return blocking([&key, &hashesAt](pg::BlockingConnection& db) {
        // One snapshot for the head and every page of rows, so appends running meanwhile are either
        // wholly seen or not at all. The transaction ends when the connection closes after the call.
        db.execScript("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
        const auto head = db.exec("SELECT id, rows, hash, keyed_from FROM audit_head");
        AuditChainWalk walk(key, head.rows() == 1 ? head.int64(0, 3) : 1, hashesAt);
        for (;;) {
            const auto page = db.exec(kVerifyRows, pg::Params(walk.lastId(), kVerifyPage));
            for (int row = 0; row < page.rows(); ++row) {
                const auto previous = page.bytes(row, 9);
                const auto hash = page.bytes(row, 10);
                if (auto broken = walk.next(page.int64(row, 0), fieldsOf(page, row), previous, hash)) {
                    return std::move(*broken);
                }
            }
            if (page.rows() < kVerifyPage) break;
        }
        if (head.rows() != 1) return walk.finish(head.rows(), 0, 0, {});
        const auto headHash = head.bytes(0, 2);
        return walk.finish(1, head.int64(0, 0), head.int64(0, 1), headHash);
    });
}

}  // namespace rampart::store
