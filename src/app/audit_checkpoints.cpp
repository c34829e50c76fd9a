// Audit checkpoints: one signed JSON line per checkpoint, appended to a file outside the database.
#include "app/audit_checkpoints.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <stdexcept>
#include <vector>

#include <fmt/format.h>
#include <boost/json/serialize.hpp>

#include "core/base64url.hpp"
#include "core/sha256.hpp"
#include "core/strict_json.hpp"
#include "obs/audit_keys.hpp"

namespace rampart {
namespace {

// What the signature covers: every field of the line but the signature, in a fixed order, with a
// version so that a future format cannot be confused with this one.
std::string signedText(const AuditCheckpoint& checkpoint, std::string_view publicKey) {
    return fmt::format("rampart audit checkpoint v1\n{}\n{}\n{}\n{}\n{}", checkpoint.seq,
                       checkpoint.keyedFrom, base64UrlEncode(checkpoint.hash.data(), checkpoint.hash.size()),
                       checkpoint.time, publicKey);
}

// The first 8 bytes of SHA-256 of the public key, in hex: a name for the key in messages.
std::string keyId(std::span<const std::uint8_t> publicKey) {
    const auto digest =
        sha256(std::string_view(reinterpret_cast<const char*>(publicKey.data()), publicKey.size()));
    return hexLower(std::span(digest).first(8));
}

std::string errnoText(int error) {
    return std::strerror(error);
}

void appendLine(const std::filesystem::path& dir, const std::string& line) {
    std::error_code ec;
    if (!std::filesystem::is_directory(dir, ec)) {
        std::filesystem::create_directories(dir.parent_path().empty() ? "." : dir.parent_path(), ec);
        if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
            throw std::runtime_error(
                fmt::format("cannot create the checkpoint directory {}: {}", dir.string(), errnoText(errno)));
        }
    }
    const std::filesystem::path path = dir / kAuditCheckpointFile;
    const int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        throw std::runtime_error(fmt::format("cannot open {}: {}", path.string(), errnoText(errno)));
    }
    // One write of the whole line: with O_APPEND, two writers never interleave within a line.
    const ssize_t written = ::write(fd, line.data(), line.size());
    const int writeError = errno;
    const bool synced = written == static_cast<ssize_t>(line.size()) && ::fsync(fd) == 0;
    const int syncError = errno;
    ::close(fd);
    if (written != static_cast<ssize_t>(line.size())) {
        throw std::runtime_error(fmt::format("cannot append to {}: {}", path.string(),
                                             written < 0 ? errnoText(writeError) : "short write"));
    }
    if (!synced)
        throw std::runtime_error(fmt::format("cannot sync {}: {}", path.string(), errnoText(syncError)));
}

struct CheckpointLine {
    AuditCheckpoint checkpoint;
    std::string publicKey;  // base64url, as written
    std::string signature;  // base64url, as written
};

std::optional<CheckpointLine> parseLine(std::string_view text) {
    auto object = parseStrictJsonObject(text);
    if (!object || object->size() != 7) return std::nullopt;
    const auto* seq = object->if_contains("seq");
    const auto* keyedFrom = object->if_contains("keyed_from");
    const auto* hash = object->if_contains("hash");
    const auto* time = object->if_contains("time");
    const auto* id = object->if_contains("key_id");
    const auto* publicKey = object->if_contains("public_key");
    const auto* signature = object->if_contains("signature");
    if (!seq || !seq->is_int64() || !keyedFrom || !keyedFrom->is_int64() || !hash || !hash->is_string() ||
        !time || !time->is_string() || !id || !id->is_string() || !publicKey || !publicKey->is_string() ||
        !signature || !signature->is_string()) {
        return std::nullopt;
    }
    const auto hashBytes = base64UrlDecode(hash->get_string());
    if (!hashBytes || hashBytes->size() != obs::AuditHash{}.size()) return std::nullopt;
    CheckpointLine line;
    line.checkpoint.seq = seq->get_int64();
    line.checkpoint.keyedFrom = keyedFrom->get_int64();
    std::copy(hashBytes->begin(), hashBytes->end(), line.checkpoint.hash.begin());
    line.checkpoint.time = std::string(time->get_string());
    line.publicKey = std::string(publicKey->get_string());
    line.signature = std::string(signature->get_string());
    return line;
}

AuditCheckResult failed(std::string message) {
    return AuditCheckResult{.ok = false, .message = std::move(message)};
}

std::string legacyNote(const store::AuditVerification& chain) {
    const std::int64_t legacy = std::min(chain.keyedFrom - 1, chain.lastId);
    if (legacy <= 0) return {};
    return fmt::format(" (rows 1..{} predate the keyed chain: plain SHA-256 only)", legacy);
}

}  // namespace

