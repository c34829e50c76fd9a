// Canonical JSON: keys sorted by bytes at every depth, no whitespace, scalars as Boost.JSON writes them.
#include "core/canonical_json.hpp"

#include <algorithm>
#include <vector>

#include <boost/json/serialize.hpp>

namespace rampart {
namespace {

void appendCanonical(std::string& out, const boost::json::value& value) {
    if (value.is_object()) {
        const auto& object = value.get_object();
        std::vector<const boost::json::key_value_pair*> members;
        members.reserve(object.size());
        for (const auto& member : object) members.push_back(&member);
        // Sorting by bytes, not by locale, so every platform and language agrees on the order.
        std::sort(members.begin(), members.end(),
                  [](const auto* a, const auto* b) { return a->key() < b->key(); });
        out += '{';
        for (std::size_t i = 0; i < members.size(); ++i) {
            if (i > 0) out += ',';
            out += boost::json::serialize(boost::json::value(members[i]->key()));
            out += ':';
            appendCanonical(out, members[i]->value());
        }
        out += '}';
    } else if (value.is_array()) {
        out += '[';
        bool first = true;
        for (const auto& element : value.get_array()) {
            if (!first) out += ',';
            first = false;
            appendCanonical(out, element);
        }
        out += ']';
    } else {
        out += boost::json::serialize(value);
    }
}

}  // namespace

std::string canonicalJson(const boost::json::value& value) {
    std::string out;
    appendCanonical(out, value);
    return out;
}

}  // namespace rampart
