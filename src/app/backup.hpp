// `rampart admin backup`, `restore` and `backup-key`: online backups of the SQLite store into one
// encrypted file, and restores of such a file into an empty data directory.
#pragma once

#include <filesystem>

#include "app/config.hpp"

namespace rampart {

struct BackupOptions {
    std::filesystem::path file;     // where the backup goes
    std::filesystem::path keyFile;  // required unless noEncrypt
    bool noEncrypt = false;
    bool force = false;  // replace an existing file
};

struct RestoreOptions {
    std::filesystem::path file;
    std::filesystem::path dataDir;  // must be empty or absent; gets rampart.db
    std::filesystem::path keyFile;  // required for an encrypted backup
    bool noEncrypt = false;         // required for a plain one
};

// Each returns the exit code (0 done, 1 refused or failed, 2 usage) after printing what happened.
int backupDatabase(const Config& config, const BackupOptions& options);
int restoreDatabase(const RestoreOptions& options);
int createBackupKey(const std::filesystem::path& file);

}  // namespace rampart
