// The backup file format of `rampart admin backup`: a short header, then the database in 64 KiB chunks
// sealed with libsodium's secretstream (XChaCha20-Poly1305), then a final chunk with the database's
// length and BLAKE2b-256 checksum. A wrong key, a changed byte, a cut or an addition is refused.
#pragma once

#include <cstdint>
#include <filesystem>
#include <istream>
#include <ostream>
#include <stdexcept>
#include <string>

#include "core/secret_string.hpp"

namespace rampart {

// A backup that cannot be made or read; the message says why and never holds key material.
class BackupError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

// Reads a backup key file: 32 raw bytes, or 64 hex digits (a final newline allowed). Refuses a file
// that is not a regular file or that the group or others may read or write (like ssh with its keys).
// The result is the 32 key bytes.
[[nodiscard]] SecretString readBackupKeyFile(const std::filesystem::path& file);

// Creates a new key file (64 random hex digits and a newline), mode 0600; refuses to replace a file.
void createBackupKeyFile(const std::filesystem::path& file);

struct BackupSummary {
    std::uint64_t databaseBytes = 0;
    std::string checksum{};  // BLAKE2b-256 of the database, hex
    bool encrypted = false;
};

// Writes `database` as a backup file to `out`; encrypted with `key` (32 bytes) unless key is null.
BackupSummary sealBackup(std::istream& database, std::ostream& out, const SecretString* key);

// Whether the backup file in `in` is encrypted (reads only the header; rewind before openBackup).
[[nodiscard]] bool backupIsEncrypted(std::istream& in);

// Reads the backup file in `in` and writes the database to `database`. Throws BackupError when the
// file is damaged, cut short or longer than it was, the key is wrong or missing, or an encrypted file
// is given no key or a plain one a key. On a throw `database` holds a part that must be discarded.
BackupSummary openBackup(std::istream& in, std::ostream& database, const SecretString* key);

}  // namespace rampart
