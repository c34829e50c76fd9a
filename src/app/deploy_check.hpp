// `rampart check --deploy`: the security self-audit of a configuration, one finding per problem.
#pragma once

#include <string>
#include <vector>

#include "app/config.hpp"

namespace rampart {

enum class Severity { info, warning, critical };

struct Finding {
    std::string id;  // stable, e.g. "secret_key.weak"
    Severity severity;
    std::string problem;  // what is wrong (never a secret value)
    std::string fix;      // how to fix it
};

std::vector<Finding> runDeployChecks(const Config& config);

// One line per finding: "CRITICAL secret_key.missing: <problem> Fix: <fix>".
std::string formatFinding(const Finding& finding);

[[nodiscard]] bool hasCritical(const std::vector<Finding>& findings);

}  // namespace rampart
