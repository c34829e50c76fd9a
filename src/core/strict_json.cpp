// A Boost.JSON SAX handler that builds the value like boost::json::parser does and refuses duplicate keys.
#include "core/strict_json.hpp"

#include <cmath>
#include <string>
#include <unordered_set>
#include <vector>

#include <boost/json/basic_parser_impl.hpp>
#include <boost/json/value_stack.hpp>

namespace rampart {
namespace {

namespace json = boost::json;

// Mirrors boost::json::detail::handler, plus one set of keys per open object.
class DuplicateRefusingHandler {
  public:
    static constexpr std::size_t max_object_size = 4096;
    static constexpr std::size_t max_array_size = 4096;
    static constexpr std::size_t max_key_size = 1024;
    static constexpr std::size_t max_string_size = 64 * 1024;

    json::value_stack stack;

    bool on_document_begin(json::error_code&) { return true; }
    bool on_document_end(json::error_code&) { return true; }
    bool on_object_begin(json::error_code&) {
        keys_.emplace_back();
        return true;
    }
    bool on_object_end(std::size_t n, json::error_code&) {
        keys_.pop_back();
        stack.push_object(n);
        return true;
    }
    bool on_array_begin(json::error_code&) { return true; }
    bool on_array_end(std::size_t n, json::error_code&) {
        stack.push_array(n);
        return true;
    }
    bool on_key_part(json::string_view s, std::size_t, json::error_code&) {
        key_.append(s.data(), s.size());
        stack.push_chars(s);
        return true;
    }
    bool on_key(json::string_view s, std::size_t, json::error_code& ec) {
        key_.append(s.data(), s.size());
        const bool fresh = keys_.back().insert(std::move(key_)).second;
        key_.clear();
        if (!fresh) {
            // Any error code stops the parser; the caller only needs to know that it failed.
            ec = json::error::syntax;
            return false;
        }
        stack.push_key(s);
        return true;
    }
    bool on_string_part(json::string_view s, std::size_t, json::error_code&) {
        stack.push_chars(s);
        return true;
    }
    bool on_string(json::string_view s, std::size_t, json::error_code&) {
        stack.push_string(s);
        return true;
    }
    bool on_number_part(json::string_view, json::error_code&) { return true; }
    bool on_int64(std::int64_t i, json::string_view, json::error_code&) {
        stack.push_int64(i);
        return true;
    }
    bool on_uint64(std::uint64_t u, json::string_view, json::error_code&) {
        stack.push_uint64(u);
        return true;
    }
    bool on_double(double d, json::string_view, json::error_code& ec) {
        // Boost.JSON 1.81 reads 1e400 as Infinity and 0e400 as NaN, which it then writes out as the
        // non-JSON words Infinity and NaN, and which pass every range check (NaN < 0 and NaN > 3600 are
        // both false). A number no double can hold is refused.
        if (!std::isfinite(d)) {
            ec = json::error::syntax;
            return false;
        }
        stack.push_double(d);
        return true;
    }
    bool on_bool(bool b, json::error_code&) {
        stack.push_bool(b);
        return true;
    }
    bool on_null(json::error_code&) {
        stack.push_null();
        return true;
    }
    bool on_comment_part(json::string_view, json::error_code&) { return true; }
    bool on_comment(json::string_view, json::error_code&) { return true; }

  private:
    std::vector<std::unordered_set<std::string>> keys_;
    std::string key_;
};

}  // namespace

std::optional<json::object> parseStrictJsonObject(std::string_view text, const StrictJsonLimits& limits) {
    if (text.size() > limits.maxSize) return std::nullopt;
    try {
        json::parse_options options;
        options.max_depth = limits.maxDepth;
        json::basic_parser<DuplicateRefusingHandler> parser(options);
        parser.handler().stack.reset();
        json::error_code ec;
        const std::size_t used = parser.write_some(false, text.data(), text.size(), ec);
        if (ec || used != text.size() || !parser.done()) return std::nullopt;
        json::value value = parser.handler().stack.release();
        if (!value.is_object()) return std::nullopt;
        return std::move(value.as_object());
    } catch (const std::exception&) {
        // Only allocation failure gets here (the parser reports bad input through ec).
        return std::nullopt;
    }
}

}  // namespace rampart