AuditCheckpoint writeAuditCheckpoint(store::Store& store, const SecretString& secretKey,
                                     const std::filesystem::path& dir) {
    const obs::AuditCheckpointKey key(secretKey);
    const store::AuditVerification chain = store.verifyAudit({});
    if (!chain.ok) {
        throw std::runtime_error(
            fmt::format("the audit log is not intact (row {}: {}); no checkpoint written",
                        chain.firstBadId.value_or(0), chain.problem));
    }
    AuditCheckpoint checkpoint{.seq = chain.lastId,
                               .keyedFrom = chain.keyedFrom,
                               .hash = chain.lastHash,
                               .time = obs::formatAuditTime(std::chrono::system_clock::now())};
    const std::string publicKey = base64UrlEncode(key.publicKey().data(), key.publicKey().size());
    const auto signature = key.sign(signedText(checkpoint, publicKey));
    boost::json::object line;
    line["seq"] = checkpoint.seq;
    line["keyed_from"] = checkpoint.keyedFrom;
    line["hash"] = base64UrlEncode(checkpoint.hash.data(), checkpoint.hash.size());
    line["time"] = checkpoint.time;
    line["key_id"] = keyId(key.publicKey());
    line["public_key"] = publicKey;
    line["signature"] = base64UrlEncode(signature.data(), signature.size());
    appendLine(dir, boost::json::serialize(line) + "\n");
    return checkpoint;
}

AuditCheckResult checkAuditLog(store::Store& store, const SecretString& secretKey,
                               const std::optional<std::filesystem::path>& checkpointDir) {
    std::vector<CheckpointLine> lines;
    std::optional<obs::AuditCheckpointKey> key;
    std::string expectedKey;
    if (checkpointDir) {
        key.emplace(secretKey);
        expectedKey = base64UrlEncode(key->publicKey().data(), key->publicKey().size());
        const std::filesystem::path path = *checkpointDir / kAuditCheckpointFile;
        std::ifstream in(path);
        if (!in) return failed(fmt::format("no checkpoint file {}: checkpoints missing", path.string()));
        std::string text;
        for (int number = 1; std::getline(in, text); ++number) {
            auto line = parseLine(text);
            if (!line)
                return failed(fmt::format("checkpoint line {} of {} is malformed", number, path.string()));
            // Pinned to the key derived from the secret key: a line signed by any other key is forged.
            if (line->publicKey != expectedKey) {
                return failed(
                    fmt::format("checkpoint line {} is signed by another key than this server's ({})", number,
                                keyId(key->publicKey())));
            }
            const auto signature = base64UrlDecode(line->signature);
            const auto signatureBytes = signature
                                            ? std::vector<std::uint8_t>(signature->begin(), signature->end())
                                            : std::vector<std::uint8_t>{};
            if (!obs::verifyAuditSignature(key->publicKey(), signedText(line->checkpoint, line->publicKey),
                                           signatureBytes)) {
                return failed(
                    fmt::format("checkpoint line {}: the signature does not verify (the checkpoint was "
                                "changed or forged)",
                                number));
            }
            lines.push_back(std::move(*line));
        }
        if (lines.empty())
            return failed(fmt::format("{} holds no checkpoint: checkpoints missing", path.string()));
    }

    std::vector<std::int64_t> seqs;
    for (const auto& line : lines) seqs.push_back(line.checkpoint.seq);
    const store::AuditVerification chain = store.verifyAudit(seqs);
    if (!chain.ok) {
        return failed(
            fmt::format("audit log tampered at row {}: {}", chain.firstBadId.value_or(0), chain.problem));
    }
    for (std::size_t i = 0; i < lines.size(); ++i) {
        const AuditCheckpoint& checkpoint = lines[i].checkpoint;
        const std::size_t number = i + 1;
        if (checkpoint.seq > chain.lastId) {
            return failed(
                fmt::format("audit log truncated: checkpoint line {} records row {}, but the log ends "
                            "at row {} (rows were removed)",
                            number, checkpoint.seq, chain.lastId));
        }
        if (checkpoint.keyedFrom != chain.keyedFrom) {
            return failed(
                fmt::format("audit log tampered: its keyed chain starts at row {}, but checkpoint line {} "
                            "says row {}",
                            chain.keyedFrom, number, checkpoint.keyedFrom));
        }
        obs::AuditHash actual{};  // an empty log's head
        if (checkpoint.seq != 0) {
            const auto found = chain.hashesAt.find(checkpoint.seq);
            if (found == chain.hashesAt.end()) {
                return failed(fmt::format("audit log tampered: row {} of checkpoint line {} is missing",
                                          checkpoint.seq, number));
            }
            actual = found->second;
        }
        if (actual != checkpoint.hash) {
            return failed(fmt::format("audit log rewritten: row {}'s hash differs from checkpoint line {}",
                                      checkpoint.seq, number));
        }
    }
    std::string message = fmt::format("audit log intact: {} rows", chain.rows);
    if (checkpointDir) message += fmt::format(", {} checkpoints agree", lines.size());
    return AuditCheckResult{.ok = true, .message = message + legacyNote(chain)};
}

}  // namespace rampart
