// The RESP2 reply parser and command encoder of resp.hpp.
#include "redis/resp.hpp"

#include <algorithm>
#include <charconv>

namespace rampart::redis {
namespace {

constexpr std::string_view kCrlf = "\r\n";

// A whole line of decimal digits with an optional '-' (RESP has no '+' sign and no spaces).
bool parseInteger(std::string_view text, std::int64_t& value) {
    if (text.empty()) return false;
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    return error == std::errc{} && end == text.data() + text.size();
}

}  // namespace

std::size_t ReplyParser::parse(std::string_view input, std::optional<Reply>& reply) {
    reply.reset();
    std::size_t used = 0;
    while (used < input.size()) {
        const std::string_view rest = input.substr(used);
        // A line longer than the limit is refused as soon as the limit is passed, without waiting for its
        // end.
        const std::string_view window = rest.substr(0, limits_.maxLineBytes + 1 + kCrlf.size());
        const auto lineEnd = window.find(kCrlf);
        if (lineEnd == std::string_view::npos) {
            // The line's bytes so far, without the type byte and a '\r' that may begin its CRLF.
            const std::size_t known = window.size() - 1 - (window.back() == '\r' ? 1 : 0);
            if (known > limits_.maxLineBytes) throw ProtocolError("Redis sent a line that is too long");
            return used;
        }
        const char type = rest[0];
        const std::string_view line = rest.substr(1, lineEnd - 1);
        std::size_t consumed = lineEnd + kCrlf.size();
        Reply element;
        bool finished = true;  // false: an array header, whose elements follow
        switch (type) {
            case '+':
                element.type = ReplyType::kSimpleString;
                element.text = line;
                break;
            case '-':
                element.type = ReplyType::kError;
                element.text = line;
                break;
            case ':':
                element.type = ReplyType::kInteger;
                if (!parseInteger(line, element.integer))
                    throw ProtocolError("Redis sent a malformed integer");
                break;
            case '$': {
                std::int64_t length = 0;
                if (!parseInteger(line, length) || length < -1)
                    throw ProtocolError("Redis sent a malformed bulk string length");
                if (length == -1) break;  // null bulk string
                if (static_cast<std::uint64_t>(length) > limits_.maxBulkBytes)
                    throw ProtocolError("Redis sent a bulk string larger than " +
                                        std::to_string(limits_.maxBulkBytes) + " bytes");
                const auto size = static_cast<std::size_t>(length);
                consumed += size + kCrlf.size();
                if (replyBytes_ + consumed > limits_.maxReplyBytes)
                    throw ProtocolError("Redis sent a reply larger than " +
                                        std::to_string(limits_.maxReplyBytes) + " bytes");
                if (rest.size() < consumed) return used;  // the payload is still on its way
                if (rest.substr(lineEnd + kCrlf.size() + size, kCrlf.size()) != kCrlf)
                    throw ProtocolError("Redis sent a bulk string without its terminating CRLF");
                element.type = ReplyType::kBulkString;
                element.text = rest.substr(lineEnd + kCrlf.size(), size);
                break;
            }
            case '*': {
                std::int64_t count = 0;
                if (!parseInteger(line, count) || count < -1)
                    throw ProtocolError("Redis sent a malformed array length");
                if (count == -1) break;  // null array
                if (static_cast<std::uint64_t>(count) > limits_.maxElements - replyElements_)
                    throw ProtocolError("Redis sent a reply with more than " +
                                        std::to_string(limits_.maxElements) + " array elements");
                element.type = ReplyType::kArray;
                if (count == 0) break;
                if (stack_.size() >= limits_.maxDepth)
                    throw ProtocolError("Redis sent arrays nested deeper than " +
                                        std::to_string(limits_.maxDepth));
                replyElements_ += static_cast<std::size_t>(count);
                // The declared count is the server's word: reserve a little, grow as elements really arrive.
                element.elements.reserve(std::min<std::size_t>(static_cast<std::size_t>(count), 64));
                stack_.push_back(Frame{std::move(element), static_cast<std::size_t>(count)});
                finished = false;
                break;
            }
            default:
                throw ProtocolError("Redis sent a reply of unknown type");
        }
        replyBytes_ += consumed;
        if (replyBytes_ > limits_.maxReplyBytes)
            throw ProtocolError("Redis sent a reply larger than " + std::to_string(limits_.maxReplyBytes) +
                                " bytes");
        used += consumed;
        if (finished && complete(std::move(element), reply)) return used;
    }
    return used;
}

bool ReplyParser::complete(Reply element, std::optional<Reply>& reply) {
    while (!stack_.empty()) {
        Frame& top = stack_.back();
        top.array.elements.push_back(std::move(element));
        if (--top.remaining > 0) return false;
        element = std::move(top.array);
        stack_.pop_back();
    }
    reply = std::move(element);
    replyBytes_ = 0;
    replyElements_ = 0;
    return true;
}

void appendCommand(std::string& out, const std::vector<std::string>& arguments) {
    out += '*';
    out += std::to_string(arguments.size());
    out += kCrlf;
    for (const auto& argument : arguments) {
        out += '$';
        out += std::to_string(argument.size());
        out += kCrlf;
        out += argument;
        out += kCrlf;
    }
}

std::string encodeCommand(const std::vector<std::string>& arguments) {
    std::string out;
    appendCommand(out, arguments);
    return out;
}

}  // namespace rampart::redis
