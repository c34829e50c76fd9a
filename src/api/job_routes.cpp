// Job routes: answers are built from the registry, which is fixed once the server starts, so the task
// list is serialized once.
#include "api/job_routes.hpp"

#include <memory>

#include <boost/json/array.hpp>
#include <boost/json/serialize.hpp>

namespace rampart::api {

void addJobRoutes(http::Router& router, const jobs::TaskRegistry& registry) {
    boost::json::array tasks;
    for (const jobs::TaskType* type : registry.all()) {
        tasks.push_back(boost::json::object{{"name", type->name},
                                            {"description", type->description},
                                            {"args_schema", type->argsSchema},
                                            {"default_queue", type->defaultQueue},
                                            {"timeout_seconds", type->timeout.count() / 1000.0},
                                            {"max_attempts", type->maxAttempts}});
    }
    auto body =
        std::make_shared<const std::string>(boost::json::serialize(boost::json::object{{"items", tasks}}));
    router.add({.method = http::Verb::get,
                .pattern = "/api/v1/tasks",
                .handler = [body](http::Exchange& ex) -> boost::asio::awaitable<void> {
                    ex.response.result(http::Status::ok);
                    ex.response.set(http::beast_http::field::content_type, "application/json");
                    ex.response.body() = *body;
                    co_return;
                },
                .summary = "The task types that jobs may run, with their argument schemas",
                .tag = "jobs"});
}

}  // namespace rampart::api
