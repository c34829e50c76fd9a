// Strict JSON parsing: duplicate keys, limits and numbers no double can hold are all refused.
#include "core/strict_json.hpp"

#include <string>

#include <gtest/gtest.h>

namespace rampart {
namespace {

TEST(StrictJson, ReadsOneObject) {
    const auto object = parseStrictJsonObject(R"({"a": 1, "b": [true, null, "x"], "c": {"d": 1.5e300}})");
    ASSERT_TRUE(object.has_value());
    EXPECT_EQ(object->at("a").as_int64(), 1);
    EXPECT_EQ(object->at("c").at("d").as_double(), 1.5e300);
}

TEST(StrictJson, RefusesDuplicateKeysAtAnyDepth) {
    EXPECT_FALSE(parseStrictJsonObject(R"({"sub": "alice", "sub": "admin"})"));
    EXPECT_FALSE(parseStrictJsonObject(R"({"a": [{"k": 1, "k": 2}]})"));
    EXPECT_TRUE(parseStrictJsonObject(R"({"a": {"k": 1}, "b": {"k": 2}})"));  // one per object
}

TEST(StrictJson, RefusesWhatIsNotOneObjectWithinTheLimits) {
    EXPECT_FALSE(parseStrictJsonObject(R"([1])"));
    EXPECT_FALSE(parseStrictJsonObject(R"({} {})"));
    EXPECT_FALSE(parseStrictJsonObject("{\"a\": \"\xff\"}"));
    EXPECT_FALSE(parseStrictJsonObject(R"({"a": "0123456789"})", {.maxSize = 10, .maxDepth = 16}));
    EXPECT_TRUE(parseStrictJsonObject(R"({"a": [[1]]})", {.maxSize = 100, .maxDepth = 3}));
    EXPECT_FALSE(parseStrictJsonObject(R"({"a": [[[1]]]})", {.maxSize = 100, .maxDepth = 3}));
}

// Found by fuzz/json_body_fuzz.cpp (fuzz/regressions/json_body_fuzz/non-finite-number): Boost.JSON reads
// these as NaN or Infinity, which pass range checks ({"seconds": 0e400} met "minimum 0, maximum 3600")
// and are stored as the non-JSON words NaN and Infinity.
TEST(StrictJson, RefusesNumbersNoDoubleCanHold) {
    for (const std::string number : {"0e400", "0.0e999", "-0e400", "1e400", "-1e400", "123456789e999"}) {
        EXPECT_FALSE(parseStrictJsonObject(R"({"seconds": )" + number + "}")) << number;
        EXPECT_FALSE(parseStrictJsonObject(R"({"a": [1, {"b": )" + number + "}]}")) << number;
    }
    EXPECT_TRUE(parseStrictJsonObject(R"({"seconds": 0e10, "max": 1.7976931348623157e308, "min": 5e-324})"));
}

}  // namespace
}  // namespace rampart
