// openStore: picks the Store implementation from the database URL's scheme.
#include "store/store.hpp"

#include <algorithm>
#include <cctype>
#include <stdexcept>
#include <string_view>

#include "store/postgres/postgres_store.hpp"
#include "store/sqlite/sqlite_store.hpp"

namespace rampart::store {
namespace {

// The scheme, lower-cased (schemes are case-insensitive); empty when the URL has none.
std::string schemeOf(std::string_view url) {
    const auto end = url.find("://");
    if (end == std::string_view::npos) return {};
    std::string scheme(url.substr(0, end));
    std::transform(scheme.begin(), scheme.end(), scheme.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return scheme;
}

}  // namespace

std::optional<std::filesystem::path> sqliteDatabasePath(const SecretString& databaseUrl) {
    const std::string_view url = databaseUrl.reveal();
    const std::string scheme = schemeOf(url);
    if (scheme != "sqlite") return std::nullopt;
    // Everything after "sqlite://" is a file path: sqlite://./var/rampart.db is relative,
    // sqlite:///srv/rampart.db absolute.
    const std::string_view path = url.substr(scheme.size() + 3);
    if (path.empty() || path == ":memory:") {
        // Each store connection would get its own private in-memory database.
        throw std::invalid_argument("sqlite database URL needs a file path");
    }
    return std::filesystem::path(path);
}

// Error messages never quote the URL: a PostgreSQL URL may carry a password.
std::unique_ptr<Store> openStore(const SecretString& databaseUrl, StoreOptions options) {
    if (auto path = sqliteDatabasePath(databaseUrl)) {
        auto store = std::make_unique<SqliteStore>(*path);
        store->setAuditKey(std::move(options.auditKey));
        return store;
    }
    const std::string scheme = schemeOf(databaseUrl.reveal());
    if (scheme == "postgresql" || scheme == "postgres") {
        auto store =
            std::make_unique<PostgresStore>(databaseUrl, PostgresStore::Options{.size = options.poolSize});
        store->setAuditKey(std::move(options.auditKey));
        return store;
    }
    throw std::invalid_argument("unsupported database URL scheme");
}

}  // namespace rampart::store
