// Paths, operations and parameters come from the router; each route adds its bodies and its own
// answers, and the errors that follow from the rest of the route (a JSON body, query parameters, path
// parameters, a policy, a rate limit) are added here, once, as shared responses. Security requirements
// are the policy table's: who may call a route is decided there and nowhere else.
#include "api/openapi.hpp"

#include <cctype>
#include <map>
#include <set>
#include <stdexcept>

#include <boost/algorithm/string/case_conv.hpp>
#include <boost/json/array.hpp>

#include "api/openapi_schemas.hpp"
#include "api/policy.hpp"
#include "http/middleware/authentication.hpp"

namespace rampart::api {
namespace {

namespace json = boost::json;

json::object ref(std::string_view section, std::string_view name) {
    return json::object{{"$ref", "#/components/" + std::string(section) + "/" + std::string(name)}};
}

json::object problemContent() {
    return json::object{{"application/problem+json", json::object{{"schema", ref("schemas", "Problem")}}}};
}

// The errors many routes share, each under #/components/responses by name.
json::object sharedResponses() {
    auto problem = [](std::string_view description) {
        return json::object{{"description", description}, {"content", problemContent()}};
    };
    json::object unauthorized = problem(
        "No credential, or the one presented is not valid (the same answer whatever the reason: expired, "
        "revoked, "
        "unknown)");
    unauthorized["headers"] = json::object{
        {"WWW-Authenticate",
         json::object{
             {"description", "Bearer realm=\"rampart\" (with error=\"invalid_token\" for a refused one)"},
             {"schema", json::object{{"type", "string"}}}}}};
    json::object tooMany = problem("A rate limit is used up (urn:rampart:problem:rate-limited)");
    tooMany["headers"] = json::object{{"Retry-After", ref("headers", "Retry-After")},
                                      {"RateLimit", ref("headers", "RateLimit")},
                                      {"RateLimit-Policy", ref("headers", "RateLimit-Policy")}};
    return json::object{
        {"BadBody",
         problem("The body is not one JSON object within the limits (depth 16, no duplicate keys), or a "
                 "field is missing, of the wrong type, out of range, unknown or not the client's to "
                 "set: `errors` names each by JSON Pointer")},
        {"BadQuery", problem("An unknown or repeated query parameter, or a value out of range")},
        {"Unauthorized", std::move(unauthorized)},
        {"Forbidden",
         problem("The caller's role or credential (its scopes) may not call this route, a session "
                 "request failed the CSRF check, or an administrator has not enrolled TOTP")},
        {"NotFound",
         problem("Nothing exists at this path for the caller: another user's resource answers the "
                 "same as one that does not exist")},
        {"PayloadTooLarge", problem("The body exceeds this route's limit")},
        {"UnsupportedMediaType", problem("The body is not application/json")},
        {"TooManyRequests", std::move(tooMany)},
        {"Error", problem("Any other error (RFC 9457), such as 503 while the database is unreachable")}};
}

std::string lower(std::string_view text) {
    return boost::algorithm::to_lower_copy(std::string(text));
}

std::string derivedOperationId(const http::Route& route) {
    std::string id = lower(http::beast_http::to_string(route.method));
    for (char c : route.pattern) id += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
    return id;
}

// Who may call it, in words, for the operation's description.
std::string accessText(const http::Policy& policy) {
    if (policy.publicRoute) return "Public: no credential needed.";
    std::string text = "Roles: ";
    for (std::size_t i = 0; i < policy.roles.size(); ++i) {
        if (i > 0) text += ", ";
        text += identity::roleName(policy.roles[i]);
    }
    text += ".";
    if (!policy.alsoScope.empty()) {
        text += " An API token needs the scopes `" + std::string(policy.scope) + "` and `" +
                std::string(policy.alsoScope) + "`.";
    } else if (!policy.scope.empty()) {
        text += " An API token needs the scope `" + std::string(policy.scope) + "`.";
    }
    if (policy.interactiveOnly)
        text += " Access tokens and sessions only, never API tokens or external tokens.";
    return text;
}

// The policy as security requirements: any one of them will do (public routes: none needed).
json::array securityFor(const http::Policy& policy, http::Verb method) {
    json::array requirements;
    if (policy.publicRoute) return requirements;
    json::array scopes;
    if (!policy.scope.empty()) scopes.emplace_back(policy.scope);
    if (!policy.alsoScope.empty()) scopes.emplace_back(policy.alsoScope);
    requirements.push_back(json::object{{"accessToken", json::array{}}});
    if (!policy.interactiveOnly) requirements.push_back(json::object{{"apiToken", scopes}});
    const bool safe = method == http::Verb::get || method == http::Verb::head;
    json::object session{{"sessionCookie", json::array{}}};
    if (!safe) session["csrfToken"] = json::array{};
    requirements.push_back(std::move(session));
    return requirements;
}

json::object responseFor(const http::RouteAnswer& answer, const json::object& headers) {
    json::object response{{"description", answer.description}};
    if (!answer.schema.empty()) {
        const std::string mediaType =
            answer.schema == "Problem" ? "application/problem+json" : answer.mediaType;
        response["content"] =
            json::object{{mediaType, json::object{{"schema", ref("schemas", answer.schema)}}}};
    }
    if (!answer.headers.empty()) {
        json::object out;
        for (const auto& name : answer.headers) {
            if (!headers.contains(name)) throw std::logic_error("no OpenAPI header named " + name);
            out[name] = ref("headers", name);
        }
        response["headers"] = std::move(out);
    }
    return response;
}

json::array parametersFor(const http::Route& route) {
    json::array parameters;
    std::string_view pattern = route.pattern;
    for (std::size_t open = pattern.find('{'); open != std::string_view::npos;
         open = pattern.find('{', open + 1)) {
        const auto close = pattern.find('}', open);
        parameters.push_back(json::object{{"name", std::string(pattern.substr(open + 1, close - open - 1))},
                                          {"in", "path"},
                                          {"required", true},
                                          {"schema", json::object{{"type", "string"}}}});
    }
    for (const auto& query : route.query) {
        json::object parameter{
            {"name", query.name}, {"in", "query"}, {"required", false}, {"schema", query.schema}};
        if (!query.description.empty()) parameter["description"] = query.description;
        parameters.push_back(std::move(parameter));
    }
    return parameters;
}

json::object operationFor(const http::Route& route, const json::object& headers) {
    json::object operation;
    operation["summary"] = route.summary;
    operation["tags"] = json::array{json::string(route.tag)};
    operation["operationId"] = route.operationId.empty() ? derivedOperationId(route) : route.operationId;
    const http::Policy* policy = policyFor(route.method, route.pattern);
    if (policy != nullptr) {
        operation["description"] = accessText(*policy);
        operation["security"] = securityFor(*policy, route.method);
    }
    auto parameters = parametersFor(route);
    const bool hasPathParameters = route.pattern.find('{') != std::string::npos;
    if (!parameters.empty()) operation["parameters"] = std::move(parameters);
    if (route.jsonBody) {
        json::object schema = route.requestSchema.empty() ? json::object{{"type", "object"}}
                                                          : ref("schemas", route.requestSchema);
        operation["requestBody"] =
            json::object{{"required", true},
                         {"content", json::object{{"application/json", json::object{{"schema", schema}}}}}};
    }

    // The route's own answers first; the shared errors fill the statuses it did not describe itself.
    json::object responses;
    for (const auto& answer : route.answers)
        responses[std::to_string(answer.status)] = responseFor(answer, headers);
    auto shared = [&responses](std::string_view status, std::string_view name) {
        if (!responses.contains(status)) responses[status] = ref("responses", name);
    };
    if (route.jsonBody) shared("400", "BadBody");
    if (!route.query.empty()) shared("400", "BadQuery");
    // A refused credential is 401 on every route, public ones included.
    shared("401", "Unauthorized");
    if (policy == nullptr || !policy->publicRoute) shared("403", "Forbidden");
    if (hasPathParameters) shared("404", "NotFound");
    if (route.jsonBody) {
        shared("413", "PayloadTooLarge");
        shared("415", "UnsupportedMediaType");
    }
    if (route.rateLimited) shared("429", "TooManyRequests");
    responses["default"] = ref("responses", "Error");
    if (route.rateLimited && responses.at("429").as_object().contains("content")) {
        // A route that describes its own 429 (login's lockout) still sends the rate-limit headers.
        auto& own = responses.at("429").as_object();
        if (!own.contains("headers")) own["headers"] = json::object{};
        own["headers"].as_object()["Retry-After"] = ref("headers", "Retry-After");
    }
    operation["responses"] = std::move(responses);
    return operation;
}

const std::map<std::string, std::string, std::less<>>& tagDescriptions() {
    static const std::map<std::string, std::string, std::less<>> descriptions = {
        {"system", "Health, readiness, metrics and this document"},
        {"auth", "Logging in and out, refresh tokens, the token-verification keys"},
        {"me", "The caller's own account and second factor"},
        {"tokens", "Personal API tokens"},
        {"users", "User administration"},
        {"audit", "The audit log"},
        {"jobs", "Task types, submitting and following jobs"},
        {"queues", "Queue counts, pausing and resuming"},
        {"schedules", "Periodic jobs"},
        {"worker", "The external worker API: lease jobs and report on them"}};
    return descriptions;
}

}  // namespace

json::object buildOpenApi(const http::Router& router, bool secureCookies) {
    const json::object& headers = openApiHeaders();
    json::object schemas = openApiSchemas();
    json::object paths;
    std::vector<std::string> tags;
    for (const auto& route : router.routes()) {
        auto& pathItem = paths[route.pattern];
        if (!pathItem.is_object()) pathItem.emplace_object();
        pathItem.as_object()[lower(http::beast_http::to_string(route.method))] = operationFor(route, headers);
        for (const auto& [name, schema] : route.schemas) schemas[name] = schema;
        if (std::find(tags.begin(), tags.end(), route.tag) == tags.end()) tags.push_back(route.tag);
    }
    json::array tagList;
    for (const auto& tag : tags) {
        json::object entry{{"name", tag}};
        if (auto found = tagDescriptions().find(tag); found != tagDescriptions().end())
            entry["description"] = found->second;
        tagList.push_back(std::move(entry));
    }
    return json::object{
        {"openapi", "3.1.0"},
        {"info",
         json::object{
             {"title", "Rampart API"},
             {"version", RAMPART_VERSION},
             // As the Python SDK declares it (clients/python/pyproject.toml).
             {"license", json::object{{"name", "Proprietary"}}},
             {"description",
              "A job API server. Bodies are JSON; errors are RFC 9457 problem documents. String lengths "
              "(maxLength) are counted by the server in UTF-8 bytes. See docs/api.md."}}},
        // Relative: the server that serves this document.
        {"servers", json::array{json::object{{"url", "/"}}}},
        {"tags", std::move(tagList)},
        {"paths", std::move(paths)},
        {"components",
         json::object{{"schemas", std::move(schemas)},
                      {"responses", sharedResponses()},
                      {"headers", headers},
                      {"securitySchemes", openApiSecuritySchemes(http::sessionCookieName(secureCookies))}}}};
}

}  // namespace rampart::api
