// Job rows written from other tables' transactions (a schedule's tick and its job).
#pragma once

#include "store/job_store.hpp"
#include "store/postgres/pg_connection.hpp"

namespace rampart::store::postgres {

// The statement that inserts a new job (queued, or scheduled when runAt > now) with its first history
// row, as submitJob does; it returns the stored row.
pg::Statement insertNewJob(const JobRecord& job, Millis now);

}  // namespace rampart::store::postgres
