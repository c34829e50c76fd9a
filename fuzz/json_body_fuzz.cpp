// libFuzzer target for JSON request bodies (api::JsonBody over parseStrictJsonObject): the bytes
// any client may POST. Invariants: nothing but ApiError escapes; a body that is accepted is one JSON object
// within the depth limit, with no duplicate key (both counted by an independent SAX pass, not by the
// parser under test), equal to what stock Boost.JSON reads from it, and without NaN or Infinity; every
// value a getter returns obeys the getter's limits; and finish() passes exactly when every field of the
// object was read.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>

#include <boost/json/basic_parser_impl.hpp>
#include <boost/json/parse.hpp>

#include "api/json_body.hpp"
#include "core/strict_json.hpp"
#include "http/problem.hpp"

namespace {

namespace json = boost::json;
using rampart::api::JsonBody;
using rampart::http::ApiError;

constexpr std::size_t kMaxDepth = 16;  // what JsonBody promises (src/api/json_body.cpp)

// Counts keys and measures nesting from parser events alone; builds no value.
struct CountingHandler {
    static constexpr std::size_t max_object_size = std::size_t(-1);
    static constexpr std::size_t max_array_size = std::size_t(-1);
    static constexpr std::size_t max_key_size = std::size_t(-1);
    static constexpr std::size_t max_string_size = std::size_t(-1);

    std::size_t keys = 0;
    std::size_t depth = 0;
    std::size_t maxDepth = 0;

