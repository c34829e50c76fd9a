// Rates in DRF's notation: what is accepted, what is printed back, and junk refused with a reason.
#include "ratelimit/rate.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace rampart::ratelimit {
namespace {

using ::testing::HasSubstr;

TEST(ParseRate, DrfNotation) {
    EXPECT_EQ(parseRate("100/hour"), (Rate{100, std::chrono::hours(1)}));
    EXPECT_EQ(parseRate("5/minute"), (Rate{5, std::chrono::minutes(1)}));
    EXPECT_EQ(parseRate("10/second"), (Rate{10, std::chrono::seconds(1)}));
    EXPECT_EQ(parseRate("1000/day"), (Rate{1000, std::chrono::hours(24)}));
    EXPECT_EQ(parseRate("3/s"), (Rate{3, std::chrono::seconds(1)}));
    EXPECT_EQ(parseRate("3/min"), (Rate{3, std::chrono::minutes(1)}));
    EXPECT_EQ(parseRate("3/h"), (Rate{3, std::chrono::hours(1)}));
    EXPECT_EQ(parseRate("3/d"), (Rate{3, std::chrono::hours(24)}));
    EXPECT_EQ(parseRate("7/hours"), (Rate{7, std::chrono::hours(1)}));
}

TEST(ParseRate, PeriodWithACount) {
    EXPECT_EQ(parseRate("100/5m"), (Rate{100, std::chrono::minutes(5)}));
    EXPECT_EQ(parseRate("10/30s"), (Rate{10, std::chrono::seconds(30)}));
    EXPECT_EQ(parseRate("1000/2h"), (Rate{1000, std::chrono::hours(2)}));
    EXPECT_EQ(parseRate("1/30d"), (Rate{1, std::chrono::hours(24 * 30)}));
}

TEST(ParseRate, TextReadsBack) {
    for (const char* text : {"100/hour", "5/minute", "10/second", "1000/day", "100/300s"})
        EXPECT_EQ(parseRate(text).text(), text);
    EXPECT_EQ(parseRate("100/5m").text(), "100/300s");
    EXPECT_EQ(parseRate(parseRate("7/2h").text()), parseRate("7/2h"));
}

TEST(ParseRate, IntervalIsTheWindowOverTheQuota) {
    EXPECT_EQ(parseRate("100/hour").interval(), std::chrono::seconds(36));
    EXPECT_EQ(parseRate("5/minute").interval(), std::chrono::seconds(12));
    EXPECT_EQ(parseRate("1000000/second").interval(), std::chrono::microseconds(1));
}

TEST(ParseRate, RefusesJunkWithAReason) {
    for (const char* junk : {"",
                             "100",
                             "100/",
                             "/hour",
                             "abc/hour",
                             "-1/hour",
                             "+1/hour",
                             "1.5/hour",
                             " 100/hour",
                             "100 /hour",
                             "100/ hour",
                             "100/hour ",
                             "100/Hour",
                             "100/fortnight",
                             "100/hourly",
                             "100/0m",
                             "100/-5m",
                             "100/5",
                             "100/m5",
                             "100//hour",
                             "100/hour/2",
                             "0x10/hour",
                             "99999999999999999999/hour",
                             "100/99999999999999999999s"}) {
        SCOPED_TRACE(junk);
        EXPECT_THROW((void)parseRate(junk), RateError);
    }
}

TEST(ParseRate, RefusesZeroTooFastAndTooLong) {
    try {
        (void)parseRate("0/hour");
        FAIL() << "0/hour accepted";
    } catch (const RateError& error) {
        EXPECT_THAT(error.what(), HasSubstr("at least 1"));
        EXPECT_THAT(error.what(), HasSubstr("'0/hour'"));
    }
    EXPECT_THROW((void)parseRate("1000001/second"), RateError);
    EXPECT_THROW((void)parseRate("2000000000/second"), RateError);
    EXPECT_THROW((void)parseRate("1/31d"), RateError);
    EXPECT_THROW((void)parseRate("1/721h"), RateError);
    EXPECT_NO_THROW((void)parseRate("1/720h"));
}

TEST(ParseOptionalRate, OffMeansNoLimit) {
    EXPECT_FALSE(parseOptionalRate("off").has_value());
    EXPECT_FALSE(parseOptionalRate("none").has_value());
    EXPECT_FALSE(parseOptionalRate("unlimited").has_value());
    EXPECT_EQ(parseOptionalRate("5/minute"), (Rate{5, std::chrono::minutes(1)}));
    EXPECT_THROW((void)parseOptionalRate("OFF"), RateError);
    EXPECT_THROW((void)parseOptionalRate(""), RateError);
}

}  // namespace
}  // namespace rampart::ratelimit
