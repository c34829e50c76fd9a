// Task registration rules, argument validation with JSON pointers, unknown fields refused by default,
// and the built-in task types run for real.
#include "jobs/task_registry.hpp"

#include <gtest/gtest.h>
#include <boost/json/parse.hpp>

#include "egress/egress_client.hpp"
#include "jobs/builtin_tasks.hpp"
#include "testing/fake_resolver.hpp"
#include "testing/run_to_completion.hpp"

namespace rampart::jobs {
namespace {

namespace json = boost::json;
using testing::runToCompletion;

TaskHandler nothing() {
    return [](TaskContext&) -> boost::asio::awaitable<json::value> { co_return nullptr; };
}

TaskType simple(std::string name, std::string_view schema) {
    return TaskType{
        .name = std::move(name), .argsSchema = json::parse(schema).as_object(), .handler = nothing()};
}

std::vector<ArgumentError> check(const TaskRegistry& registry, std::string_view task, std::string_view args) {
    return registry.validate(*registry.find(task), json::parse(args));
}

TEST(TaskRegistry, RefusesBadNamesDuplicatesAndMissingHandlers) {
    TaskRegistry registry;
    EXPECT_THROW(registry.add(simple("", "{}")), std::invalid_argument);
    EXPECT_THROW(registry.add(simple("has space", "{}")), std::invalid_argument);
    EXPECT_THROW(registry.add(simple("slash/name", "{}")), std::invalid_argument);
    EXPECT_THROW(registry.add(simple(std::string(129, 'a'), "{}")), std::invalid_argument);
    registry.add(simple("Upper.Case", "{}"));  // declared types are named like "Reports.Generate" too
    registry.add(simple(std::string(128, 'a'), "{}"));
    registry.add(simple("ok.name-1_x", "{}"));
    EXPECT_THROW(registry.add(simple("ok.name-1_x", "{}")), std::invalid_argument);
    TaskType noHandler = simple("nohandler", "{}");
    noHandler.handler = nullptr;
    EXPECT_THROW(registry.add(std::move(noHandler)), std::invalid_argument);
    TaskType zero = simple("zero", "{}");
    zero.maxAttempts = 0;
    EXPECT_THROW(registry.add(std::move(zero)), std::invalid_argument);
    EXPECT_EQ(registry.find("missing"), nullptr);
}

TEST(TaskRegistry, ExternalTypesHaveNoHandlerAndMayCheckTheirResults) {
    TaskRegistry registry;
    TaskType external = simple("reports.generate", R"({"type": "object"})");
    external.handler = nullptr;
    external.external = true;
    external.resultSchema = json::parse(R"({"type": "object", "required": ["url"],
                                           "properties": {"url": {"type": "string"}}})")
                                .as_object();
    registry.add(external);
    const TaskType& type = *registry.find("reports.generate");
    EXPECT_TRUE(registry.validateResult(type, json::parse(R"({"url": "s3://x", "pages": 3})")).empty())
        << "a result schema is taken as written: no additionalProperties added";
    const auto refused = registry.validateResult(type, json::parse(R"({"url": 3})"));
    ASSERT_FALSE(refused.empty());
    EXPECT_EQ(refused.front().pointer, "/url");
    EXPECT_FALSE(registry.validateResult(type, json::value(nullptr)).empty()) << "no result is not an object";
    // Without a result schema any JSON result fits.
    TaskType plain = simple("plain", "{}");
    plain.handler = nullptr;
    plain.external = true;
    registry.add(plain);
    EXPECT_TRUE(registry.validateResult(*registry.find("plain"), json::parse("[1, 2]")).empty());
    // An external type with a handler, or an in-process one with a result schema, is a programming error.
    TaskType both = simple("both", "{}");
    both.external = true;
    EXPECT_THROW(registry.add(both), std::invalid_argument);
    TaskType inProcessResult = simple("in.process", "{}");
    inProcessResult.resultSchema = json::object{};
    EXPECT_THROW(registry.add(inProcessResult), std::invalid_argument);
    TaskType badResult = simple("bad.result", "{}");
    badResult.handler = nullptr;
    badResult.external = true;
    badResult.resultSchema = json::parse(R"({"type": 12})").as_object();
    EXPECT_THROW(registry.add(badResult), std::invalid_argument);
}

TEST(TaskRegistry, ArgumentsAreCheckedWithThePathOfEachBadField) {
    TaskRegistry registry;
    registry.add(simple("fetch", R"({"type": "object", "required": ["url"],
        "properties": {"url": {"type": "string", "maxLength": 20},
                       "limits": {"type": "object", "properties": {"bytes": {"type": "integer", "minimum": 1}}}}})"));
    EXPECT_TRUE(check(registry, "fetch", R"({"url": "https://a.example"})").empty());
    auto missing = check(registry, "fetch", R"({})");
    ASSERT_FALSE(missing.empty());
    auto wrongType = check(registry, "fetch", R"({"url": 5})");
    ASSERT_FALSE(wrongType.empty());
    EXPECT_EQ(wrongType.front().pointer, "/url");
    auto nested = check(registry, "fetch", R"({"url": "x", "limits": {"bytes": 0}})");
    ASSERT_FALSE(nested.empty());
    EXPECT_EQ(nested.front().pointer, "/limits/bytes");
    auto strong = check(registry, "fetch", R"({"url": "x", "limits": {"bytes": "10"}})");
    EXPECT_FALSE(strong.empty()) << "a string is not an integer";
    EXPECT_FALSE(check(registry, "fetch", R"("not an object")").empty());
}

TEST(TaskRegistry, UnknownFieldsAreRefusedUnlessTheSchemaAllowsThem) {
    TaskRegistry registry;
    registry.add(simple("closed", R"({"type": "object", "properties": {"a": {"type": "integer"},
        "inner": {"type": "object", "properties": {"b": {"type": "integer"}}}}})"));
    registry.add(simple("open", R"({"type": "object", "additionalProperties": true})"));
    EXPECT_FALSE(check(registry, "closed", R"({"a": 1, "role": "admin"})").empty());
    EXPECT_FALSE(check(registry, "closed", R"({"inner": {"b": 1, "c": 2}})").empty()) << "nested objects too";
    EXPECT_TRUE(check(registry, "open", R"({"anything": [1, 2]})").empty());
}

TEST(BuiltinTasks, AreRegisteredWithClosedSchemas) {
    TaskRegistry registry;
    addBuiltinTasks(registry);
    for (auto name : {"noop", "echo", "sleep", "hash.sha256", "http.fetch"})
        EXPECT_NE(registry.find(name), nullptr) << name;
    EXPECT_FALSE(
        check(registry, "http.fetch", R"({"url": "http://example.com/", "method": "POST"})").empty());
    EXPECT_FALSE(
        check(registry, "http.fetch", R"({"url": "http://example.com/", "headers": {"X": "1"}})").empty());
    EXPECT_FALSE(check(registry, "sleep", R"({"seconds": 1, "shell": "rm -rf /"})").empty());
    EXPECT_FALSE(check(registry, "sleep", R"({"seconds": 3601})").empty());
    EXPECT_FALSE(check(registry, "hash.sha256", R"({"payload": "x", "iterations": 0})").empty());
    EXPECT_TRUE(check(registry, "hash.sha256", R"({"payload": "x", "iterations": 2})").empty());
}

json::value run(const TaskRegistry& registry, std::string_view task, std::string_view args,
                CancelToken& cancel) {
    const json::object object = json::parse(args).as_object();
    TaskContext context{.args = object, .cancel = cancel, .progress = nullptr};
    return runToCompletion(registry.find(task)->handler(context));
}

TEST(BuiltinTasks, RunAndReturnTheirResults) {
    TaskRegistry registry;
    addBuiltinTasks(registry);
    CancelToken cancel;
    EXPECT_TRUE(run(registry, "noop", "{}", cancel).is_null());
    EXPECT_EQ(run(registry, "echo", R"({"a": [1, "b"]})", cancel), json::parse(R"({"a": [1, "b"]})"));
    // SHA-256("abc"), then SHA-256 of that digest: the iteration is over raw digests.
    EXPECT_EQ(run(registry, "hash.sha256", R"({"payload": "abc", "iterations": 1})", cancel).at("sha256"),
              "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    EXPECT_EQ(run(registry, "hash.sha256", R"({"payload": "abc", "iterations": 2})", cancel).at("sha256"),
              "4f8b42c22dd3729b519ba6f68d2da7cc5b2d606d05daed5ad5128cc03e6c6358");
    EXPECT_EQ(run(registry, "sleep", R"({"seconds": 0.01})", cancel).at("slept_ms"), 10);
}

TEST(BuiltinTasks, AFetchTheEgressGuardRefusesFailsTheJobWithItsReason) {
    TaskRegistry registry;
    addBuiltinTasks(registry);
    CancelToken cancel;
    auto resolver = std::make_shared<testing::FakeResolver>();
    resolver->answer("metadata.example", {{boost::asio::ip::make_address("169.254.169.254")}});
    egress::EgressClient client(egress::EgressPolicy{}, resolver);
    auto fetch = [&](std::string_view args) {
        const json::object object = json::parse(args).as_object();
        TaskContext context{.args = object, .cancel = cancel, .progress = nullptr, .egress = &client};
        try {
            runToCompletion(registry.find("http.fetch")->handler(context));
        } catch (const TaskFailed& failure) {
            return std::string(failure.what());
        }
        return std::string("no failure");
    };
    EXPECT_EQ(fetch(R"({"url": "http://2130706433/"})"), "egress refused: 127.0.0.1 is loopback");
    EXPECT_NE(fetch(R"({"url": "http://metadata.example/latest/meta-data/"})").find("169.254.169.254"),
              std::string::npos);
    EXPECT_NE(fetch(R"({"url": "file:///etc/passwd"})").find("egress refused"), std::string::npos);
    // Without an egress client a worker cannot reach the network at all.
    const json::object args = json::parse(R"({"url": "http://example.com/"})").as_object();
    TaskContext offline{.args = args, .cancel = cancel, .progress = nullptr};
    EXPECT_THROW(runToCompletion(registry.find("http.fetch")->handler(offline)), TaskFailed);
}

TEST(BuiltinTasks, LongTasksStopWhenCanceled) {
    TaskRegistry registry;
    addBuiltinTasks(registry);
    CancelToken cancel;
    cancel.cancel();
    EXPECT_EQ(run(registry, "sleep", R"({"seconds": 3600})", cancel).at("slept_ms"), 0);
    EXPECT_THROW(run(registry, "hash.sha256", R"({"payload": "abc", "iterations": 1000000})", cancel),
                 TaskFailed);
}

}  // namespace
}  // namespace rampart::jobs
