// Paths, operations and path parameters come from the router; every operation documents the
// problem+json error shape it may answer with.
#include "api/openapi.hpp"

#include <cctype>

#include <boost/algorithm/string/case_conv.hpp>

namespace rampart::api {

boost::json::object buildOpenApi(const http::Router& router) {
    namespace json = boost::json;
    json::object paths;
    for (const auto& route : router.routes()) {
        json::object operation;
        operation["summary"] = route.summary;
        operation["tags"] = json::array{json::string(route.tag)};
        auto method = boost::algorithm::to_lower_copy(std::string(http::beast_http::to_string(route.method)));
        std::string operationId = method;
        json::array parameters;
        std::string_view pattern = route.pattern;
        for (std::size_t open = pattern.find('{'); open != std::string_view::npos;
             open = pattern.find('{', open + 1)) {
            auto close = pattern.find('}', open);
            parameters.push_back(
                json::object{{"name", std::string(pattern.substr(open + 1, close - open - 1))},
                             {"in", "path"},
                             {"required", true},
                             {"schema", json::object{{"type", "string"}}}});
        }
        for (char c : route.pattern) operationId += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
        operation["operationId"] = operationId;
        if (!parameters.empty()) operation["parameters"] = std::move(parameters);
        if (route.jsonBody)
            operation["requestBody"] = json::object{
                {"required", true}, {"content", json::object{{"application/json", json::object{}}}}};
        operation["responses"] = json::object{
            {"200", json::object{{"description", "Success"}}},
            {"default",
             json::object{
                 {"description", "An error (RFC 9457)"},
                 {"content",
                  json::object{
                      {"application/problem+json",
                       json::object{{"schema", json::object{{"$ref", "#/components/schemas/Problem"}}}}}}}}}};
        if (route.rateLimited) {
            // The rate-limit stage answers every limited route with the draft's fields, and 429 when a
            // limit is used up (docs/api.md#rate-limits).
            json::object string{{"schema", json::object{{"type", "string"}}}};
            json::object integer{{"schema", json::object{{"type", "integer"}}}};
            json::object tooMany{
                {"description", route.rateLimitScope.empty()
                                    ? std::string("A rate limit is used up")
                                    : "A rate limit (this route's: " + route.rateLimitScope + ") is used up"},
                {"headers",
                 json::object{{"Retry-After", integer}, {"RateLimit", string}, {"RateLimit-Policy", string}}},
                {"content",
                 json::object{
                     {"application/problem+json",
                      json::object{{"schema", json::object{{"$ref", "#/components/schemas/Problem"}}}}}}}};
            operation["responses"].as_object()["429"] = std::move(tooMany);
        }
        auto& pathItem = paths[route.pattern];
        if (!pathItem.is_object()) pathItem.emplace_object();
        pathItem.as_object()[method] = std::move(operation);
    }
    json::object problem{{"type", "object"},
                         {"properties", json::object{{"type", json::object{{"type", "string"}}},
                                                     {"title", json::object{{"type", "string"}}},
                                                     {"status", json::object{{"type", "integer"}}},
                                                     {"detail", json::object{{"type", "string"}}},
                                                     {"instance", json::object{{"type", "string"}}},
                                                     {"errors", json::object{{"type", "array"}}}}},
                         {"required", json::array{"type", "title", "status"}}};
    return json::object{
        {"openapi", "3.1.0"},
        {"info", json::object{{"title", "Rampart API"}, {"version", RAMPART_VERSION}}},
        {"paths", std::move(paths)},
        {"components", json::object{{"schemas", json::object{{"Problem", std::move(problem)}}}}}};
}

}  // namespace rampart::api
