// The registry and valijson-based argument checks. Schemas are compiled once, at registration.
#include "jobs/task_registry.hpp"

#include <algorithm>
#include <stdexcept>

// Without this valijson prints and aborts the process when it cannot go on (a schema it cannot read, a
// value its adapter cannot cast); with it, it throws, and the caller answers or refuses instead (a bad
// declared schema becomes a configuration error naming its table).
#define VALIJSON_USE_EXCEPTIONS 1
#include <valijson/adapters/boost_json_adapter.hpp>
#include <valijson/schema.hpp>
#include <valijson/schema_parser.hpp>
#include <valijson/validator.hpp>

namespace rampart::jobs {

bool isValidName(std::string_view name) {
    return !name.empty() && name.size() <= 64 && std::all_of(name.begin(), name.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
    });
}

bool isValidTaskName(std::string_view name) {
    return !name.empty() && name.size() <= kMaxTaskName && std::all_of(name.begin(), name.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
               c == '_' || c == '-';
    });
}

namespace {

// Unknown fields are refused unless a schema says otherwise, at every level of nesting.
void closeObjects(boost::json::value& schema) {
    if (!schema.is_object()) return;
    auto& object = schema.as_object();
    const auto* type = object.if_contains("type");
    const bool isObject =
        (type && type->is_string() && type->as_string() == "object") || object.contains("properties");
    if (isObject && !object.contains("additionalProperties")) object["additionalProperties"] = false;
    if (auto* properties = object.if_contains("properties"); properties && properties->is_object()) {
        for (auto& [name, sub] : properties->as_object()) closeObjects(sub);
    }
    if (auto* items = object.if_contains("items")) closeObjects(*items);
}

// valijson's context ("<root>", "[url]", "[0]") as a JSON pointer ("/url", "/0").
std::string pointerOf(const std::vector<std::string>& context) {
    std::string pointer;
    for (const auto& part : context) {
        if (part == "<root>") continue;
        std::string_view name = part;
        if (name.size() >= 2 && name.front() == '[' && name.back() == ']')
            name = name.substr(1, name.size() - 2);
        if (name.size() >= 2 && name.front() == '"' && name.back() == '"')
            name = name.substr(1, name.size() - 2);
        pointer += '/';
        for (char c : name) {
            if (c == '~')
                pointer += "~0";
            else if (c == '/')
                pointer += "~1";
            else
                pointer += c;
        }
    }
    return pointer;
}

// valijson's Schema can be neither copied nor moved: it is filled where it will live.
void compileSchema(valijson::Schema& schema, const boost::json::value& document, const std::string& name,
                   const char* what) {
    try {
        valijson::SchemaParser parser;
        valijson::adapters::BoostJsonAdapter adapter(document);
        parser.populateSchema(adapter, schema);
    } catch (const std::exception& error) {
        throw std::invalid_argument("task type " + name + " has an unreadable " + what + ": " + error.what());
    }
}

std::vector<ArgumentError> check(const valijson::Schema& schema, const boost::json::value& value) {
    valijson::Validator validator;  // strong types: "1" is not a number
    valijson::ValidationResults results;
    valijson::adapters::BoostJsonAdapter target(value);
    if (validator.validate(schema, target, &results)) return {};
    std::vector<ArgumentError> errors;
    valijson::ValidationResults::Error error;
    while (results.popError(error))
        errors.push_back(ArgumentError{pointerOf(error.context), error.description});
    // valijson reports the innermost failure first and then each enclosing one ("failed to validate
    // against schema associated with property"); the deepest is what a client needs.
    std::stable_sort(errors.begin(), errors.end(), [](const ArgumentError& a, const ArgumentError& b) {
        return a.pointer.size() > b.pointer.size();
    });
    return errors;
}

}  // namespace

struct TaskRegistry::Compiled {
    TaskType type;
    valijson::Schema schema;
    std::unique_ptr<valijson::Schema> resultSchema;  // external types with a result schema
};

TaskRegistry::TaskRegistry() = default;
TaskRegistry::~TaskRegistry() = default;

void TaskRegistry::add(TaskType type) {
    if (!isValidTaskName(type.name))
        throw std::invalid_argument(
            "task name must be 1-128 characters of letters, digits, '.', '_' and '-'");
    if (types_.contains(type.name)) throw std::invalid_argument("task type registered twice: " + type.name);
    if (type.external && type.handler)
        throw std::invalid_argument("external task type with an in-process handler: " + type.name);
    if (!type.external && !type.handler)
        throw std::invalid_argument("task type without a handler: " + type.name);
    if (!type.external && type.resultSchema)
        throw std::invalid_argument("result schemas are for external task types: " + type.name);
    if (type.maxAttempts < 1 || type.timeout <= std::chrono::milliseconds::zero() || type.priority < -100 ||
        type.priority > 100) {
        throw std::invalid_argument("task type defaults out of range: " + type.name);
    }
    boost::json::value schemaDocument = type.argsSchema;
    closeObjects(schemaDocument);
    type.argsSchema = schemaDocument.as_object();
    auto compiled = std::make_unique<Compiled>();
    compileSchema(compiled->schema, schemaDocument, type.name, "schema");
    if (type.resultSchema) {
        compiled->resultSchema = std::make_unique<valijson::Schema>();
        compileSchema(*compiled->resultSchema, boost::json::value(*type.resultSchema), type.name,
                      "result schema");
    }
    compiled->type = std::move(type);
    std::string name = compiled->type.name;
    types_.emplace(std::move(name), std::move(compiled));
}

const TaskType* TaskRegistry::find(std::string_view name) const {
    auto found = types_.find(name);
    return found == types_.end() ? nullptr : &found->second->type;
}

std::vector<const TaskType*> TaskRegistry::all() const {
    std::vector<const TaskType*> types;
    for (const auto& [name, compiled] : types_) types.push_back(&compiled->type);
    return types;
}

std::vector<ArgumentError> TaskRegistry::validate(const TaskType& type,
                                                  const boost::json::value& args) const {
    auto found = types_.find(type.name);
    if (found == types_.end()) return {ArgumentError{"", "unknown task type"}};
    return check(found->second->schema, args);
}

std::vector<ArgumentError> TaskRegistry::validateResult(const TaskType& type,
                                                        const boost::json::value& result) const {
    auto found = types_.find(type.name);
    if (found == types_.end()) return {ArgumentError{"", "unknown task type"}};
    if (!found->second->resultSchema) return {};
    return check(*found->second->resultSchema, result);
}

}  // namespace rampart::jobs
