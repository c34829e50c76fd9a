// libFuzzer target for the RESP reply parser (src/redis/resp.hpp): bytes from a hostile Redis server.
// Invariants: no crash, nothing but ProtocolError escapes, consumption never passes the input, and the
// replies do not depend on how the bytes were split (all at once vs. the split the first byte picks).
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "redis/resp.hpp"

namespace {

using rampart::redis::ParserLimits;
using rampart::redis::ProtocolError;
using rampart::redis::Reply;
using rampart::redis::ReplyParser;

// Small limits so that the fuzzer reaches them.
ParserLimits fuzzLimits() {
    ParserLimits limits;
    limits.maxBulkBytes = 1024;
    limits.maxLineBytes = 256;
    limits.maxElements = 512;
    limits.maxDepth = 8;
    limits.maxReplyBytes = 4096;
    return limits;
}

bool sameReply(const Reply& a, const Reply& b) {
    if (a.type != b.type || a.text != b.text || a.integer != b.integer ||
        a.elements.size() != b.elements.size())
        return false;
    for (std::size_t i = 0; i < a.elements.size(); ++i)
        if (!sameReply(a.elements[i], b.elements[i])) return false;
    return true;
}

// Every reply in `wire` fed `step` bytes at a time; `failed` says whether the parser refused the input.
std::vector<Reply> parseAll(std::string_view wire, std::size_t step, bool& failed) {
    ReplyParser parser(fuzzLimits());
    std::vector<Reply> replies;
    std::string buffer;
    failed = false;
    try {
        for (std::size_t offset = 0; offset < wire.size(); offset += step) {
            buffer += wire.substr(offset, step);
            for (;;) {
                std::optional<Reply> reply;
                const std::size_t used = parser.parse(buffer, reply);
                if (used > buffer.size()) std::abort();
                buffer.erase(0, used);
                if (!reply) break;
                replies.push_back(std::move(*reply));
            }
        }
    } catch (const ProtocolError&) {
        failed = true;
    }
    return replies;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    const std::size_t step = 1 + data[0] % 16;
    const std::string_view wire(reinterpret_cast<const char*>(data) + 1, size - 1);
    if (wire.empty()) return 0;
    bool wholeFailed = false;
    bool splitFailed = false;
    const auto whole = parseAll(wire, wire.size(), wholeFailed);
    const auto split = parseAll(wire, step, splitFailed);
    // A refusal may come at a different point (a limit checked before vs. after more bytes arrived), so
    // only the replies both finished before any refusal must agree.
    const std::size_t common = std::min(whole.size(), split.size());
    if (!wholeFailed && !splitFailed && whole.size() != split.size()) std::abort();
    for (std::size_t i = 0; i < common; ++i)
        if (!sameReply(whole[i], split[i])) std::abort();
    return 0;
}
