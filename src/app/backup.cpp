// The backup commands: copy the live database into a private scratch directory with SQLite's backup
// API, seal it into the backup file (written beside its final name, synced, then linked into place),
// and the reverse into an empty data directory, checked before it takes the database's name.
#include "app/backup.hpp"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <optional>
#include <string>

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include "app/backup_archive.hpp"
#include "store/sqlite/sqlite_backup.hpp"
#include "store/store.hpp"

namespace rampart {
namespace {

namespace fs = std::filesystem;

// The file name the default database URL gives (config.cpp: data_dir / "rampart.db").
constexpr std::string_view kDatabaseFileName = "rampart.db";

// A directory only we may enter (mkdtemp makes it 0700), removed with its contents at the end: the
// one place the plaintext copy of the database ever lies.
class ScratchDirectory {
  public:
    ScratchDirectory() {
        std::string pattern = (fs::temp_directory_path() / "rampart-backup-XXXXXX").string();
        if (::mkdtemp(pattern.data()) == nullptr) {
            throw BackupError(
                fmt::format("cannot create a private temporary directory: {}", std::strerror(errno)));
        }
        path_ = pattern;
    }
    ~ScratchDirectory() {
        std::error_code ignored;
        fs::remove_all(path_, ignored);
    }
    ScratchDirectory(const ScratchDirectory&) = delete;
    ScratchDirectory& operator=(const ScratchDirectory&) = delete;
    [[nodiscard]] const fs::path& path() const { return path_; }

  private:
    fs::path path_;
};

// Removes a file being written (and SQLite's files beside it) unless it was kept.
class PartialFile {
  public:
    explicit PartialFile(fs::path path) : path_(std::move(path)) {}
    ~PartialFile() {
        if (kept_) return;
        std::error_code ignored;
        for (const char* suffix : {"", "-wal", "-shm", "-journal"})
            fs::remove(path_.string() + suffix, ignored);
    }
    PartialFile(const PartialFile&) = delete;
    PartialFile& operator=(const PartialFile&) = delete;
    [[nodiscard]] const fs::path& path() const { return path_; }
    void keep() { kept_ = true; }

