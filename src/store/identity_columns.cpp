// Token scopes as the one text column both stores keep them in.
#include "store/identity_columns.hpp"

#include <stdexcept>

namespace rampart::store {

std::string joinScopes(const std::vector<std::string>& scopes) {
    std::string joined;
    for (const auto& scope : scopes) {
        if (scope.empty() || scope.find(' ') != std::string::npos) {
            throw std::invalid_argument("a token scope must be non-empty and hold no space");
        }
        if (!joined.empty()) joined += ' ';
        joined += scope;
    }
    return joined;
}

std::vector<std::string> splitScopes(std::string_view joined) {
    std::vector<std::string> scopes;
    while (!joined.empty()) {
        const auto space = joined.find(' ');
        if (space != 0) scopes.emplace_back(joined.substr(0, space));
        if (space == std::string_view::npos) break;
        joined.remove_prefix(space + 1);
    }
    return scopes;
}

}  // namespace rampart::store
