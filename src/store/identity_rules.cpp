// The identity rules both stores share (see identity_rules.hpp).
#include "store/identity_rules.hpp"

#include "store/identity_columns.hpp"

namespace rampart::store {

RefreshOutcome refreshOutcomeOf(std::int64_t expiresUnix, bool spent, bool familyRevoked, Seconds now) {
    if (expiresUnix <= unixOf(now)) return RefreshOutcome::unknown;
    if (familyRevoked) return RefreshOutcome::revoked;
    if (spent) return RefreshOutcome::reused;
    return RefreshOutcome::rotated;
}

}  // namespace rampart::store
