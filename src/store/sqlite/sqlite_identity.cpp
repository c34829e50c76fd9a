// SqliteStore's identity tables (migration 3). PLACEHOLDER: being implemented.
#include <stdexcept>

#include "store/sqlite/sqlite_store.hpp"

namespace rampart::store {
namespace {
[[noreturn]] void notYet() {
    throw std::logic_error("identity store not implemented yet");
}
}  // namespace

boost::asio::awaitable<void> SqliteStore::createUser(UserRecord) {
    notYet();
    co_return;
}
boost::asio::awaitable<std::optional<UserRecord>> SqliteStore::findUserById(std::string) {
    notYet();
    co_return std::nullopt;
}
boost::asio::awaitable<std::optional<UserRecord>> SqliteStore::findUserByUsername(std::string) {
    notYet();
    co_return std::nullopt;
}
boost::asio::awaitable<std::vector<UserRecord>> SqliteStore::listUsers(std::string, int) {
    notYet();
    co_return std::vector<UserRecord>{};
}
boost::asio::awaitable<std::optional<UserRecord>> SqliteStore::updateUser(std::string, UserPatch) {
    notYet();
    co_return std::nullopt;
}
boost::asio::awaitable<std::optional<UserRecord>> SqliteStore::recordLoginFailure(
    std::string, Seconds, std::chrono::seconds (*)(int)) {
    notYet();
    co_return std::nullopt;
}
boost::asio::awaitable<bool> SqliteStore::consumeTotpStep(std::string, std::int64_t) {
    notYet();
    co_return false;
}
std::int64_t SqliteStore::countUsersBlocking() {
    notYet();
}
boost::asio::awaitable<void> SqliteStore::createApiToken(ApiTokenRecord) {
    notYet();
    co_return;
}
boost::asio::awaitable<std::optional<ApiTokenRecord>> SqliteStore::findApiTokenByHash(std::string) {
    notYet();
    co_return std::nullopt;
}
boost::asio::awaitable<std::vector<ApiTokenRecord>> SqliteStore::listApiTokens(std::string) {
    notYet();
    co_return std::vector<ApiTokenRecord>{};
}
boost::asio::awaitable<bool> SqliteStore::revokeApiToken(std::string, std::string, Seconds) {
    notYet();
    co_return false;
}
boost::asio::awaitable<void> SqliteStore::touchApiToken(std::string, Seconds) {
    notYet();
    co_return;
}
boost::asio::awaitable<void> SqliteStore::createRefreshFamily(RefreshTokenRecord) {
    notYet();
    co_return;
}
boost::asio::awaitable<IdentityStore::RotateResult> SqliteStore::rotateRefreshToken(std::string,
                                                                                    RefreshTokenRecord,
                                                                                    Seconds) {
    notYet();
    co_return RotateResult{};
}
boost::asio::awaitable<bool> SqliteStore::revokeRefreshFamily(std::string, Seconds) {
    notYet();
    co_return false;
}
boost::asio::awaitable<bool> SqliteStore::refreshFamilyLive(std::string) {
    notYet();
    co_return false;
}
boost::asio::awaitable<void> SqliteStore::createSession(SessionRecord) {
    notYet();
    co_return;
}
boost::asio::awaitable<std::optional<SessionRecord>> SqliteStore::findSession(std::string) {
    notYet();
    co_return std::nullopt;
}
boost::asio::awaitable<bool> SqliteStore::revokeSession(std::string, Seconds) {
    notYet();
    co_return false;
}
boost::asio::awaitable<bool> SqliteStore::revokeAllCredentials(std::string, Seconds, bool) {
    notYet();
    co_return false;
}
std::vector<SigningKeyRecord> SqliteStore::loadSigningKeysBlocking() {
    notYet();
}
void SqliteStore::insertSigningKeyBlocking(SigningKeyRecord) {
    notYet();
}
void SqliteStore::deleteSigningKeysBlocking(std::vector<std::string>) {
    notYet();
}

}  // namespace rampart::store
