// Job rows written from other tables' code inside the same writer job (a schedule's tick and its job),
// and the listing's statement (its plan is tested).
#pragma once

#include "store/job_store.hpp"
#include "store/sqlite/connection.hpp"

namespace rampart::store::sqlite {

// Inserts a new job (queued, or scheduled when runAt > now) with its first history row, as submitJob
// does without an idempotency key. Returns the job as stored.
JobRecord insertNewJob(Connection& db, JobRecord job, Millis now);

// The statement SqliteStore::listJobs runs for `query`: the filters' values are bound as ?1 (before),
// ?2 (owner), ?4 (queue), ?5 (task), ?6 and ?7 (created since, until), the limit as ?8.
std::string jobListingSql(const JobQuery& query);

}  // namespace rampart::store::sqlite
