// Sealing and opening backup files (the format is described in docs/operations.md, "Backups").
//
//   "RAMPBKUP"  version (1 byte, 1)  flags (1 byte: 1 = encrypted)
//   encrypted only: key check (16 bytes)  secretstream header (24 bytes)
//   records: length (4 bytes, little-endian) + payload, until the one tagged final
//
// A payload is a chunk sealed by crypto_secretstream_xchacha20poly1305 (its tag inside), or in a plain
// file the tag byte then the chunk. Chunks are the database in order, tagged "message"; the last is
// tagged "final" and holds the database's length (8 bytes, little-endian) and BLAKE2b-256. Every
// chunk is sealed with the header before it as additional data, so the header cannot be edited
// either. The key check is a BLAKE2b MAC of a fixed text under the key: it tells a wrong key from a
// damaged file before any chunk is opened.
#include "app/backup_archive.hpp"

#include <array>
#include <cerrno>
#include <cstring>
#include <vector>

#include <fcntl.h>
#include <fmt/format.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/sodium_init.hpp"

namespace rampart {
namespace {

constexpr std::string_view kMagic = "RAMPBKUP";
constexpr std::uint8_t kFormatVersion = 1;
constexpr std::uint8_t kFlagEncrypted = 1;
constexpr std::size_t kKeyBytes = crypto_secretstream_xchacha20poly1305_KEYBYTES;
constexpr std::size_t kKeyCheckBytes = 16;
constexpr std::string_view kKeyCheckText = "rampart backup key check, format 1";
constexpr std::size_t kChunkBytes = 64 * 1024;
constexpr std::size_t kChecksumBytes = crypto_generichash_BYTES;  // 32: BLAKE2b-256
constexpr std::size_t kFinalBytes = 8 + kChecksumBytes;
constexpr std::uint8_t kTagMessage = crypto_secretstream_xchacha20poly1305_TAG_MESSAGE;
constexpr std::uint8_t kTagFinal = crypto_secretstream_xchacha20poly1305_TAG_FINAL;
// The longest payload a record may announce; anything longer is damage, not a reason to allocate.
constexpr std::size_t kMaxPayload = kChunkBytes + crypto_secretstream_xchacha20poly1305_ABYTES + 1;

static_assert(kTagMessage != kTagFinal);

using Bytes = std::vector<unsigned char>;

// Wipes a buffer that held key or database bytes when it goes away.
struct Wiped {
    Bytes bytes;
    explicit Wiped(std::size_t size) : bytes(size) {}
    ~Wiped() { sodium_memzero(bytes.data(), bytes.size()); }
    Wiped(const Wiped&) = delete;
    Wiped& operator=(const Wiped&) = delete;
    unsigned char* data() { return bytes.data(); }
    [[nodiscard]] std::size_t size() const { return bytes.size(); }
};

const unsigned char* keyBytes(const SecretString& key) {
    if (key.size() != kKeyBytes) throw BackupError("a backup key is 32 bytes");
    return reinterpret_cast<const unsigned char*>(key.reveal().data());
}

std::array<unsigned char, kKeyCheckBytes> keyCheck(const SecretString& key) {
    std::array<unsigned char, kKeyCheckBytes> check{};
    crypto_generichash(check.data(), check.size(),
                       reinterpret_cast<const unsigned char*>(kKeyCheckText.data()), kKeyCheckText.size(),
                       keyBytes(key), kKeyBytes);
    return check;
}

void putLength(std::ostream& out, std::uint64_t value, int bytes) {
    for (int i = 0; i < bytes; ++i) out.put(static_cast<char>((value >> (8 * i)) & 0xff));
}

std::uint64_t getLength(const unsigned char* bytes, int count) {
    std::uint64_t value = 0;
    for (int i = count - 1; i >= 0; --i) value = (value << 8) | bytes[i];
    return value;
}

void writeBytes(std::ostream& out, const unsigned char* data, std::size_t size) {
    out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
}

// Reads exactly `size` bytes; false when the stream ends first.
bool readBytes(std::istream& in, unsigned char* data, std::size_t size) {
    in.read(reinterpret_cast<char*>(data), static_cast<std::streamsize>(size));
    return static_cast<std::size_t>(in.gcount()) == size;
}

std::string hex(const unsigned char* data, std::size_t size) {
    std::string text(size * 2 + 1, '\0');
    sodium_bin2hex(text.data(), text.size(), data, size);
    text.pop_back();
    return text;
}

[[noreturn]] void damaged(std::string_view why) {
    throw BackupError(fmt::format("the backup file is damaged ({}); nothing was restored", why));
}

// The fixed header: what every chunk is sealed with as additional data.
struct Header {
    std::string bytes;  // magic, version, flags, and the key check when encrypted
    bool encrypted = false;
};

Header readHeader(std::istream& in) {
    std::array<unsigned char, kMagic.size() + 2> start{};
    if (!readBytes(in, start.data(), start.size()) ||
        std::memcmp(start.data(), kMagic.data(), kMagic.size()) != 0) {
        throw BackupError("not a Rampart backup file");
    }
    const std::uint8_t version = start[kMagic.size()];
    const std::uint8_t flags = start[kMagic.size() + 1];
    if (version != kFormatVersion) {
        throw BackupError(fmt::format("the backup file has format version {}; this rampart reads version {}",
                                      version, kFormatVersion));
    }
    if ((flags & ~kFlagEncrypted) != 0) damaged("unknown flags");
    Header header{.bytes = std::string(start.begin(), start.end()),
                  .encrypted = (flags & kFlagEncrypted) != 0};
    if (header.encrypted) {
        std::array<unsigned char, kKeyCheckBytes> check{};
        if (!readBytes(in, check.data(), check.size())) damaged("cut short");
        header.bytes.append(check.begin(), check.end());
    }
    return header;
}

}  // namespace

SecretString readBackupKeyFile(const std::filesystem::path& file) {
    const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        throw BackupError(
            fmt::format("cannot read the key file {}: {}", file.string(), std::strerror(errno)));
    struct stat info {};
    if (::fstat(fd, &info) != 0 || !S_ISREG(info.st_mode)) {
        ::close(fd);
        throw BackupError(fmt::format("the key file {} is not a regular file", file.string()));
    }
    if ((info.st_mode & 077) != 0) {
        ::close(fd);
        throw BackupError(fmt::format("the key file {} is open to other accounts (mode {:04o}); chmod 600 it",
                                      file.string(), info.st_mode & 07777));
    }
    Wiped content(2 * kKeyBytes + 3);  // room for 64 hex digits and a CR LF, plus one to see more
    std::size_t size = 0;
    while (size < content.size()) {
        const ssize_t n = ::read(fd, content.data() + size, content.size() - size);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        size += static_cast<std::size_t>(n);
    }
    ::close(fd);
    const std::string_view wrongShape =
        "must hold 32 bytes, or 64 hex digits (rampart admin backup-key makes one)";
    if (size == kKeyBytes)
        return SecretString(std::string(reinterpret_cast<const char*>(content.data()), size));
    while (size > 0 && (content.data()[size - 1] == '\n' || content.data()[size - 1] == '\r')) --size;
    Wiped key(kKeyBytes);
    std::size_t decoded = 0;
    const char* end = nullptr;
    if (size != 2 * kKeyBytes ||
        sodium_hex2bin(key.data(), key.size(), reinterpret_cast<const char*>(content.data()), size, nullptr,
                       &decoded, &end) != 0 ||
        decoded != kKeyBytes) {
        throw BackupError(fmt::format("the key file {} {}", file.string(), wrongShape));
    }
    return SecretString(std::string(reinterpret_cast<const char*>(key.data()), kKeyBytes));
}

void createBackupKeyFile(const std::filesystem::path& file) {
    ensureSodiumInitialised();
    Wiped key(kKeyBytes);
    randombytes_buf(key.data(), key.size());
    Wiped text(2 * kKeyBytes + 1);
    sodium_bin2hex(reinterpret_cast<char*>(text.data()), text.size(), key.data(), key.size());
    text.data()[2 * kKeyBytes] = '\n';
    const int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
        throw BackupError(
            fmt::format("cannot create the key file {}: {}", file.string(), std::strerror(errno)));
    }
    bool ok = ::fchmod(fd, 0600) == 0;  // the umask may have taken the owner's bits
    std::size_t written = 0;
    while (ok && written < text.size()) {
        const ssize_t n = ::write(fd, text.data() + written, text.size() - written);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) ok = false;
        if (n > 0) written += static_cast<std::size_t>(n);
    }
    ok = ok && ::fsync(fd) == 0;
    ::close(fd);
    if (!ok) {
        ::unlink(file.c_str());
        throw BackupError(fmt::format("cannot write the key file {}", file.string()));
    }
}

