// The job columns both stores select, and how a selected row becomes a JobRecord or a JobEventRecord:
// one list and one mapping for SQLite and PostgreSQL. Each backend reads its rows through a small `Row`
// (sqlite::Columns, pg::Row) with text, int64, optionalText, optionalInt64 and flag by column index.
#pragma once

#include <string_view>

#include "core/job_state.hpp"
#include "store/job_store.hpp"
#include "store/store_errors.hpp"

namespace rampart::store {

// Every column of a job, in jobOfRow's order. Each backend appends its listing cursor (SQLite's rowid,
// PostgreSQL's seq), which is then column kJobCursorColumn.
inline constexpr std::string_view kJobColumns =
    "id, task, args, queue, priority, state, attempts, max_attempts, run_at, timeout_ms, owner_id, "
    "idempotency_key, request_hash, progress, progress_message, result, error, cancel_requested, "
    "lease_holder, lease_expires, created, updated, finished, trace_parent";
inline constexpr int kJobCursorColumn = 24;

// The columns a new job is inserted with; created and updated both take the submit time.
inline constexpr std::string_view kNewJobColumns =
    "id, task, args, queue, priority, state, max_attempts, run_at, timeout_ms, owner_id, idempotency_key, "
    "request_hash, created, updated, trace_parent";

// A job's history, in jobEventOfRow's order.
inline constexpr std::string_view kJobEventColumns = "time, from_state, to_state, detail";

// A stored state name. The tables' CHECK constraints admit only known names, so anything else means
// the database was changed by hand: StoreUnavailable.
inline jobs::JobState jobStateOf(std::string_view text) {
    auto state = jobs::parseState(text);
    if (!state) throw StoreUnavailable("a job has an unknown state");
    return *state;
}

template <class Row>
JobRecord jobOfRow(const Row& row) {
    return JobRecord{
        .id = row.text(0),
        .task = row.text(1),
        .args = row.text(2),
        .queue = row.text(3),
        .priority = static_cast<int>(row.int64(4)),
        .state = jobStateOf(row.text(5)),
        .attempts = static_cast<int>(row.int64(6)),
        .maxAttempts = static_cast<int>(row.int64(7)),
        .runAt = row.int64(8),
        .timeoutMs = row.int64(9),
        .ownerId = row.text(10),
        .idempotencyKey = row.optionalText(11),
        .requestHash = row.optionalText(12),
        .progress = static_cast<int>(row.int64(13)),
        .progressMessage = row.text(14),
        .result = row.optionalText(15),
        .error = row.optionalText(16),
        .cancelRequested = row.flag(17),
        .leaseHolder = row.optionalText(18),
        .leaseExpires = row.optionalInt64(19),
        .created = row.int64(20),
        .updated = row.int64(21),
        .finished = row.optionalInt64(22),
        .traceParent = row.optionalText(23),
    };
}

template <class Row>
JobEventRecord jobEventOfRow(const Row& row) {
    const auto from = row.optionalText(1);
    return JobEventRecord{.time = row.int64(0),
                          .from = from ? std::optional(jobStateOf(*from)) : std::nullopt,
                          .to = jobStateOf(row.text(2)),
                          .detail = row.text(3)};
}

}  // namespace rampart::store
