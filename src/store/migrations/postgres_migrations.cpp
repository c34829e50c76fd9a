// PLACEHOLDER until the pg-schema branch lands.
#include "store/migrations/postgres_migrations.hpp"

#include <array>

namespace rampart::store::postgres {
namespace {
constexpr std::array kMigrations{
    Migration{1, "instance", "CREATE TABLE instance_settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);"},
};
}  // namespace

std::span<const Migration> postgresMigrations() {
    return kMigrations;
}

}  // namespace rampart::store::postgres
