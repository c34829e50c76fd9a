// The Grafana dashboard (deploy/grafana/rampart.json) is valid JSON whose every PromQL expression, and
// every variable's query, names only metrics the server exports: compared with a scrape of the real
// binary after a job has run, a histogram's _bucket, _sum and _count series counted as its own.
#include <map>
#include <regex>
#include <set>
#include <string>
#include <thread>

#include <gtest/gtest.h>
#include <boost/json.hpp>

#include "api_client.hpp"
#include "harness.hpp"

namespace rampart::testing {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;

// Metric family name -> type, from the page's "# TYPE name type" lines.
std::map<std::string, std::string> exportedFamilies(const std::string& page) {
    std::map<std::string, std::string> families;
    const std::regex type(R"(^# TYPE (\S+) (\S+)$)");
    std::size_t at = 0;
    while (at < page.size()) {
        const std::size_t end = std::min(page.find('\n', at), page.size());
        const std::string line = page.substr(at, end - at);
        std::smatch match;
        if (std::regex_match(line, match, type)) families[match[1]] = match[2];
        at = end + 1;
    }
    return families;
}

// Whether `name` is a series the families export: a family itself, or a histogram's (or summary's)
// _bucket, _sum or _count.
bool exported(const std::map<std::string, std::string>& families, const std::string& name) {
    if (families.contains(name)) return true;
    for (const std::string suffix : {"_bucket", "_sum", "_count"}) {
        if (!name.ends_with(suffix)) continue;
        const auto family = families.find(name.substr(0, name.size() - suffix.size()));
        if (family != families.end() && (family->second == "histogram" || family->second == "summary"))
            return suffix != "_bucket" || family->second == "histogram";
    }
    return false;
}

// Every PromQL text of the dashboard: targets' "expr", variables' "query" (a string, or an object with
// one) and "definition", at any depth.
void collectQueries(const json::value& value, std::vector<std::string>& queries) {
    if (value.is_array()) {
        for (const auto& item : value.as_array()) collectQueries(item, queries);
        return;
    }
    if (!value.is_object()) return;
    for (const auto& [key, item] : value.as_object()) {
        if ((key == "expr" || key == "query" || key == "definition") && item.is_string())
            queries.emplace_back(item.as_string());
        collectQueries(item, queries);
    }
}

TEST(GrafanaDashboard, ReferencesOnlyMetricsTheServerExports) {
    const std::string text =
        readFile(std::filesystem::path(RAMPART_SOURCE_DIR) / "deploy/grafana/rampart.json");
    boost::system::error_code error;
    const json::value dashboard = json::parse(text, error);
    ASSERT_FALSE(error) << "deploy/grafana/rampart.json is not JSON: " << error.message();
    ASSERT_TRUE(dashboard.is_object());
    const json::array& panels = dashboard.at("panels").as_array();
    ASSERT_FALSE(panels.empty());

    // Every panel's expressions name a metric of ours (an expression naming none tests nothing).
    std::set<std::int64_t> ids;
    int targets = 0;
    const std::regex ours(R"(\brampart_[A-Za-z0-9_:]*)");
    for (const auto& panel : panels) {
        EXPECT_TRUE(ids.insert(panel.at("id").as_int64()).second) << "panel ids are unique";
        if (!panel.as_object().contains("targets")) continue;
        for (const auto& target : panel.at("targets").as_array()) {
            ++targets;
            const std::string expr(target.at("expr").as_string());
            EXPECT_TRUE(std::regex_search(expr, ours)) << expr;
        }
    }
    EXPECT_GE(targets, 10);

    // The server's page once a job has run and requests have passed the rate limiter, so that its
    // labelled families hold series.
    TempDir dir;
    ServerProcess server;
    server.start({}, apiServerEnvironment(dir));
    const std::string token = adminAccessToken(server.port());
    const auto created = apiCall(server.port(), "POST", "/api/v1/jobs", token,
                                 json::serialize(json::object{{"task", "noop"}, {"args", json::object{}}}));
    ASSERT_EQ(created.status, 201) << created.body;
    const std::string id = str(parse(created), "id");
    std::string state;
    for (int i = 0; i < 200 && state != "succeeded"; ++i) {
        state = str(parse(apiCall(server.port(), "GET", "/api/v1/jobs/" + id, token)), "state");
        if (state != "succeeded") std::this_thread::sleep_for(50ms);
    }
    ASSERT_EQ(state, "succeeded");
    std::string page;
    for (int i = 0; i < 200; ++i) {  // the job's end is recorded once the store has taken its report
        page = request(server.port(), "GET", "/metrics").body;
        if (metric(page, R"(rampart_job_end_to_end_seconds_count{queue="default",task="noop"})") == 1.0)
            break;
        std::this_thread::sleep_for(50ms);
    }
    const auto families = exportedFamilies(page);
    ASSERT_TRUE(families.contains("rampart_job_wait_seconds")) << page;

    std::vector<std::string> queries;
    collectQueries(dashboard, queries);
    std::set<std::string> referenced;
    for (const std::string& query : queries) {
        for (auto it = std::sregex_iterator(query.begin(), query.end(), ours); it != std::sregex_iterator();
             ++it)
            referenced.insert(it->str());
    }
    EXPECT_GE(referenced.size(), 10u);
    for (const std::string& name : referenced)
        EXPECT_TRUE(exported(families, name)) << name << " is not exported";
    // What the issue asks the dashboard to show.
    for (const char* needed :
         {"rampart_jobs", "rampart_worker_attempts_total", "rampart_job_wait_seconds_bucket",
          "rampart_job_run_seconds_bucket", "rampart_job_end_to_end_seconds_bucket", "rampart_job_dead_total",
          "rampart_rate_limit_decisions_total", "rampart_http_request_duration_seconds_bucket"})
        EXPECT_TRUE(referenced.contains(needed)) << needed;
    EXPECT_NE(text.find("histogram_quantile"), std::string::npos);
}

}  // namespace
}  // namespace rampart::testing
