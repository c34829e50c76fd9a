// The secret key tests give stores and the audit commands, and the audit chain key derived from it.
#pragma once

#include <memory>
#include <string_view>

#include "core/secret_string.hpp"
#include "obs/audit_keys.hpp"

namespace rampart::testing {

inline constexpr std::string_view kAuditTestSecretKey = "audit-test-secret-key-0123456789abcdef0123456789";

inline std::shared_ptr<const obs::AuditChainKey> testAuditKey() {
    static const auto key = obs::AuditChainKey::derive(SecretString(std::string(kAuditTestSecretKey)));
    return key;
}

}  // namespace rampart::testing
