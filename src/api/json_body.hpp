// Reading a JSON request body field by field: strict parsing (limits, duplicate keys refused), typed
// getters that name the field at fault, and a final check that refuses every field nobody asked for,
// so that `"role": "admin"` in a body is a 400, never silently ignored.
#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/object.hpp>

#include "core/secret_string.hpp"
#include "http/exchange.hpp"

namespace rampart::api {

class JsonBody {
  public:
    // Throws ApiError 400 when the body is not one JSON object within the limits.
    explicit JsonBody(const http::Exchange& ex);
    // One object of a batch, read with the same rules; `at` prefixes the pointers of its errors.
    JsonBody(boost::json::object object, std::string at);

    // Each throws ApiError 400 with the field's JSON pointer when the value has the wrong type or
    // length. Required ones also when the field is missing; optional ones return nullopt for a
    // missing field (and for null only when nullable says so).
    std::string requiredString(std::string_view name, std::size_t maxBytes);
    std::optional<std::string> optionalString(std::string_view name, std::size_t maxBytes);
    // A string that may be explicitly null: nullopt = absent, optional(nullopt) = null.
    std::optional<std::optional<std::string>> nullableString(std::string_view name, std::size_t maxBytes);
    SecretString requiredSecret(std::string_view name, std::size_t maxBytes);
    std::optional<bool> optionalBool(std::string_view name);
    std::optional<std::int64_t> optionalInt(std::string_view name, std::int64_t min, std::int64_t max);
    std::optional<std::vector<std::string>> optionalStringArray(std::string_view name, std::size_t maxItems,
                                                                std::size_t maxBytes);

    // Any JSON value (e.g. a job's args, checked later against a schema); nullopt when absent.
    std::optional<boost::json::value> optionalJson(std::string_view name);
    // An array of objects, for batches; throws ApiError 400 when it is not one or is longer.
    std::optional<std::vector<boost::json::object>> optionalObjectArray(std::string_view name,
                                                                        std::size_t maxItems);

    // Throws ApiError 400 listing every field that was not read: a field in `forbidden` (role, owner,
    // id, timestamps...) is "may not be set", any other "unknown field".
    void finish(std::initializer_list<std::string_view> forbidden = {});

  private:
    const boost::json::value* take(std::string_view name);

    boost::json::object object_;
    std::string at_;  // pointer prefix for errors ("/jobs/3"), empty for a whole body
    std::set<std::string, std::less<>> read_;
};

}  // namespace rampart::api
