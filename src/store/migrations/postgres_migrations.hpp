// PLACEHOLDER until the pg-schema branch lands: the PostgreSQL schema as numbered migrations.
#pragma once

#include <span>
#include <string_view>

namespace rampart::store::postgres {

struct Migration {
    int version;
    std::string_view name;
    std::string_view sql;
};

std::span<const Migration> postgresMigrations();

constexpr std::string_view kMigrationsTable = R"sql(
    CREATE TABLE IF NOT EXISTS schema_migrations (
        version INT PRIMARY KEY,
        name TEXT NOT NULL,
        applied BIGINT NOT NULL
    )
)sql";

}  // namespace rampart::store::postgres
