// Whole-file copies of a SQLite database for `rampart admin backup` and `restore`: SQLite's backup API
// reads one consistent snapshot of the live file while the server keeps writing (the WAL lets it).
#pragma once

#include <filesystem>
#include <string>

namespace rampart::store::sqlite {

// Copies the database at `source` (which must exist; it may be in use by a running server) into the
// new file `destination`, page by page, inside one read transaction: in WAL mode that is a snapshot
// that writers never wait for, so the copy holds every transaction committed before it began and
// none that was half done. The caller keeps `destination` private. Throws StoreUnavailable.
void copyLiveDatabase(const std::filesystem::path& source, const std::filesystem::path& destination);

// Empty when `PRAGMA integrity_check` passes on the database file `path`, else what it (or opening
// the file) complained about first. Opens the file as the store does: defensive, schema untrusted.
[[nodiscard]] std::string integrityProblem(const std::filesystem::path& path);

}  // namespace rampart::store::sqlite