  private:
    fs::path path_;
    bool kept_ = false;
};

void syncPath(const fs::path& path, bool directory) {
    const int fd = ::open(path.c_str(), (directory ? O_RDONLY | O_DIRECTORY : O_RDONLY) | O_CLOEXEC);
    const bool ok = fd >= 0 && ::fsync(fd) == 0;
    if (fd >= 0) ::close(fd);
    if (!ok)
        throw BackupError(fmt::format("cannot sync {} to disk: {}", path.string(), std::strerror(errno)));
}

fs::path parentOf(const fs::path& file) {
    const fs::path parent = fs::absolute(file).parent_path();
    return parent.empty() ? fs::path(".") : parent;
}

bool pathExists(const fs::path& path) {
    std::error_code ec;
    return fs::exists(fs::symlink_status(path, ec));
}

// A new file, mode 0600, that nobody else can have opened or linked first.
void createPrivateFile(const fs::path& path) {
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) throw BackupError(fmt::format("cannot create {}: {}", path.string(), std::strerror(errno)));
    const bool modeSet = ::fchmod(fd, 0600) == 0;  // the umask may have taken the owner's bits
    ::close(fd);
    if (!modeSet) throw BackupError(fmt::format("cannot set the mode of {}", path.string()));
}

int backupOrThrow(const Config& config, const BackupOptions& options) {
    if (options.noEncrypt && !options.keyFile.empty()) {
        std::cerr << "rampart admin backup: --no-encrypt and --key-file do not go together\n";
        return 2;
    }
    if (!options.noEncrypt && options.keyFile.empty()) {
        std::cerr
            << "rampart admin backup: backups are encrypted: give --key-file FILE (make one with `rampart "
               "admin backup-key FILE`), or --no-encrypt for a plain one\n";
        return 2;
    }
    const auto database = store::sqliteDatabasePath(config.databaseUrl);
    if (!database) {
        std::cerr
            << "rampart admin backup: the store is PostgreSQL; back it up with pg_dump or pg_basebackup as "
               "docs/deployment-postgresql.md (\"Backups and restore\") shows\n";
        return 2;
    }
    if (!pathExists(*database)) {
        std::cerr
            << "rampart admin backup: there is no database to back up (check data_dir or database_url)\n";
        return 1;
    }
    if (!options.force && pathExists(options.file)) {
        std::cerr << "rampart admin backup: " << options.file.string() << " exists; --force replaces it\n";
        return 1;
    }
    std::optional<SecretString> key;
    if (!options.noEncrypt) key = readBackupKeyFile(options.keyFile);

    const ScratchDirectory scratch;
    const fs::path copy = scratch.path() / kDatabaseFileName;
    store::sqlite::copyLiveDatabase(*database, copy);
    if (const std::string problem = store::sqlite::integrityProblem(copy); !problem.empty()) {
        std::cerr << "rampart admin backup: the copy fails its check (" << problem
                  << "); no backup written\n";
        return 1;
    }

    // Written under a temporary name beside the target, so a crash never leaves half a backup under
    // the real name, then linked (which refuses an existing name) or, with --force, renamed into place.
    std::string pattern =
        (parentOf(options.file) / (options.file.filename().string() + ".partial-XXXXXX")).string();
    const int fd = ::mkstemp(pattern.data());  // mode 0600
    if (fd < 0)
        throw BackupError(
            fmt::format("cannot create a file beside {}: {}", options.file.string(), std::strerror(errno)));
    ::close(fd);
    PartialFile partial{fs::path(pattern)};
    BackupSummary summary;
    {
        std::ifstream in(copy, std::ios::binary);
        std::ofstream out(partial.path(), std::ios::binary | std::ios::trunc);
        if (!in || !out) throw BackupError("cannot open the database copy or the backup file");
        summary = sealBackup(in, out, key ? &*key : nullptr);
    }
    syncPath(partial.path(), false);
    if (options.force) {
        if (::rename(partial.path().c_str(), options.file.c_str()) != 0) {
            throw BackupError(fmt::format("cannot rename the backup into place: {}", std::strerror(errno)));
        }
        partial.keep();
    } else {
        if (::link(partial.path().c_str(), options.file.c_str()) != 0) {
            throw BackupError(
                fmt::format("cannot create {}: {}", options.file.string(), std::strerror(errno)));
        }
    }
    syncPath(parentOf(options.file), true);
    std::cout << "backed up " << summary.databaseBytes << " bytes of database ("
              << (summary.encrypted ? "encrypted" : "NOT encrypted") << ") to " << options.file.string()
              << "\nBLAKE2b-256 of the database: " << summary.checksum << '\n';
    return 0;
}

int restoreOrThrow(const RestoreOptions& options) {
    if (options.noEncrypt && !options.keyFile.empty()) {
        std::cerr << "rampart admin restore: --no-encrypt and --key-file do not go together\n";
        return 2;
    }
    std::ifstream in(options.file, std::ios::binary);
    if (!in) throw BackupError(fmt::format("cannot read {}", options.file.string()));
    const bool encrypted = backupIsEncrypted(in);
    in.clear();
    in.seekg(0);
    if (encrypted && options.keyFile.empty()) {
        std::cerr << "rampart admin restore: the backup is encrypted: give the --key-file it was made with\n";
        return 2;
    }
    if (!encrypted && !options.noEncrypt) {
        std::cerr << "rampart admin restore: the backup is not encrypted; pass --no-encrypt to restore it "
                     "anyway\n";
        return 1;
    }

    // Never over a database: the directory is absent (then made 0700) or empty.
    const fs::path& dir = options.dataDir;
    std::error_code ec;
    if (pathExists(dir)) {
        if (!fs::is_directory(fs::symlink_status(dir, ec))) {
            std::cerr << "rampart admin restore: " << dir.string() << " is not a directory\n";
            return 1;
        }
        if (!fs::is_empty(dir, ec) || ec) {
            std::cerr << "rampart admin restore: " << dir.string()
                      << " is not empty; restore into an empty data directory (an existing database is "
                         "never overwritten)\n";
            return 1;
        }
    } else {
        if (!dir.parent_path().empty()) fs::create_directories(dir.parent_path());
        if (::mkdir(dir.c_str(), 0700) != 0) {
            throw BackupError(fmt::format("cannot create {}: {}", dir.string(), std::strerror(errno)));
        }
    }
    std::optional<SecretString> key;
    if (encrypted) key = readBackupKeyFile(options.keyFile);

    // Written under a hidden name, checked, then renamed: the database name only ever holds a
    // database that decrypted, matched its checksum and passed SQLite's integrity check.
    PartialFile partial(dir / (".rampart.db.restoring"));
    createPrivateFile(partial.path());
    BackupSummary summary;
    {
        std::ofstream out(partial.path(), std::ios::binary | std::ios::trunc);
        if (!out) throw BackupError("cannot write into the data directory");
        summary = openBackup(in, out, key ? &*key : nullptr);
    }
    syncPath(partial.path(), false);
    if (const std::string problem = store::sqlite::integrityProblem(partial.path()); !problem.empty()) {
        std::cerr << "rampart admin restore: the restored database fails its check (" << problem
                  << "); nothing was restored\n";
        return 1;
    }
    const fs::path target = dir / kDatabaseFileName;
    if (::rename(partial.path().c_str(), target.c_str()) != 0) {
        throw BackupError(fmt::format("cannot rename the database into place: {}", std::strerror(errno)));
    }
    partial.keep();
    syncPath(dir, true);
    std::cout << "restored " << summary.databaseBytes << " bytes of database into " << target.string()
              << "\nBLAKE2b-256 of the database: " << summary.checksum
              << "\nserve it with data_dir = " << dir.string()
              << " and the server's own secret key; pending migrations apply when it starts\n";
    return 0;
}

}  // namespace

int backupDatabase(const Config& config, const BackupOptions& options) {
    try {
        return backupOrThrow(config, options);
    } catch (const BackupError& error) {
        std::cerr << "rampart admin backup: " << error.what() << '\n';
    } catch (const store::StoreUnavailable& error) {
        std::cerr << "rampart admin backup: " << error.what() << '\n';
    }
    return 1;
}

int restoreDatabase(const RestoreOptions& options) {
    try {
        return restoreOrThrow(options);
    } catch (const BackupError& error) {
        std::cerr << "rampart admin restore: " << error.what() << '\n';
    }
    return 1;
}

int createBackupKey(const std::filesystem::path& file) {
    try {
        createBackupKeyFile(file);
    } catch (const BackupError& error) {
        std::cerr << "rampart admin backup-key: " << error.what() << '\n';
        return 1;
    }
    std::cout << "wrote a new backup key to " << file.string()
              << " (mode 0600); keep a copy apart from the backups: they cannot be restored without it\n";
    return 0;
}

}  // namespace rampart
