// `rampart admin ...`: user and key administration from the command line, for the operator who has
// the server's configuration (and so its database and secret key). Every change is audited with the
// actor "cli". Also the backups of the SQLite store (app/backup.hpp).
#pragma once

#include <string>

#include <CLI/CLI.hpp>

#include "app/config.hpp"
#include "identity/auth_settings.hpp"

namespace rampart {

struct AdminCommand {
    CLI::App* admin = nullptr;
    CLI::App* userCreate = nullptr;
    CLI::App* userDisable = nullptr;
    CLI::App* userEnable = nullptr;
    CLI::App* userSetRole = nullptr;
    CLI::App* userResetPassword = nullptr;
    CLI::App* userRevokeAll = nullptr;
    CLI::App* keysRotate = nullptr;
    CLI::App* backup = nullptr;
    CLI::App* restore = nullptr;
    CLI::App* backupKey = nullptr;
    CLI::App* reencrypt = nullptr;

    std::string username;
    std::string email;
    std::string role = "user";
    std::string passwordFile;
    int batch = 500;  // reencrypt: jobs per write

    std::string backupFile;
    std::string keyFile;
    std::string restoreDataDir;
    bool noEncrypt = false;
    bool force = false;

    // backup, restore and backup-key work on files: no secret key, no schema check, no open store.
    [[nodiscard]] bool worksOnFiles() const { return *backup || *restore || *backupKey; }
};

// Declares the subcommands on `app`; the returned struct is filled when the command line is parsed.
void addAdminCommands(CLI::App& app, AdminCommand& command);

// Runs the parsed admin command; returns the exit code (0 done, 1 refused, 2 usage or set-up).
int runAdmin(const Config& config, const AdminCommand& command);
// The same for the commands that work on files (command.worksOnFiles()).
int runAdminFileCommand(const Config& config, const AdminCommand& command);

// The identity settings the configuration describes, for the server and the command line alike.
[[nodiscard]] identity::AuthSettings authSettings(const Config& config);

}  // namespace rampart