BackupSummary sealBackup(std::istream& database, std::ostream& out, const SecretString* key) {
    ensureSodiumInitialised();
    BackupSummary summary{.encrypted = key != nullptr};
    std::string header(kMagic);
    header.push_back(static_cast<char>(kFormatVersion));
    header.push_back(static_cast<char>(key != nullptr ? kFlagEncrypted : 0));
    crypto_secretstream_xchacha20poly1305_state state{};
    std::array<unsigned char, crypto_secretstream_xchacha20poly1305_HEADERBYTES> streamHeader{};
    if (key != nullptr) {
        const auto check = keyCheck(*key);
        header.append(check.begin(), check.end());
        crypto_secretstream_xchacha20poly1305_init_push(&state, streamHeader.data(), keyBytes(*key));
    }
    out.write(header.data(), static_cast<std::streamsize>(header.size()));
    if (key != nullptr) writeBytes(out, streamHeader.data(), streamHeader.size());

    crypto_generichash_state hash{};
    crypto_generichash_init(&hash, nullptr, 0, kChecksumBytes);
    Wiped chunk(kChunkBytes);
    Wiped sealed(kMaxPayload);
    const auto* ad = reinterpret_cast<const unsigned char*>(header.data());
    auto emit = [&](const unsigned char* data, std::size_t size, std::uint8_t tag) {
        std::size_t payload = 0;
        if (key != nullptr) {
            unsigned long long length = 0;
            crypto_secretstream_xchacha20poly1305_push(&state, sealed.data(), &length, data, size, ad,
                                                       header.size(), tag);
            payload = static_cast<std::size_t>(length);
        } else {
            sealed.data()[0] = tag;
            std::memcpy(sealed.data() + 1, data, size);
            payload = size + 1;
        }
        putLength(out, payload, 4);
        writeBytes(out, sealed.data(), payload);
    };
    for (;;) {
        database.read(reinterpret_cast<char*>(chunk.data()), static_cast<std::streamsize>(chunk.size()));
        const auto got = static_cast<std::size_t>(database.gcount());
        if (got == 0) break;
        crypto_generichash_update(&hash, chunk.data(), got);
        summary.databaseBytes += got;
        emit(chunk.data(), got, kTagMessage);
    }
    if (database.bad()) throw BackupError("cannot read the database copy");
    std::array<unsigned char, kFinalBytes> final{};
    for (int i = 0; i < 8; ++i)
        final[i] = static_cast<unsigned char>((summary.databaseBytes >> (8 * i)) & 0xff);
    crypto_generichash_final(&hash, final.data() + 8, kChecksumBytes);
    summary.checksum = hex(final.data() + 8, kChecksumBytes);
    emit(final.data(), final.size(), kTagFinal);
    sodium_memzero(&state, sizeof state);
    out.flush();
    if (!out) throw BackupError("cannot write the backup file");
    return summary;
}

