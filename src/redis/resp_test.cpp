// Tests of the RESP2 parser and encoder: every reply type, input split at every byte, and the limits that
// stop a broken or hostile server.
#include "redis/resp.hpp"

#include <gtest/gtest.h>

namespace rampart::redis {
namespace {

// Parses every reply in `wire`, fed in pieces of `step` bytes; the caller keeps unconsumed bytes.
std::vector<Reply> parseAll(std::string_view wire, std::size_t step, ParserLimits limits = {}) {
    ReplyParser parser(limits);
    std::vector<Reply> replies;
    std::string buffer;
    for (std::size_t offset = 0; offset < wire.size(); offset += step) {
        buffer += wire.substr(offset, step);
        for (;;) {
            std::optional<Reply> reply;
            const std::size_t used = parser.parse(buffer, reply);
            buffer.erase(0, used);
            if (!reply) break;
            replies.push_back(std::move(*reply));
        }
    }
    EXPECT_TRUE(buffer.empty());
    EXPECT_FALSE(parser.midReply());
    return replies;
}

constexpr std::string_view kEveryType =
    "+OK\r\n"
    "-ERR unknown command 'FOO'\r\n"
    ":-42\r\n"
    "$5\r\nhe\r\no\r\n"  // a bulk string may hold CRLF
    "$0\r\n\r\n"
    "$-1\r\n"
    "*-1\r\n"
    "*0\r\n"
    "*3\r\n:1\r\n*2\r\n$1\r\na\r\n*0\r\n$-1\r\n";

void expectEveryType(const std::vector<Reply>& replies) {
    ASSERT_EQ(replies.size(), 9U);
    EXPECT_EQ(replies[0].type, ReplyType::kSimpleString);
    EXPECT_TRUE(replies[0].isString("OK"));
    EXPECT_TRUE(replies[1].isError());
    EXPECT_EQ(replies[1].text, "ERR unknown command 'FOO'");
    EXPECT_EQ(replies[2].type, ReplyType::kInteger);
    EXPECT_EQ(replies[2].integer, -42);
    EXPECT_EQ(replies[3].type, ReplyType::kBulkString);
    EXPECT_EQ(replies[3].text, "he\r\no");
    EXPECT_EQ(replies[4].type, ReplyType::kBulkString);
    EXPECT_EQ(replies[4].text, "");
    EXPECT_TRUE(replies[5].isNull());
    EXPECT_TRUE(replies[6].isNull());
    EXPECT_EQ(replies[7].type, ReplyType::kArray);
    EXPECT_TRUE(replies[7].elements.empty());
    const Reply& nested = replies[8];
    ASSERT_EQ(nested.type, ReplyType::kArray);
    ASSERT_EQ(nested.elements.size(), 3U);
    EXPECT_EQ(nested.elements[0].integer, 1);
    ASSERT_EQ(nested.elements[1].elements.size(), 2U);
    EXPECT_EQ(nested.elements[1].elements[0].text, "a");
    EXPECT_EQ(nested.elements[1].elements[1].type, ReplyType::kArray);
    EXPECT_TRUE(nested.elements[2].isNull());
}

TEST(RespParser, ParsesEveryReplyTypeAtOnce) {
    expectEveryType(parseAll(kEveryType, kEveryType.size()));
}

TEST(RespParser, ParsesTheSameWhateverTheSplit) {
    for (std::size_t step = 1; step < kEveryType.size(); ++step) {
        SCOPED_TRACE("step " + std::to_string(step));
        expectEveryType(parseAll(kEveryType, step));
    }
}

TEST(RespParser, IncompleteInputConsumesOnlyWholeElements) {
    ReplyParser parser;
    std::optional<Reply> reply;
    EXPECT_EQ(parser.parse("*2\r\n:1\r\n$3\r\nab", reply), 8U);  // the header and ':1', not the partial bulk
    EXPECT_FALSE(reply);
    EXPECT_TRUE(parser.midReply());
    EXPECT_EQ(parser.parse("$3\r\nabc\r\n", reply), 9U);
    ASSERT_TRUE(reply);
    EXPECT_EQ(reply->elements[1].text, "abc");
    EXPECT_FALSE(parser.midReply());
}

TEST(RespParser, StopsAfterOneReply) {
    ReplyParser parser;
    std::optional<Reply> reply;
    EXPECT_EQ(parser.parse("+A\r\n+B\r\n", reply), 4U);
    ASSERT_TRUE(reply);
    EXPECT_EQ(reply->text, "A");
}

void expectProtocolError(std::string_view wire, ParserLimits limits = {}) {
    SCOPED_TRACE(std::string(wire.substr(0, 40)));
    ReplyParser parser(limits);
    std::optional<Reply> reply;
    EXPECT_THROW(
        {
            std::size_t used = 0;
            do {
                used = parser.parse(wire, reply);
                wire.remove_prefix(used);
            } while (used > 0 && !wire.empty());
        },
        ProtocolError);
}

TEST(RespParser, RefusesMalformedReplies) {
    expectProtocolError("?what\r\n");
    expectProtocolError(":12a\r\n");
    expectProtocolError(":\r\n");
    expectProtocolError(":+5\r\n");
    expectProtocolError(":99999999999999999999\r\n");
    expectProtocolError("$-2\r\n");
    expectProtocolError("$x\r\n");
    expectProtocolError("$3\r\nabcXY");  // no CRLF after the payload
    expectProtocolError("*-5\r\n");
    expectProtocolError("* 1\r\n");
}

TEST(RespParser, RefusesAHugeBulkStringFromItsHeaderAlone) {
    // A 1 GB bulk header: refused before a byte of payload is waited for or allocated.
    expectProtocolError("$1073741824\r\n");
    ParserLimits limits;
    limits.maxBulkBytes = 10;
    expectProtocolError("$11\r\n", limits);
    EXPECT_EQ(parseAll("$10\r\n0123456789\r\n", 3, limits).size(), 1U);
}

TEST(RespParser, RefusesDeepNesting) {
    std::string deep;
    for (int i = 0; i < 17; ++i) deep += "*1\r\n";
    expectProtocolError(deep);
    std::string allowed;
    for (int i = 0; i < 16; ++i) allowed += "*1\r\n";
    allowed += ":1\r\n";
    EXPECT_EQ(parseAll(allowed, 1).size(), 1U);
}

TEST(RespParser, RefusesTooManyElementsBeforeTheyArrive) {
    expectProtocolError("*2000000000\r\n");
    ParserLimits limits;
    limits.maxElements = 4;
    expectProtocolError("*2\r\n*2\r\n:1\r\n:2\r\n*2\r\n", limits);  // 2 + 2 + 2 > 4
}

TEST(RespParser, RefusesALineWithoutEnd) {
    ParserLimits limits;
    limits.maxLineBytes = 8;
    expectProtocolError("+123456789", limits);
    EXPECT_EQ(parseAll("+12345678\r\n", 1, limits).size(), 1U);  // exactly the limit
    // Without CRLF yet, but not over the limit: waits.
    ReplyParser parser(limits);
    std::optional<Reply> reply;
    EXPECT_EQ(parser.parse("+12345678\r", reply), 0U);
}

TEST(RespParser, RefusesAReplyLargerThanTheLimit) {
    ParserLimits limits;
    limits.maxReplyBytes = 32;
    expectProtocolError("*3\r\n$8\r\n01234567\r\n$8\r\n01234567\r\n$8\r\n01234567\r\n", limits);
    // The limit applies per reply: many small replies in a row are fine.
    std::string many;
    for (int i = 0; i < 100; ++i) many += "$8\r\n01234567\r\n";
    EXPECT_EQ(parseAll(many, 7, limits).size(), 100U);
}

TEST(RespEncoder, EncodesAnArrayOfBulkStrings) {
    using namespace std::string_literals;
    EXPECT_EQ(encodeCommand({"SET", "key", "a\0\r\nb"s}),
              "*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\na\0\r\nb\r\n"s);
    EXPECT_EQ(encodeCommand({"PING"}), "*1\r\n$4\r\nPING\r\n");
    EXPECT_EQ(encodeCommand({}), "*0\r\n");
}

}  // namespace
}  // namespace rampart::redis
