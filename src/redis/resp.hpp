// RESP2, the Redis wire protocol: an incremental reply parser with hard limits (a broken or hostile server
// gets a ProtocolError, never a 512 MB allocation) and the command encoder (an array of bulk strings).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace rampart::redis {

enum class ReplyType {
    kSimpleString,  // +OK
    kError,         // -ERR message
    kInteger,       // :42
    kBulkString,    // $3\r\nabc
    kNull,          // $-1 (null bulk string) or *-1 (null array)
    kArray,         // *2\r\n...
};

struct Reply {
    ReplyType type = ReplyType::kNull;
    std::string text;             // simple string, error message (without the '-') or bulk string
    std::int64_t integer = 0;     // integer
    std::vector<Reply> elements;  // array

    [[nodiscard]] bool isError() const { return type == ReplyType::kError; }
    [[nodiscard]] bool isNull() const { return type == ReplyType::kNull; }
    // True for a simple string or bulk string equal to `expected`.
    [[nodiscard]] bool isString(std::string_view expected) const {
        return (type == ReplyType::kSimpleString || type == ReplyType::kBulkString) && text == expected;
    }
};

// The server broke the protocol or exceeded a limit: the connection cannot be trusted any more and is
// closed. The message describes the fault and never quotes the bytes.
class ProtocolError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

// Ceilings on one reply. Rampart's commands (rate-limit scripts, PING) get replies of a few bytes; the
// defaults leave room for much more while bounding what a server can make the client allocate.
struct ParserLimits {
    std::size_t maxBulkBytes = 8 * 1024 * 1024;    // one bulk string
    std::size_t maxLineBytes = 64 * 1024;          // a simple string, error, integer or header line
    std::size_t maxElements = 1024 * 1024;         // array elements in one reply, all levels together
    std::size_t maxDepth = 16;                     // arrays nested in arrays
    std::size_t maxReplyBytes = 16 * 1024 * 1024;  // wire bytes of one reply
};

// Parses replies from a byte stream that arrives in pieces. The caller keeps the unconsumed bytes and
// passes them again, with whatever arrived since, on the next call. Elements are consumed whole, so the
// work is linear in the input however it is split.
class ReplyParser {
  public:
    explicit ReplyParser(ParserLimits limits = {}) : limits_(limits) {}

    // Consumes whole elements from the front of `input` until one reply is complete (returned in `reply`)
    // or what is left is an incomplete element (`reply` left empty). Returns the bytes consumed. Throws
    // ProtocolError; the parser must not be used after that.
    std::size_t parse(std::string_view input, std::optional<Reply>& reply);

    // True while part of a reply has been consumed (an array waits for its elements).
    [[nodiscard]] bool midReply() const { return !stack_.empty(); }

  private:
    struct Frame {
        Reply array;
        std::size_t remaining = 0;
    };

    // Adds a finished element to the array on top of the stack, or makes it the reply. Returns true when
    // the whole reply is finished.
    bool complete(Reply element, std::optional<Reply>& reply);

    ParserLimits limits_;
    std::vector<Frame> stack_;
    std::size_t replyBytes_ = 0;
    std::size_t replyElements_ = 0;
};

// The RESP encoding of a command: *N\r\n then $len\r\narg\r\n for each argument.
void appendCommand(std::string& out, const std::vector<std::string>& arguments);
std::string encodeCommand(const std::vector<std::string>& arguments);

}  // namespace rampart::redis
