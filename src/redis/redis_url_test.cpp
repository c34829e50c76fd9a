// Tests of Redis URL parsing: the accepted forms, the refused ones, and that neither redacted() nor any
// error message ever holds the password.
#include "redis/redis_url.hpp"

#include <gtest/gtest.h>

namespace rampart::redis {
namespace {

constexpr std::string_view kPassword = "s3cr3t-P@ss";

TEST(RedisUrl, ParsesUserPasswordHostPortAndDatabase) {
    const auto url = parseRedisUrl("rediss://limiter:s3cr3t-P%40ss@redis.internal:6380/2");
    EXPECT_TRUE(url.tls);
    EXPECT_EQ(url.user, "limiter");
    EXPECT_EQ(url.password.reveal(), kPassword);
    EXPECT_EQ(url.host, "redis.internal");
    EXPECT_FALSE(url.hostIsAddress);
    EXPECT_EQ(url.port, 6380);
    EXPECT_EQ(url.database, 2U);
    EXPECT_EQ(url.redacted(), "rediss://limiter:***@redis.internal:6380/2");
    EXPECT_FALSE(url.isLoopback());
}

TEST(RedisUrl, DefaultsAndPasswordOnly) {
    const auto url = parseRedisUrl("redis://:pw@127.0.0.1");
    EXPECT_FALSE(url.tls);
    EXPECT_TRUE(url.user.empty());
    EXPECT_EQ(url.password.reveal(), "pw");
    EXPECT_EQ(url.port, RedisUrl::kDefaultPort);
    EXPECT_EQ(url.database, 0U);
    EXPECT_TRUE(url.hostIsAddress);
    EXPECT_TRUE(url.isLoopback());
    EXPECT_EQ(url.redacted(), "redis://:***@127.0.0.1:6379");

    const auto bare = parseRedisUrl("redis://localhost/");
    EXPECT_TRUE(bare.password.empty());
    EXPECT_TRUE(bare.isLoopback());
    EXPECT_EQ(bare.redacted(), "redis://localhost:6379");
}

TEST(RedisUrl, ParsesIpv6Literals) {
    const auto url = parseRedisUrl("rediss://u:p@[::1]:7000");
    EXPECT_EQ(url.host, "::1");
    EXPECT_TRUE(url.hostIsAddress);
    EXPECT_TRUE(url.isLoopback());
    EXPECT_EQ(url.authority(), "[::1]:7000");
    EXPECT_EQ(parseRedisUrl("redis://[2001:db8::5]").isLoopback(), false);
}

TEST(RedisUrl, RefusesBadUrlsWithoutQuotingThem) {
    for (const std::string text :
         {"http://u:s3cr3t-P%40ss@host", "redis://u:s3cr3t-P%40ss@", "redis://u:s3cr3t-P%40ss@host:0",
          "redis://u:s3cr3t-P%40ss@host:70000", "redis://u:s3cr3t-P%40ss@host:12ab",
          "redis://u:s3cr3t-P%40ss@host/db", "redis://u:s3cr3t-P%40ss@host/1/2",
          "redis://u:s3cr3t-P%40ss@host?ssl=true", "redis://u:s3cr3t-P%40ss@host#x",
          "redis://s3cr3t-P%40ss@host", "redis://u:s3cr3t-P%40ss@host with space", "s3cr3t-P%40ss",
          "redis:s3cr3t-P%40ss"}) {
        SCOPED_TRACE(text);
        try {
            parseRedisUrl(text);
            ADD_FAILURE() << "accepted";
        } catch (const InvalidRedisUrl& error) {
            const std::string message = error.what();
            EXPECT_EQ(message.find("s3cr3t"), std::string::npos) << message;
            EXPECT_EQ(message.find("P%40ss"), std::string::npos) << message;
            EXPECT_EQ(message.find("P@ss"), std::string::npos) << message;
        }
    }
}

TEST(RedisUrl, RedactedNeverHoldsThePassword) {
    for (const std::string text : {"redis://user:s3cr3t-P%40ss@h:1/3", "rediss://:s3cr3t-P%40ss@[::1]"}) {
        const auto url = parseRedisUrl(text);
        EXPECT_EQ(url.redacted().find("s3cr3t"), std::string::npos) << url.redacted();
        EXPECT_NE(url.redacted().find("***"), std::string::npos);
    }
}

}  // namespace
}  // namespace rampart::redis
