// JSON bodies, read strictly; every refusal names the field by JSON pointer and never echoes a value.
#include "api/json_body.hpp"

#include <algorithm>

#include <boost/json/array.hpp>

#include "core/strict_json.hpp"
#include "http/problem.hpp"

namespace rampart::api {
namespace {

std::string pointer(std::string_view name) {
    std::string out = "/";
    for (char c : name) {
        if (c == '~')
            out += "~0";
        else if (c == '/')
            out += "~1";
        else
            out += c;
    }
    return out;
}

[[noreturn]] void fieldError(const std::string& at, std::string detail) {
    throw http::ApiError::invalidField(at, detail);
}

}  // namespace

JsonBody::JsonBody(const http::Exchange& ex) {
    // The body limit has been enforced by the transport; depth and duplicate keys are checked here.
    const auto& body = ex.request.body();
    auto parsed = parseStrictJsonObject(
        body, StrictJsonLimits{.maxSize = std::max<std::size_t>(body.size(), 1), .maxDepth = 16});
    if (!parsed) throw http::ApiError::badRequest("the body must be one JSON object (no duplicate keys)");
    object_ = std::move(*parsed);
}

JsonBody::JsonBody(boost::json::object object, std::string at)
    : object_(std::move(object)), at_(std::move(at)) {}

std::optional<boost::json::value> JsonBody::optionalJson(std::string_view name) {
    const auto* value = take(name);
    if (!value) return std::nullopt;
    return *value;
}

std::optional<std::vector<boost::json::object>> JsonBody::optionalObjectArray(std::string_view name,
                                                                              std::size_t maxItems) {
    const auto* value = take(name);
    if (!value) return std::nullopt;
    if (!value->is_array() || value->get_array().size() > maxItems) {
        fieldError(at_ + pointer(name),
                   "must be an array of at most " + std::to_string(maxItems) + " objects");
    }
    std::vector<boost::json::object> items;
    for (const auto& item : value->get_array()) {
        if (!item.is_object()) fieldError(at_ + pointer(name), "must be an array of objects");
        items.push_back(item.get_object());
    }
    return items;
}

const boost::json::value* JsonBody::take(std::string_view name) {
    read_.emplace(name);
    return object_.if_contains(name);
}

std::string JsonBody::requiredString(std::string_view name, std::size_t maxBytes) {
    auto value = optionalString(name, maxBytes);
    if (!value) fieldError(at_ + pointer(name), "is required");
    return std::move(*value);
}

std::optional<std::string> JsonBody::optionalString(std::string_view name, std::size_t maxBytes) {
    const auto* value = take(name);
    if (!value) return std::nullopt;
    if (!value->is_string()) fieldError(at_ + pointer(name), "must be a string");
    if (value->get_string().size() > maxBytes) {
        fieldError(at_ + pointer(name), "must be at most " + std::to_string(maxBytes) + " bytes");
    }
    return std::string(value->get_string());
}

std::optional<std::optional<std::string>> JsonBody::nullableString(std::string_view name,
                                                                   std::size_t maxBytes) {
    const auto* value = take(name);
    if (!value) return std::nullopt;
    if (value->is_null()) return std::optional<std::string>{};
    return optionalString(name, maxBytes);
}

SecretString JsonBody::requiredSecret(std::string_view name, std::size_t maxBytes) {
    return SecretString(requiredString(name, maxBytes));
}

std::optional<bool> JsonBody::optionalBool(std::string_view name) {
    const auto* value = take(name);
    if (!value) return std::nullopt;
    if (!value->is_bool()) fieldError(at_ + pointer(name), "must be true or false");
    return value->get_bool();
}

std::optional<std::int64_t> JsonBody::optionalInt(std::string_view name, std::int64_t min, std::int64_t max) {
    const auto* value = take(name);
    if (!value) return std::nullopt;
    std::int64_t number = 0;
    if (value->is_int64())
        number = value->get_int64();
    else if (value->is_uint64() && value->get_uint64() <= static_cast<std::uint64_t>(max))
        number = static_cast<std::int64_t>(value->get_uint64());
    else
        fieldError(at_ + pointer(name), "must be an integer");
    if (number < min || number > max) {
        fieldError(at_ + pointer(name),
                   "must be between " + std::to_string(min) + " and " + std::to_string(max));
    }
    return number;
}

std::optional<std::vector<std::string>> JsonBody::optionalStringArray(std::string_view name,
                                                                      std::size_t maxItems,
                                                                      std::size_t maxBytes) {
    const auto* value = take(name);
    if (!value) return std::nullopt;
    if (!value->is_array() || value->get_array().size() > maxItems) {
        fieldError(at_ + pointer(name),
                   "must be an array of at most " + std::to_string(maxItems) + " strings");
    }
    std::vector<std::string> items;
    for (const auto& item : value->get_array()) {
        if (!item.is_string() || item.get_string().size() > maxBytes) {
            fieldError(at_ + pointer(name),
                       "must be an array of strings of at most " + std::to_string(maxBytes) + " bytes");
        }
        items.emplace_back(item.get_string());
    }
    return items;
}

void JsonBody::finish(std::initializer_list<std::string_view> forbidden) {
    auto refused = http::ApiError::badRequest("the request body has fields that are not accepted here");
    for (const auto& [key, value] : object_) {
        if (read_.contains(std::string_view(key))) continue;
        const bool isForbidden =
            std::find(forbidden.begin(), forbidden.end(), std::string_view(key)) != forbidden.end();
        refused.withFieldError(at_ + pointer(key), isForbidden ? "may not be set" : "is not a known field");
    }
    if (!refused.errors().empty()) throw refused;
}

}  // namespace rampart::api
