// PostgresStore audit calls: STUBS until built.
#include "store/postgres/postgres_store.hpp"

namespace rampart::store {

boost::asio::awaitable<void> PostgresStore::appendAudit(obs::AuditEvent event) {
    throw StoreUnavailable("PostgresStore::appendAudit is not built yet");
    co_return;
}

boost::asio::awaitable<std::vector<obs::AuditRecord>> PostgresStore::listAudit(AuditQuery query) {
    throw StoreUnavailable("PostgresStore::listAudit is not built yet");
    co_return std::vector<obs::AuditRecord>{};
}

AuditVerification PostgresStore::verifyAudit() {
    throw StoreUnavailable("PostgresStore::verifyAudit is not built yet");
}

}  // namespace rampart::store
