// SQLite migrations. Users, jobs and the other tables arrive with the features that need them.
#include "store/migrations/sqlite_migrations.hpp"

#include <array>

namespace rampart::store::sqlite {
namespace {

constexpr std::array kMigrations{
    Migration{1, "instance", R"sql(
        CREATE TABLE instance_settings (
            key TEXT PRIMARY KEY,
            value TEXT NOT NULL
        );
    )sql"},
};

}  // namespace

std::span<const Migration> sqliteMigrations() {
    return kMigrations;
}

}  // namespace rampart::store::sqlite
