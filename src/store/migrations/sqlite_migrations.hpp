// The SQLite schema as numbered migrations, oldest first. A released migration is never edited:
// a change to the schema is a new entry at the end.
#pragma once

#include <span>
#include <string_view>

namespace rampart::store::sqlite {

struct Migration {
    int version;  // 1, 2, 3, ... without gaps
    std::string_view name;
    std::string_view sql;  // fixed DDL; runs inside the transaction that records the migration
};

std::span<const Migration> sqliteMigrations();

}  // namespace rampart::store::sqlite
