// Job rows written from other tables' code inside the same writer job (a schedule's tick and its job).
#pragma once

#include "store/job_store.hpp"
#include "store/sqlite/connection.hpp"

namespace rampart::store::sqlite {

// Inserts a new job (queued, or scheduled when runAt > now) with its first history row, as submitJob
// does without an idempotency key. Returns the job as stored.
JobRecord insertNewJob(Connection& db, JobRecord job, Millis now);

}  // namespace rampart::store::sqlite
