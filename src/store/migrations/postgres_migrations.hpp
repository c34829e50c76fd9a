// The PostgreSQL schema as numbered migrations, in step with sqlite_migrations.hpp (version N is the
// same tables on both backends), and the grants that let the server run without owning them.
#pragma once

#include <span>
#include <string>
#include <string_view>

namespace rampart::store::postgres {

struct Migration {
    int version;  // 1, 2, 3, ... without gaps; the same numbers and names as sqliteMigrations()
    std::string_view name;
    std::string_view sql;  // fixed DDL; runs inside the transaction that records the migration
};

std::span<const Migration> postgresMigrations();

// CREATE TABLE IF NOT EXISTS schema_migrations (version, name, applied in Unix seconds). Not a
// migration: the store creates it before it can ask which migrations have run.
extern const std::string_view kMigrationsTable;

// The SQLSTATEs the schema's triggers raise (RAISE ... USING ERRCODE), so the store can tell a
// refusal by the schema from a CHECK or UNIQUE failure (class 23) without matching message text.
// "RM" is no class PostgreSQL uses.
inline constexpr std::string_view kJobStateRefused = "RMP01";  // a job's state left the machine
inline constexpr std::string_view kAuditRefused = "RMP02";     // audit_log/audit_head rewrite

// The SQL, run by the schema's owner after migrating, that gives `role` exactly the privileges the
// server needs: data in, data out, no DDL, and no way to rewrite the audit log. Throws
// std::invalid_argument unless `role` matches [a-z_][a-z0-9_]*.
std::string grantDataPrivileges(std::string_view role);

}  // namespace rampart::store::postgres