bool backupIsEncrypted(std::istream& in) {
    return readHeader(in).encrypted;
}

BackupSummary openBackup(std::istream& in, std::ostream& database, const SecretString* key) {
    ensureSodiumInitialised();
    const Header header = readHeader(in);
    if (header.encrypted && key == nullptr)
        throw BackupError("the backup file is encrypted: give its --key-file");
    if (!header.encrypted && key != nullptr) {
        throw BackupError(
            "the backup file is not encrypted; restore it with --no-encrypt if that is expected");
    }
    crypto_secretstream_xchacha20poly1305_state state{};
    if (header.encrypted) {
        const auto expected = keyCheck(*key);
        if (sodium_memcmp(expected.data(), header.bytes.data() + kMagic.size() + 2, kKeyCheckBytes) != 0) {
            throw BackupError("the key is not the one this backup was made with (or the file is damaged)");
        }
        std::array<unsigned char, crypto_secretstream_xchacha20poly1305_HEADERBYTES> streamHeader{};
        if (!readBytes(in, streamHeader.data(), streamHeader.size())) damaged("cut short");
        if (crypto_secretstream_xchacha20poly1305_init_pull(&state, streamHeader.data(), keyBytes(*key)) !=
            0) {
            damaged("bad stream header");
        }
    }

    BackupSummary summary{.encrypted = header.encrypted};
    crypto_generichash_state hash{};
    crypto_generichash_init(&hash, nullptr, 0, kChecksumBytes);
    Wiped payload(kMaxPayload);
    Wiped plain(kMaxPayload);
    const auto* ad = reinterpret_cast<const unsigned char*>(header.bytes.data());
    for (;;) {
        std::array<unsigned char, 4> lengthBytes{};
        if (!readBytes(in, lengthBytes.data(), lengthBytes.size())) damaged("cut short");
        const std::uint64_t length = getLength(lengthBytes.data(), 4);
        if (length == 0 || length > kMaxPayload) damaged("bad record length");
        if (!readBytes(in, payload.data(), length)) damaged("cut short");
        std::size_t size = 0;
        std::uint8_t tag = 0;
        if (header.encrypted) {
            unsigned long long opened = 0;
            if (crypto_secretstream_xchacha20poly1305_pull(&state, plain.data(), &opened, &tag,
                                                           payload.data(), length, ad,
                                                           header.bytes.size()) != 0) {
                damaged("a chunk fails authentication");
            }
            size = static_cast<std::size_t>(opened);
        } else {
            tag = payload.data()[0];
            size = length - 1;
            std::memcpy(plain.data(), payload.data() + 1, size);
        }
        if (tag == kTagFinal) {
            std::array<unsigned char, kChecksumBytes> checksum{};
            crypto_generichash_final(&hash, checksum.data(), checksum.size());
            if (size != kFinalBytes || getLength(plain.data(), 8) != summary.databaseBytes ||
                sodium_memcmp(checksum.data(), plain.data() + 8, kChecksumBytes) != 0) {
                damaged("checksum mismatch");
            }
            summary.checksum = hex(checksum.data(), checksum.size());
            break;
        }
        if (tag != kTagMessage || size == 0 || size > kChunkBytes) damaged("bad chunk");
        crypto_generichash_update(&hash, plain.data(), size);
        summary.databaseBytes += size;
        writeBytes(database, plain.data(), size);
    }
    sodium_memzero(&state, sizeof state);
    if (in.peek() != std::char_traits<char>::eof()) damaged("data after its end");
    database.flush();
    if (!database) throw BackupError("cannot write the restored database");
    return summary;
}

}  // namespace rampart
