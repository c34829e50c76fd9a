// PostgresStore identity calls: STUBS until built.
#include "store/postgres/postgres_store.hpp"

namespace rampart::store {

boost::asio::awaitable<void> PostgresStore::createUser(UserRecord user) {
    throw StoreUnavailable("PostgresStore::createUser is not built yet");
    co_return;
}

boost::asio::awaitable<std::optional<UserRecord>> PostgresStore::findUserById(std::string id) {
    throw StoreUnavailable("PostgresStore::findUserById is not built yet");
    co_return std::optional<UserRecord>{};
}

boost::asio::awaitable<std::optional<UserRecord>> PostgresStore::findUserByUsername(std::string username) {
    throw StoreUnavailable("PostgresStore::findUserByUsername is not built yet");
    co_return std::optional<UserRecord>{};
}

boost::asio::awaitable<std::vector<UserRecord>> PostgresStore::listUsers(std::string afterUsername,
                                                                         int limit) {
    throw StoreUnavailable("PostgresStore::listUsers is not built yet");
    co_return std::vector<UserRecord>{};
}

boost::asio::awaitable<std::optional<UserRecord>> PostgresStore::updateUser(std::string id, UserPatch patch) {
    throw StoreUnavailable("PostgresStore::updateUser is not built yet");
    co_return std::optional<UserRecord>{};
}

boost::asio::awaitable<std::optional<UserRecord>> PostgresStore::recordLoginFailure(
    std::string userId, Seconds now, std::function<std::chrono::seconds(int failures)> lockout) {
    throw StoreUnavailable("PostgresStore::recordLoginFailure is not built yet");
    co_return std::optional<UserRecord>{};
}

boost::asio::awaitable<bool> PostgresStore::consumeTotpStep(std::string userId, std::int64_t step) {
    throw StoreUnavailable("PostgresStore::consumeTotpStep is not built yet");
    co_return bool{};
}

std::int64_t PostgresStore::countUsersBlocking() {
    throw StoreUnavailable("PostgresStore::countUsersBlocking is not built yet");
}

boost::asio::awaitable<void> PostgresStore::createApiToken(ApiTokenRecord token) {
    throw StoreUnavailable("PostgresStore::createApiToken is not built yet");
    co_return;
}

boost::asio::awaitable<std::optional<ApiTokenRecord>> PostgresStore::findApiTokenByHash(
    std::string tokenHash) {
    throw StoreUnavailable("PostgresStore::findApiTokenByHash is not built yet");
    co_return std::optional<ApiTokenRecord>{};
}

boost::asio::awaitable<std::optional<ApiTokenRecord>> PostgresStore::findApiTokenById(std::string tokenId) {
    throw StoreUnavailable("PostgresStore::findApiTokenById is not built yet");
    co_return std::optional<ApiTokenRecord>{};
}

boost::asio::awaitable<std::vector<ApiTokenRecord>> PostgresStore::listApiTokens(std::string userId) {
    throw StoreUnavailable("PostgresStore::listApiTokens is not built yet");
    co_return std::vector<ApiTokenRecord>{};
}

boost::asio::awaitable<bool> PostgresStore::revokeApiToken(std::string userId, std::string tokenId,
                                                           Seconds now) {
    throw StoreUnavailable("PostgresStore::revokeApiToken is not built yet");
    co_return bool{};
}

boost::asio::awaitable<void> PostgresStore::touchApiToken(std::string tokenId, Seconds now) {
    throw StoreUnavailable("PostgresStore::touchApiToken is not built yet");
    co_return;
}

boost::asio::awaitable<void> PostgresStore::createRefreshFamily(RefreshTokenRecord first) {
    throw StoreUnavailable("PostgresStore::createRefreshFamily is not built yet");
    co_return;
}

boost::asio::awaitable<IdentityStore::RotateResult> PostgresStore::rotateRefreshToken(
    std::string presentedTokenId, RefreshTokenRecord next, Seconds now) {
    throw StoreUnavailable("PostgresStore::rotateRefreshToken is not built yet");
    co_return IdentityStore::RotateResult{};
}

boost::asio::awaitable<bool> PostgresStore::revokeRefreshFamily(std::string familyId, Seconds now) {
    throw StoreUnavailable("PostgresStore::revokeRefreshFamily is not built yet");
    co_return bool{};
}

boost::asio::awaitable<bool> PostgresStore::refreshFamilyLive(std::string familyId) {
    throw StoreUnavailable("PostgresStore::refreshFamilyLive is not built yet");
    co_return bool{};
}

boost::asio::awaitable<void> PostgresStore::createSession(SessionRecord session) {
    throw StoreUnavailable("PostgresStore::createSession is not built yet");
    co_return;
}

boost::asio::awaitable<std::optional<SessionRecord>> PostgresStore::findSession(std::string idHash) {
    throw StoreUnavailable("PostgresStore::findSession is not built yet");
    co_return std::optional<SessionRecord>{};
}

boost::asio::awaitable<bool> PostgresStore::revokeSession(std::string idHash, Seconds now) {
    throw StoreUnavailable("PostgresStore::revokeSession is not built yet");
    co_return bool{};
}

boost::asio::awaitable<bool> PostgresStore::revokeAllCredentials(std::string userId, Seconds now,
                                                                 bool deactivate) {
    throw StoreUnavailable("PostgresStore::revokeAllCredentials is not built yet");
    co_return bool{};
}

std::vector<SigningKeyRecord> PostgresStore::loadSigningKeysBlocking() {
    throw StoreUnavailable("PostgresStore::loadSigningKeysBlocking is not built yet");
}

void PostgresStore::insertSigningKeyBlocking(SigningKeyRecord key) {
    throw StoreUnavailable("PostgresStore::insertSigningKeyBlocking is not built yet");
}

void PostgresStore::deleteSigningKeysBlocking(std::vector<std::string> kids) {
    throw StoreUnavailable("PostgresStore::deleteSigningKeysBlocking is not built yet");
}

}  // namespace rampart::store
