// The admin subcommands. Passwords come from a file (never from the command line, where `ps` and the
// shell history would keep them) or are generated and printed once.
#include "app/admin_cli.hpp"

#include <chrono>
#include <fstream>
#include <iostream>
#include <iterator>

#include "app/backup.hpp"
#include "app/serve.hpp"
#include "core/run_blocking.hpp"
#include "identity/account_service.hpp"
#include "identity/api_token.hpp"
#include "identity/audit_trail.hpp"
#include "identity/credential_cache.hpp"
#include "identity/key_manager.hpp"
#include "store/sealed_job_store.hpp"
#include "store/store.hpp"

namespace rampart {
namespace {

const identity::RequestContext kCliContext{.requestId = "cli", .client = {}};
constexpr std::string_view kActor = "cli";

std::optional<SecretString> readPasswordFile(const std::string& path) {
    if (path.empty()) return std::nullopt;
    std::ifstream in(path, std::ios::binary);
    if (!in) throw std::runtime_error("cannot read the password file");
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
    return SecretString(std::move(text));
}

// From the file, else a random one that the caller prints once.
std::pair<SecretString, bool> chosenOrGeneratedPassword(const std::string& path) {
    if (auto password = readPasswordFile(path)) return {std::move(*password), false};
    return {SecretString(identity::randomToken(18)), true};
}

std::optional<identity::Role> parseRoleArgument(const std::string& text) {
    auto role = identity::parseRole(text);
    if (!role) std::cerr << "rampart admin: role must be admin, user, auditor or worker\n";
    return role;
}

// `rampart admin reencrypt`: every job payload sealed under the current generation, in batches.
int reencrypt(const Config& config, store::Store& store, const identity::AuditTrail& audit, int batch) {
    if (!config.encryptPayloads) {
        std::cerr << "rampart admin reencrypt: store.encrypt_payloads is off\n";
        return 2;
    }
    store::SealedJobStore sealed(store, store, config.secretKey);
    const store::ReencryptCounts counts = runBlocking(sealed.reencryptPayloads(batch));
    runBlocking(audit.audit("payloads.reencrypted", kActor, kCliContext,
                            "generation:" + std::to_string(counts.generation), "success"));
    std::cout << "job payloads under generation " << counts.generation << ": " << counts.jobs
              << " jobs read, " << counts.resealed << " re-sealed, " << counts.changed
              << " changed meanwhile (run again), " << counts.unreadable
              << " sealed under another secret key (left as they are)\n";
    return counts.changed > 0 || counts.unreadable > 0 ? 1 : 0;
}

int run(identity::KeyManager& keys, identity::AccountService& accounts, const identity::AuditTrail& audit,
        store::Store& store, const AdminCommand& command) {
    if (*command.keysRotate) {
        auto kid = keys.rotateKeys();
        runBlocking(audit.audit("keys.rotated", kActor, kCliContext, "key:" + kid, "success"));
        std::cout
            << "new signing key " << kid
            << "; running servers sign with it after their next key reload (at most a minute); old keys "
               "verify until their tokens expire\n";
        const std::int64_t generation =
            runBlocking(store.startPayloadKeyGeneration(store::toMillis(std::chrono::system_clock::now())));
        runBlocking(audit.audit("payload_keys.rotated", kActor, kCliContext,
                                "generation:" + std::to_string(generation), "success"));
        std::cout << "new job payload key generation " << generation
                  << "; running servers seal with it within a minute; then `rampart admin reencrypt` "
                     "re-seals older payloads\n";
        return 0;
    }
    if (*command.userCreate) {
        auto role = parseRoleArgument(command.role);
        if (!role) return 2;
        auto [password, generated] = chosenOrGeneratedPassword(command.passwordFile);
        identity::NewUser user{.username = command.username,
                               .email = command.email.empty() ? std::nullopt : std::optional(command.email),
                               .role = *role,
                               .password = password};
        auto created = runBlocking(accounts.createUser(std::move(user), std::string(kActor), kCliContext));
        std::cout << "created user " << created.username << " (" << created.role << ", id " << created.id
                  << ")\n";
        if (generated) std::cout << "password (shown once): " << password.reveal() << '\n';
        return 0;
    }

    auto user = runBlocking(store.findUserByUsername(command.username));
    if (!user) {
        std::cerr << "rampart admin: no such user\n";
        return 1;
    }
    identity::UserChanges changes;
    std::optional<SecretString> printOnce;
    if (*command.userDisable) changes.active = false;
    if (*command.userEnable) changes.active = true;
    if (*command.userSetRole) {
        changes.role = parseRoleArgument(command.role);
        if (!changes.role) return 2;
    }
    if (*command.userResetPassword) {
        auto [password, generated] = chosenOrGeneratedPassword(command.passwordFile);
        if (generated) printOnce = password;
        changes.password = std::move(password);
    }
    if (*command.userRevokeAll) {
        runBlocking(accounts.revokeAllCredentials(user->id, std::string(kActor), kCliContext));
        std::cout << "revoked every token, session and refresh family of " << user->username << '\n';
        return 0;
    }
    auto updated =
        runBlocking(accounts.updateUser(user->id, std::move(changes), std::string(kActor), kCliContext));
    std::cout << "user " << updated.username << ": role " << updated.role << ", "
              << (updated.active ? "active" : "disabled (every credential revoked)") << '\n';
    if (printOnce) std::cout << "password (shown once): " << printOnce->reveal() << '\n';
    return 0;
}

}  // namespace

void addAdminCommands(CLI::App& app, AdminCommand& command) {
    command.admin = app.add_subcommand(
        "admin", "Administer users, keys and sealed job payloads; back up and restore the store");
    command.admin->require_subcommand(1);
    auto* user = command.admin->add_subcommand("user", "Create, disable, enable, change or reset a user");
    user->require_subcommand(1);
    const std::string passwordHelp = "file holding the password (default: a random one, printed once)";

    command.userCreate = user->add_subcommand("create", "Create a user");
    command.userCreate->add_option("username", command.username)->required();
    command.userCreate->add_option("--email", command.email, "email address");
    command.userCreate->add_option("--role", command.role, "admin, user, auditor or worker (default user)");
    command.userCreate->add_option("--password-file", command.passwordFile, passwordHelp)
        ->check(CLI::ExistingFile);

    command.userDisable = user->add_subcommand("disable", "Disable a user and revoke all their credentials");
    command.userDisable->add_option("username", command.username)->required();
    command.userEnable = user->add_subcommand("enable", "Enable a user again (and clear a lockout)");
    command.userEnable->add_option("username", command.username)->required();
    command.userSetRole = user->add_subcommand("set-role", "Change a user's role");
    command.userSetRole->add_option("username", command.username)->required();
    command.userSetRole->add_option("role", command.role)->required();
    command.userResetPassword = user->add_subcommand("reset-password", "Set a new password");
    command.userResetPassword->add_option("username", command.username)->required();
    command.userResetPassword->add_option("--password-file", command.passwordFile, passwordHelp)
        ->check(CLI::ExistingFile);
    command.userRevokeAll =
        user->add_subcommand("revoke-all", "Revoke every token, session and refresh family of a user");
    command.userRevokeAll->add_option("username", command.username)->required();

    auto* keys = command.admin->add_subcommand(
        "keys", "Manage the keys that sign access tokens and seal job payloads");
    keys->require_subcommand(1);
    command.keysRotate = keys->add_subcommand("rotate",
                                              "Add a new signing key (old keys verify until they expire) and "
                                              "start a new job payload key generation");
    command.reencrypt = command.admin->add_subcommand(
        "reencrypt",
        "Re-seal job payloads of older key generations (and plaintext ones) under the current one");
    command.reencrypt->add_option("--batch", command.batch, "jobs per write (default 500)")
        ->check(CLI::Range(1, 10'000));

    const std::string keyFileHelp = "backup key file: 32 bytes, or 64 hex digits (see backup-key)";
    command.backup = command.admin->add_subcommand(
        "backup", "Copy the SQLite store, while it serves, into one encrypted file (docs/operations.md)");
    command.backup->add_option("file", command.backupFile, "the backup file to write")->required();
    command.backup->add_option("--key-file", command.keyFile, keyFileHelp);
    command.backup->add_flag("--no-encrypt", command.noEncrypt, "write the database unencrypted");
    command.backup->add_flag("--force", command.force, "replace the file if it exists");
    command.restore = command.admin->add_subcommand(
        "restore", "Restore a backup file into an empty data directory (as DIR/rampart.db)");
    command.restore->add_option("file", command.backupFile, "the backup file")
        ->required()
        ->check(CLI::ExistingFile);
    command.restore->add_option("--data-dir", command.restoreDataDir, "an empty or new data directory")
        ->required();
    command.restore->add_option("--key-file", command.keyFile, keyFileHelp);
    command.restore->add_flag("--no-encrypt", command.noEncrypt, "the backup was made with --no-encrypt");
    command.backupKey =
        command.admin->add_subcommand("backup-key", "Create a new random backup key file (0600)");
    command.backupKey->add_option("file", command.keyFile, "the key file to create")->required();
}

int runAdminFileCommand(const Config& config, const AdminCommand& command) {
    if (*command.backupKey) return createBackupKey(command.keyFile);
    if (*command.backup) {
        return backupDatabase(config, BackupOptions{.file = command.backupFile,
                                                    .keyFile = command.keyFile,
                                                    .noEncrypt = command.noEncrypt,
                                                    .force = command.force});
    }
    return restoreDatabase(RestoreOptions{.file = command.backupFile,
                                          .dataDir = command.restoreDataDir,
                                          .keyFile = command.keyFile,
                                          .noEncrypt = command.noEncrypt});
}

identity::AuthSettings authSettings(const Config& config) {
    identity::AuthSettings settings;
    settings.issuer = config.auth.issuer;
    settings.audience = config.auth.audience;
    settings.accessTokenTtl = config.auth.accessTokenTtl;
    settings.refreshTokenTtl = config.auth.refreshTokenTtl;
    settings.sessionTtl = config.auth.sessionTtl;
    settings.apiTokenMaxTtl = config.auth.apiTokenMaxTtl;
    settings.hashing = identity::PasswordHashing{.opsLimit = config.auth.argon2OpsLimit,
                                                 .memLimitBytes = config.auth.argon2MemoryKib * 1024};
    settings.passwordPolicy.minLength = config.auth.passwordMinLength;
    settings.passwordHashThreads = config.auth.passwordHashThreads;
    settings.passwordHashPriority = config.auth.passwordHashPriority;
    settings.passwordHashQueue = config.auth.passwordHashQueue;
    settings.loginMaxFailures = static_cast<int>(config.auth.loginMaxFailures);
    settings.lockoutBase = config.auth.lockoutBase;
    settings.lockoutMax = config.auth.lockoutMax;
    settings.requireAdminTotp = config.auth.requireAdminTotp;
    return settings;
}

int runAdmin(const Config& config, const AdminCommand& command) {
    if (config.secretKey.empty()) {
        std::cerr
            << "rampart admin: no secret key configured (RAMPART_SECRET_KEY or RAMPART_SECRET_KEY_FILE)\n";
        return 2;
    }
    auto store = store::openStore(config.databaseUrl, storeOptions(config));
    if (!schemaReady(*store, config)) return 2;
    const identity::AuthSettings settings = authSettings(config);
    identity::CredentialCache cache(*store);
    identity::KeyManager keys(*store, config.secretKey, settings);
    identity::PasswordHasher passwords(settings);
    identity::AccountService accounts(*store, *store, cache, passwords, config.secretKey, settings);
    const identity::AuditTrail audit(*store, identity::systemClock());
    int code = 1;
    try {
        keys.loadKeys();
        code = *command.reencrypt ? reencrypt(config, *store, audit, command.batch)
                                  : run(keys, accounts, audit, *store, command);
    } catch (const identity::AuthError& error) {
        std::cerr << "rampart admin: " << error.what() << '\n';
        code = 1;
    }
    store->close();
    return code;
}

}  // namespace rampart
