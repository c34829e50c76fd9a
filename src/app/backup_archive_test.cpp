// The backup file format: round trips, and every way a file can be wrong (a changed byte anywhere, a
// cut, an addition, a wrong key, a plain file offered as an encrypted one) is refused.
#include "app/backup_archive.hpp"

#include <sstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "testing/temp_directory.hpp"

namespace rampart {
namespace {

using ::testing::HasSubstr;
using TempDir = rampart::testing::TempDirectory;

SecretString keyOf(char fill) {
    return SecretString(std::string(32, fill));
}

// Bytes that look like a database page, with a marker a reader could spot if it leaked.
std::string sampleDatabase(std::size_t size) {
    std::string data;
    data.reserve(size);
    const std::string_view marker = std::string_view("SQLite format 3\0 marker-job-argument", 36);
    while (data.size() < size) data.append(marker.substr(0, std::min(marker.size(), size - data.size())));
    return data;
}

std::string seal(const std::string& database, const SecretString* key) {
    std::istringstream in(database);
    std::ostringstream out;
    sealBackup(in, out, key);
    return out.str();
}

std::string open(const std::string& archive, const SecretString* key) {
    std::istringstream in(archive);
    std::ostringstream out;
    openBackup(in, out, key);
    return out.str();
}

std::string refusal(const std::string& archive, const SecretString* key) {
    try {
        open(archive, key);
    } catch (const BackupError& error) {
        return error.what();
    }
    return "accepted";
}

TEST(BackupArchive, RoundTripsEncryptedAndPlainAtEverySize) {
    const SecretString key = keyOf('k');
    for (std::size_t size : {0UL, 1UL, 65535UL, 65536UL, 65537UL, 300000UL}) {
        const std::string database = sampleDatabase(size);
        EXPECT_EQ(open(seal(database, &key), &key), database) << size;
        EXPECT_EQ(open(seal(database, nullptr), nullptr), database) << size;
    }
}

TEST(BackupArchive, EncryptedFileHoldsNoPlaintext) {
    const SecretString key = keyOf('k');
    const std::string archive = seal(sampleDatabase(200000), &key);
    EXPECT_EQ(archive.find("marker-job-argument"), std::string::npos);
    EXPECT_EQ(archive.find("SQLite format 3"), std::string::npos);
    // Two backups of the same database differ (a fresh stream header each time).
    EXPECT_NE(archive, seal(sampleDatabase(200000), &key));
}

TEST(BackupArchive, SummaryGivesSizeAndTheSameChecksumBothWays) {
    const SecretString key = keyOf('k');
    const std::string database = sampleDatabase(100000);
    std::istringstream in(database);
    std::ostringstream out;
    const BackupSummary sealed = sealBackup(in, out, &key);
    std::istringstream back(out.str());
    std::ostringstream restored;
    const BackupSummary opened = openBackup(back, restored, &key);
    EXPECT_EQ(sealed.databaseBytes, database.size());
    EXPECT_EQ(sealed.checksum.size(), 64U);
    EXPECT_EQ(opened.checksum, sealed.checksum);
    EXPECT_TRUE(sealed.encrypted);
}

TEST(BackupArchive, EveryFlippedByteIsRefused) {
    const SecretString key = keyOf('k');
    // Two full chunks and a short one, so the flips reach every kind of byte: header, key check,
    // stream header, lengths, sealed chunks and the final one.
    const std::string database = sampleDatabase(2 * 65536 + 100);
    for (const SecretString* usedKey : {&key, static_cast<const SecretString*>(nullptr)}) {
        const std::string archive = seal(database, usedKey);
        for (std::size_t i = 0; i < archive.size(); i += (i < 200 || archive.size() - i < 200) ? 1 : 997) {
            std::string damaged = archive;
            damaged[i] = static_cast<char>(damaged[i] ^ 0x01);
            EXPECT_NE(refusal(damaged, usedKey), "accepted")
                << "byte " << i << (usedKey ? " encrypted" : " plain");
        }
    }
}

TEST(BackupArchive, CutsAndAdditionsAreRefused) {
    const SecretString key = keyOf('k');
    const std::string archive = seal(sampleDatabase(70000), &key);
    for (std::size_t keep : {0UL, 5UL, 10UL, 30UL, 50UL, 1000UL, archive.size() - 60, archive.size() - 1}) {
        EXPECT_NE(refusal(archive.substr(0, keep), &key), "accepted") << keep;
    }
    EXPECT_THAT(refusal(archive.substr(0, archive.size() - 1), &key), HasSubstr("damaged"));
    EXPECT_THAT(refusal(archive + "x", &key), HasSubstr("data after its end"));
    EXPECT_THAT(refusal(archive + archive, &key), HasSubstr("data after its end"));
}

TEST(BackupArchive, WrongOrMissingKeyAndPlainForEncryptedAreRefused) {
    const SecretString key = keyOf('k');
    const SecretString other = keyOf('o');
    const std::string encrypted = seal(sampleDatabase(1000), &key);
    EXPECT_THAT(refusal(encrypted, &other), HasSubstr("key is not the one"));
    EXPECT_THAT(refusal(encrypted, nullptr), HasSubstr("encrypted"));
    // Someone who can replace backup files must not slip in a plain database of their own.
    const std::string plain = seal(sampleDatabase(1000), nullptr);
    EXPECT_THAT(refusal(plain, &key), HasSubstr("not encrypted"));
    EXPECT_THAT(refusal("not a backup at all", &key), HasSubstr("not a Rampart backup"));
}

TEST(BackupArchive, HeaderSaysWhetherEncrypted) {
    const SecretString key = keyOf('k');
    std::istringstream encrypted(seal("db", &key));
    std::istringstream plain(seal("db", nullptr));
    EXPECT_TRUE(backupIsEncrypted(encrypted));
    EXPECT_FALSE(backupIsEncrypted(plain));
}

TEST(BackupKeyFile, ReadsRawAndHexKeysAndRefusesOtherShapes) {
    const TempDir dir;
    const std::string raw(32, '\x07');
    EXPECT_TRUE(readBackupKeyFile(dir.write("raw", raw)).equals(raw));
    const std::string hex(64, 'a');
    EXPECT_TRUE(readBackupKeyFile(dir.write("hex", hex + "\n")).equals(std::string(32, '\xaa')));
    for (const std::string& bad : {std::string(), std::string(31, 'x'), std::string(33, 'x'),
                                   std::string(64, 'g'), std::string(63, 'a') + "\n", hex + "aa"}) {
        EXPECT_THROW((void)readBackupKeyFile(dir.write("bad", bad)), BackupError) << bad.size();
    }
    EXPECT_THROW((void)readBackupKeyFile(dir.path() / "absent"), BackupError);
    EXPECT_THROW((void)readBackupKeyFile(dir.path()), BackupError);
}

TEST(BackupKeyFile, RefusesAKeyFileOthersMayRead) {
    const TempDir dir;
    for (mode_t mode : {0640, 0604, 0620, 0644}) {
        const auto file = dir.write("key", std::string(64, 'b'), mode);
        try {
            (void)readBackupKeyFile(file);
            ADD_FAILURE() << "accepted mode " << mode;
        } catch (const BackupError& error) {
            EXPECT_THAT(error.what(), HasSubstr("open to other accounts"));
            EXPECT_THAT(error.what(), ::testing::Not(HasSubstr("bbbb")));  // never the key
        }
    }
    EXPECT_NO_THROW((void)readBackupKeyFile(dir.write("key", std::string(64, 'b'), 0400)));
}

TEST(BackupKeyFile, CreatedKeyIsPrivateRandomAndNeverOverwritten) {
    const TempDir dir;
    const auto first = dir.path() / "first";
    const auto second = dir.path() / "second";
    createBackupKeyFile(first);
    createBackupKeyFile(second);
    struct stat info {};
    ASSERT_EQ(::stat(first.c_str(), &info), 0);
    EXPECT_EQ(info.st_mode & 07777, 0600U);
    const SecretString a = readBackupKeyFile(first);
    EXPECT_EQ(a.size(), 32U);
    EXPECT_FALSE(a.equals(readBackupKeyFile(second).reveal()));
    EXPECT_THROW(createBackupKeyFile(first), BackupError);
    EXPECT_TRUE(a.equals(readBackupKeyFile(first).reveal()));
}

}  // namespace
}  // namespace rampart