    bool open() {
        maxDepth = std::max(maxDepth, ++depth);
        return true;
    }
    bool on_document_begin(json::error_code&) { return true; }
    bool on_document_end(json::error_code&) { return true; }
    bool on_object_begin(json::error_code&) { return open(); }
    bool on_object_end(std::size_t, json::error_code&) { return --depth, true; }
    bool on_array_begin(json::error_code&) { return open(); }
    bool on_array_end(std::size_t, json::error_code&) { return --depth, true; }
    bool on_key_part(json::string_view, std::size_t, json::error_code&) { return true; }
    bool on_key(json::string_view, std::size_t, json::error_code&) { return ++keys, true; }
    bool on_string_part(json::string_view, std::size_t, json::error_code&) { return true; }
    bool on_string(json::string_view, std::size_t, json::error_code&) { return true; }
    bool on_number_part(json::string_view, json::error_code&) { return true; }
    bool on_int64(std::int64_t, json::string_view, json::error_code&) { return true; }
    bool on_uint64(std::uint64_t, json::string_view, json::error_code&) { return true; }
    bool on_double(double, json::string_view, json::error_code&) { return true; }
    bool on_bool(bool, json::error_code&) { return true; }
    bool on_null(json::error_code&) { return true; }
    bool on_comment_part(json::string_view, json::error_code&) { return true; }
    bool on_comment(json::string_view, json::error_code&) { return true; }
};

// Keys in the value tree: fewer than the parser saw when one object repeated a key.
std::size_t countKeys(const json::value& value) {
    std::size_t keys = 0;
    if (value.is_object()) {
        for (const auto& [key, item] : value.get_object()) keys += 1 + countKeys(item);
    } else if (value.is_array()) {
        for (const auto& item : value.get_array()) keys += countKeys(item);
    }
    return keys;
}

// No NaN or Infinity: they pass range checks and serialize as words that are not JSON.
bool allFinite(const json::value& value) {
    if (value.is_double()) return std::isfinite(value.get_double());
    if (value.is_object()) {
        for (const auto& [key, item] : value.get_object())
            if (!allFinite(item)) return false;
    } else if (value.is_array()) {
        for (const auto& item : value.get_array())
            if (!allFinite(item)) return false;
    }
    return true;
}

// The fields readFields asks for; finish() must refuse any other.
constexpr std::string_view kNames[] = {"task", "queue",   "priority", "timeout_seconds", "big", "note",
                                       "tags", "enabled", "args",     "password",        "jobs"};

bool onlyKnownFields(const json::object& object) {
    for (const auto& [key, value] : object)
        if (std::find(std::begin(kNames), std::end(kNames), std::string_view(key)) == std::end(kNames))
            return false;
    return true;
}

bool finishes(JsonBody& body) {
    try {
        body.finish({"id", "owner", "role"});
        return true;
    } catch (const ApiError&) {
        return false;
    }
}

// Each getter of the job submission and schedule bodies, with the limits checked on what it returns. A
// getter may refuse its field (ApiError); the others are still read, as a later request could.
void readFields(JsonBody& body) {
    auto attempt = [&](auto&& read) {
        try {
            read();
        } catch (const ApiError&) {
            // Refused field: still counts as read (finish() reports only fields nobody asked for).
        }
    };
    attempt([&] {
        const std::string task = body.requiredString("task", 64);
        if (task.size() > 64) std::abort();
    });
    attempt([&] {
        if (auto queue = body.optionalString("queue", 64); queue && queue->size() > 64) std::abort();
    });
    attempt([&] {
        if (auto priority = body.optionalInt("priority", -100, 100);
            priority && (*priority < -100 || *priority > 100))
            std::abort();
    });
    attempt([&] {
        if (auto timeout = body.optionalInt("timeout_seconds", 1, 86400);
            timeout && (*timeout < 1 || *timeout > 86400))
            std::abort();
    });
    attempt([&] { (void)body.optionalInt("big", INT64_MIN, INT64_MAX); });
    attempt([&] {
        auto note = body.nullableString("note", 16);
        if (note && *note && (*note)->size() > 16) std::abort();
    });
    attempt([&] {
        if (auto tags = body.optionalStringArray("tags", 4, 8)) {
            if (tags->size() > 4) std::abort();
            for (const auto& tag : *tags)
                if (tag.size() > 8) std::abort();
        }
    });
    attempt([&] { (void)body.optionalBool("enabled"); });
    attempt([&] { (void)body.optionalJson("args"); });
    attempt([&] { (void)body.requiredSecret("password", 128); });
    attempt([&] {
        if (auto items = body.optionalObjectArray("jobs", 3)) {
            if (items->size() > 3) std::abort();
            for (std::size_t i = 0; i < items->size(); ++i) {
                const bool known = onlyKnownFields((*items)[i]);
                JsonBody item(std::move((*items)[i]), "/jobs/" + std::to_string(i));
                readFields(item);
                if (finishes(item) != known) std::abort();
            }
        }
    });
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    rampart::http::Exchange ex;
    ex.request.body() = std::string(text);

    std::optional<JsonBody> body;
    try {
        body.emplace(ex);
    } catch (const ApiError&) {
        return 0;  // refused as a whole: nothing further to hold
    }

    // Accepted: an independent pass over the same bytes must agree that it is valid JSON, one object, no
    // deeper than the limit, and that no key repeats (the tree holds every key the parser saw).
    json::basic_parser<CountingHandler> counter(json::parse_options{.max_depth = 1000});
    json::error_code ec;
    const std::size_t used = counter.write_some(false, text.data(), text.size(), ec);
    if (ec || used != text.size() || !counter.done()) std::abort();
    if (counter.handler().maxDepth > kMaxDepth) std::abort();
    json::parse_options stockOptions;
    stockOptions.max_depth = 1000;
    const json::value stock = json::parse(text, ec, {}, stockOptions);
    if (ec || !stock.is_object()) std::abort();
    if (countKeys(stock) != counter.handler().keys) std::abort();

    // The parser under test builds the same object as stock Boost.JSON.
    const auto strict = rampart::parseStrictJsonObject(
        text, {.maxSize = std::max<std::size_t>(text.size(), 1), .maxDepth = kMaxDepth});
    if (!strict || *strict != stock.get_object() || !allFinite(stock)) std::abort();

    readFields(*body);  // catches every getter's ApiError itself
    // finish() refuses exactly the bodies with a field nobody read.
    if (finishes(*body) != onlyKnownFields(stock.get_object())) std::abort();
    return 0;
}
