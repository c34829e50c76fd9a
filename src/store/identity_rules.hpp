// The identity rules both stores apply inside one transaction, written once so that SQLite and
// PostgreSQL decide alike: what presenting a refresh token does.
#pragma once

#include <cstdint>

#include "store/identity_store.hpp"

namespace rampart::store {

// What rotating a presented refresh token does, from its row and its family's (read locked): an expired
// token proves nothing, spent or not (unknown); a revoked family stays revoked; a spent token that comes
// back means someone holds a copy (reused: the caller revokes the family); else the token is live and
// rotates (the caller spends it and stores the next one).
[[nodiscard]] RefreshOutcome refreshOutcomeOf(std::int64_t expiresUnix, bool spent, bool familyRevoked,
                                              Seconds now);

}  // namespace rampart::store
