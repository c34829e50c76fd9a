// Where services write audit events: the narrow part of the Store they need for it, so a service that
// audits does not take the whole Store (and a test can hand it a recorder).
#pragma once

#include <string_view>

#include <boost/asio/awaitable.hpp>

#include "obs/audit.hpp"

namespace rampart::store {

class AuditSink {
  public:
    virtual ~AuditSink() = default;
    // OpenTelemetry's db.system of the database underneath: "sqlite" or "postgresql".
    [[nodiscard]] virtual std::string_view databaseSystem() const = 0;
    // Appends one event to the audit log in one transaction: the row's hash chains it to the row
    // before, and the log's head (last id, hash, row count) moves with it. Throws StoreUnavailable.
    virtual boost::asio::awaitable<void> appendAudit(obs::AuditEvent event) = 0;
};

}  // namespace rampart::store
