// JSON parsing for security-relevant documents (JWT headers and claims, JWKS): limits, and duplicate keys
// refused, since Boost.JSON silently keeps the last one and two readers could then disagree on a claim.
#pragma once

#include <cstddef>
#include <optional>
#include <string_view>

#include <boost/json/object.hpp>

namespace rampart {

struct StrictJsonLimits {
    std::size_t maxSize = 8 * 1024;  // bytes of input
    std::size_t maxDepth = 16;       // nesting of objects and arrays
};

// The JSON object in `text`, or nullopt when it is not one: invalid JSON or UTF-8, a different type at the
// top, a duplicate key in any object, a number beyond a double's range (1e400, or 0e400 which Boost.JSON
// reads as NaN), too large or too deep. Never throws on bad input.
[[nodiscard]] std::optional<boost::json::object> parseStrictJsonObject(std::string_view text,
                                                                       const StrictJsonLimits& limits = {});

}  // namespace rampart
