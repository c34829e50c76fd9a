// A revocation racing a credential look-up, made deterministic: the look-up reads the store before the
// revocation, waits until the revocation has returned (and cleared the credential cache), then finishes.
// Its stale answer must not be kept: from the moment the revoke returns, this node refuses the credential.
#include <gtest/gtest.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>

#include "identity/identity_services.hpp"
#include "store/sqlite/sqlite_store.hpp"
#include "testing/audit_key.hpp"
#include "testing/cheap_hashing.hpp"
#include "testing/forwarding_identity_store.hpp"
#include "testing/run_to_completion.hpp"
#include "testing/temp_directory.hpp"

namespace rampart::identity {
namespace {

using namespace std::chrono_literals;
using testing::runToCompletion;

constexpr std::string_view kPassword = "correct horse battery staple 42";

// Its API-token look-ups, while armed, read the store and then wait at a gate the test opens.
class GatedStore : public testing::ForwardingIdentityStore {
  public:
    using ForwardingIdentityStore::ForwardingIdentityStore;

    Awaitable<std::optional<store::ApiTokenRecord>> findApiTokenByHash(std::string tokenHash) override {
        auto found = co_await ForwardingIdentityStore::findApiTokenByHash(std::move(tokenHash));
        if (armed) {
            armed = false;
            auto executor = co_await boost::asio::this_coro::executor;
            boost::asio::steady_timer gate(executor, 1h);
            gate_ = &gate;
            co_await gate.async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
            gate_ = nullptr;
        }
        co_return found;
    }

    [[nodiscard]] bool waiting() const { return gate_ != nullptr; }
    void open() { gate_->cancel(); }

    bool armed = false;

  private:
    boost::asio::steady_timer* gate_ = nullptr;
};

TEST(CredentialCacheRace, ARevocationDuringALookUpIsNeverUndoneByTheStaleAnswer) {
    rampart::testing::TempDirectory dir;
    store::SqliteStore sqlite(dir.path() / "rampart.db");
    sqlite.migrate();
    sqlite.setAuditKey(rampart::testing::testAuditKey());
    GatedStore store(sqlite);
    AuthSettings settings;
    settings.hashing = rampart::testing::cheapestHashing();
    const SecretString secret("a test secret key of enough length for hkdf");
    IdentityServices ids(store, sqlite, secret, settings);
    ids.keys.loadKeys();
    const RequestContext context{.requestId = "req-1", .client = boost::asio::ip::make_address("192.0.2.10")};
    auto user =
        runToCompletion(ids.accounts.createUser(NewUser{.username = "alice",
                                                        .email = std::nullopt,
                                                        .role = Role::user,
                                                        .password = SecretString(std::string(kPassword))},
                                                "system", context));
    auto pair =
        runToCompletion(ids.logins.login(LoginRequest{.username = "alice",
                                                      .password = SecretString(std::string(kPassword)),
                                                      .totp = {},
                                                      .session = false},
                                         context));
    const auto authenticate = [&](std::string_view value) {
        return runToCompletion(ids.authenticator.authenticate(
            PresentedCredential{.scheme = PresentedCredential::Scheme::bearer, .value = value},
            boost::asio::ip::make_address("192.0.2.10"), obs::Span::off()));
    };
    auto principal = authenticate(pair.tokens->accessToken).principal;
    ASSERT_TRUE(principal);
    auto created =
        runToCompletion(ids.accounts.createApiToken(*principal, "ci", {"jobs:read"}, 3600s, context));
    const std::string token = created.token.reveal();
    ASSERT_TRUE(authenticate(token).principal);  // the first use writes lastUsed
    ASSERT_TRUE(authenticate(token).principal);  // now cached with lastUsed: no more writes
    ids.cache.clear();                           // the racing request misses the cache and reads the store

    // The racing request: its look-up reads the live token, then waits at the gate.
    store.armed = true;
    boost::asio::io_context io;
    auto racing = boost::asio::co_spawn(
        io,
        ids.authenticator.authenticate(
            PresentedCredential{.scheme = PresentedCredential::Scheme::bearer, .value = token},
            boost::asio::ip::make_address("192.0.2.10"), obs::Span::off()),
        boost::asio::use_future);
    for (int i = 0; i < 2000 && !store.waiting(); ++i) io.run_one_for(10ms);
    ASSERT_TRUE(store.waiting()) << "the look-up never reached the gate";

    // The revocation, start to end, while that look-up holds its stale answer.
    runToCompletion(ids.accounts.revokeApiToken(*principal, created.record.id, context));

    // The stale look-up completes (it began before the revocation, so its own answer may be the old one).
    store.open();
    io.run();
    racing.get();

    // From here on this node refuses the token.
    const auto after = authenticate(token);
    EXPECT_FALSE(after.principal) << "the stale look-up's answer was cached after the revocation";
    EXPECT_EQ(after.failure, "revoked");
}

}  // namespace
}  // namespace rampart::identity
