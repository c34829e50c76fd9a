// The identity service. Every refusal that a client sees is deliberately vague (one 401 for every bad
// credential, one error for every failed login); the reason goes to the audit log instead.
//
// g++ 12 miscompiles some coroutine shapes, so the code here keeps to three rules: no co_await inside a
// condition (if, &&, ?:) — await into a local first; no brace-initialized aggregate or brace list inside
// a co_await expression — build it in a local; no lambda capturing an aggregate inside one either.
#include "identity/auth_service.hpp"

#include <algorithm>
#include <cctype>
#include <fstream>
#include <iterator>

#include <spdlog/spdlog.h>
#include <boost/json/array.hpp>

#include "core/run_blocking.hpp"
#include "identity/api_token.hpp"
#include "identity/oidc.hpp"
#include "identity/sealed.hpp"
#include "identity/totp.hpp"

namespace rampart::identity {
namespace {

using Kind = AuthError::Kind;
using store::Seconds;

constexpr std::string_view kTotpSealContext = "rampart totp v1";
constexpr std::size_t kMaxUsernameBytes = 150;
constexpr std::size_t kMaxEmailBytes = 254;
constexpr std::size_t kMaxTokenNameBytes = 100;
constexpr std::size_t kThrottleCapacity = 100'000;
// A client address may fail this many times more than one account before it is locked out too: many
// people can share an address (NAT, a proxy), and one account's lockout already stops guessing there.
constexpr int kAddressFailureFactor = 4;
// lastUsed is written at most this often per API token: a durable write per request would cost more
// than the request.
constexpr std::chrono::seconds kTouchInterval{60};

AuthError invalidCredentials() {
    return {Kind::unauthorized, "invalid_credentials", "invalid username, password or code"};
}

AuthError unauthorized() {
    return {Kind::unauthorized, "invalid_token", "the token is not valid"};
}

AuthOutcome refused(std::string_view reason) {
    return AuthOutcome{.principal = std::nullopt, .failure = std::string(reason)};
}

std::string lowerAscii(std::string_view text) {
    std::string lower(text);
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return lower;
}

// Django's username alphabet: letters, digits and @.+-_ (ASCII only, so look-alikes cannot collide).
bool validUsername(std::string_view name) {
    return !name.empty() && name.size() <= kMaxUsernameBytes &&
           std::all_of(name.begin(), name.end(), [](char c) {
               return std::isalnum(static_cast<unsigned char>(c)) || c == '@' || c == '.' || c == '+' ||
                      c == '-' || c == '_';
           });
}

// Deliberately loose (the one true check is a mail that arrives): one @ with text on both sides, a dot
// in the domain, printable ASCII without spaces.
bool validEmail(std::string_view email) {
    const auto at = email.find('@');
    if (email.size() > kMaxEmailBytes || at == std::string_view::npos || at == 0 ||
        email.find('@', at + 1) != std::string_view::npos) {
        return false;
    }
    const auto domain = email.substr(at + 1);
    if (domain.empty() || domain.find('.') == std::string_view::npos || domain.front() == '.' ||
        domain.back() == '.') {
        return false;
    }
    return std::all_of(email.begin(), email.end(), [](char c) { return c > 0x20 && c < 0x7f; });
}

// The scopes a role may hand to one of its API tokens: never more than the role itself can do.
bool roleAllowsScope(Role role, std::string_view scope) {
    if (isQueueScope(scope)) return role != Role::auditor;  // auditors submit and lease nothing
    switch (role) {
        case Role::admin:
            return true;
        case Role::user:
            return scope == "jobs:read" || scope == "jobs:write" || scope == "schedules:read" ||
                   scope == "schedules:write" || scope == "tokens";
        case Role::auditor:
            return scope == "jobs:read" || scope == "schedules:read" || scope == "audit:read" ||
                   scope == "tokens";
        case Role::worker:
            return scope == "worker" || scope == "tokens";
    }
    return false;
}

Seconds toSeconds(std::chrono::system_clock::time_point time) {
    return std::chrono::floor<std::chrono::seconds>(time);
}

std::string clientText(const boost::asio::ip::address& client) {
    return client.is_unspecified() ? std::string() : client.to_string();
}

std::string sha256Hex(std::string_view text) {
    return hashHex(hashApiToken(text));
}

// A session id is randomToken(32): 43 base64url characters. Anything else never reaches a lookup.
bool looksLikeSessionId(std::string_view value) {
    return value.size() == 43 && std::all_of(value.begin(), value.end(), [](char c) {
               return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_';
           });
}

Principal principalFor(const store::UserRecord& user, CredentialKind kind, std::vector<std::string> scopes,
                       std::string credentialId) {
    return Principal{
        .userId = user.id,
        .username = user.username,
        .role = parseRole(user.role).value_or(Role::user),
        .credential = kind,
        .scopes = std::move(scopes),
        .credentialId = std::move(credentialId),
        .totpEnabled = user.totpEnabled,
    };
}

bool revokedSince(const store::UserRecord& user, Seconds issued) {
    return user.credentialsRevokedAt && issued < *user.credentialsRevokedAt;
}

}  // namespace

// In-memory failure counters per client address and per username (known or not, so that an unknown
// name locks exactly like a known one and lockouts do not reveal which accounts exist). Per process:
// the per-account counters in the store hold across restarts and cluster nodes.
struct AuthService::Throttle {
    struct Entry {
        int failures = 0;
        Seconds lockedUntil{};
        Seconds lastFailure{};
    };
    std::mutex mutex;
    std::unordered_map<std::string, Entry> entries;

    std::optional<Seconds> lockedUntil(const std::string& key, Seconds now) {
        std::lock_guard lock(mutex);
        auto found = entries.find(key);
        if (found == entries.end() || found->second.lockedUntil <= now) return std::nullopt;
        return found->second.lockedUntil;
    }

    // Counts a failure; returns the lockout it started (zero for none).
    std::chrono::seconds fail(const std::string& key, Seconds now, int threshold,
                              const AuthSettings& settings) {
        std::lock_guard lock(mutex);
        if (entries.size() >= kThrottleCapacity) prune(now, settings);
        Entry& entry = entries[key];
        if (entry.lastFailure + settings.lockoutMax < now)
            entry.failures = 0;  // forgotten after a quiet spell
        ++entry.failures;
        entry.lastFailure = now;
        const auto lockout = lockoutFor(entry.failures, threshold, settings);
        if (lockout > std::chrono::seconds::zero()) entry.lockedUntil = now + lockout;
        return lockout;
    }

    void reset(const std::string& key) {
        std::lock_guard lock(mutex);
        entries.erase(key);
    }

    // Forgets quiet entries; if a flood of distinct keys still fills the map, the oldest half goes.
    void prune(Seconds now, const AuthSettings& settings) {
        std::erase_if(entries, [&](const auto& item) {
            return item.second.lockedUntil <= now && item.second.lastFailure + settings.lockoutMax < now;
        });
        if (entries.size() < kThrottleCapacity) return;
        std::vector<Seconds> times;
        times.reserve(entries.size());
        for (const auto& [key, entry] : entries) times.push_back(entry.lastFailure);
        auto middle = times.begin() + static_cast<std::ptrdiff_t>(times.size() / 2);
        std::nth_element(times.begin(), middle, times.end());
        const Seconds cutoff = *middle;
        std::erase_if(entries, [&](const auto& item) { return item.second.lastFailure < cutoff; });
    }
};

// What authenticating a request reads from the store (the user, the refresh family, the API token, the
// session), kept for one second. Every change made through this service clears it at once; a change made
// by another process (the command line, another node) is seen within a second. Without it each
// authenticated request costs two or three store round trips.
struct AuthService::CredentialCache {
    static constexpr auto kTtl = std::chrono::seconds(1);
    static constexpr std::size_t kCapacity = 50'000;  // per map; a full map is emptied, not grown

    template <class V>
    struct Map {
        std::unordered_map<std::string, std::pair<V, std::chrono::steady_clock::time_point>> entries;

        std::optional<V> get(const std::string& key, std::chrono::steady_clock::time_point now) const {
            auto found = entries.find(key);
            if (found == entries.end() || found->second.second <= now) return std::nullopt;
            return found->second.first;
        }
        void put(const std::string& key, V value, std::chrono::steady_clock::time_point now) {
            if (entries.size() >= kCapacity) entries.clear();
            entries.insert_or_assign(key, std::pair{std::move(value), now + kTtl});
        }
    };

    std::mutex mutex;
    Map<store::UserRecord> users;
    Map<bool> liveFamilies;
    Map<store::ApiTokenRecord> apiTokens;
    Map<store::SessionRecord> sessions;

    void clear() {
        std::lock_guard lock(mutex);
        users.entries.clear();
        liveFamilies.entries.clear();
        apiTokens.entries.clear();
        sessions.entries.clear();
    }
};

AuthService::AuthService(store::Store& store, SecretString serverSecret, AuthSettings settings, Clock clock,
                         OidcRegistry* oidc)
    : store_(store),
      serverSecret_(std::move(serverSecret)),
      settings_(std::move(settings)),
      clock_(std::move(clock)),
      oidc_(oidc),
      csrf_(serverSecret_),
      signatureCache_(std::make_shared<VerificationCache>()),
      accessVerifier_(
          VerifyOptions{
              .issuer = settings_.issuer, .audience = settings_.audience, .tokenUse = std::string("access")},
          clock_, signatureCache_),
      refreshVerifier_(
          VerifyOptions{
              .issuer = settings_.issuer, .audience = settings_.audience, .tokenUse = std::string("refresh")},
          clock_),
      ring_(std::make_shared<const KeyRing>()),
      keys_(std::make_shared<const KeySet>()),
      throttle_(std::make_unique<Throttle>()),
      credentials_(std::make_unique<CredentialCache>()) {
    prepareDummyHash(settings_.hashing);
}

AuthService::~AuthService() = default;

std::chrono::seconds AuthService::lockoutFor(int failures, const AuthSettings& settings) {
    return lockoutFor(failures, settings.loginMaxFailures, settings);
}

std::chrono::seconds AuthService::lockoutFor(int failures, int threshold, const AuthSettings& settings) {
    if (failures < threshold) return std::chrono::seconds::zero();
    const int doublings = std::min(failures - threshold, 30);
    return std::min(settings.lockoutBase * (std::int64_t{1} << doublings), settings.lockoutMax);
}

Seconds AuthService::now() const {
    return toSeconds(clock_());
}

// --- signing keys ---

KeyPolicy AuthService::keyPolicy() const {
    // A key must keep verifying as long as the longest token it signed lives.
    return KeyPolicy{.signingPeriod = std::chrono::days{30},
                     .maxTokenLifetime = std::max(settings_.refreshTokenTtl, settings_.sessionTtl)};
}

std::shared_ptr<const KeyRing> AuthService::ring() const {
    std::lock_guard lock(ringMutex_);
    return ring_;
}

std::shared_ptr<const KeySet> AuthService::verificationKeys() const {
    std::lock_guard lock(ringMutex_);
    return keys_;
}

void AuthService::publish(KeyRing ring) {
    auto keys = std::make_shared<const KeySet>(ring.verificationKeys(clock_()));
    auto shared = std::make_shared<const KeyRing>(std::move(ring));
    std::lock_guard lock(ringMutex_);
    ring_ = std::move(shared);
    keys_ = std::move(keys);
}

void AuthService::loadKeys() {
    KeyRing ring;
    int unopened = 0;
    std::vector<std::string> expired;
    const auto time = clock_();
    for (auto& record : store_.loadSigningKeysBlocking()) {
        StoredSigningKey stored{.kid = record.kid,
                                .alg = record.alg,
                                .publicKey = record.publicKey,
                                .encryptedPrivateKey = record.encryptedPrivateKey,
                                .created = record.created,
                                .notAfter = record.notAfter,
                                .expires = record.expires};
        if (record.expires <= time) {
            expired.push_back(record.kid);
            continue;
        }
        auto key = openSigningKey(stored, serverSecret_);
        if (!key) {
            ++unopened;
            continue;
        }
        ring.add(std::move(*key));
    }
    if (!expired.empty()) store_.deleteSigningKeysBlocking(expired);
    if (unopened > 0) {
        spdlog::warn("{} stored signing key(s) cannot be opened with the configured secret key", unopened);
    }
    if (!ring.current(time)) {
        if (unopened > 0) {
            // Making a new key here would silently end every session signed under the old secret; the
            // operator has to decide (restore the secret, or rotate on purpose).
            throw std::runtime_error(
                "stored signing keys cannot be opened with this secret key; restore the secret key or run "
                "`rampart admin keys rotate`");
        }
        auto key = storeNewKey(time);
        spdlog::info("created the first signing key {}", key.kid);
        ring.add(std::move(key));
    }
    publish(std::move(ring));
}

bool AuthService::reloadKeysForUnknownKid() {
    const std::int64_t now = std::chrono::steady_clock::now().time_since_epoch().count();
    std::int64_t last = lastUnknownKidReload_.load();
    const std::int64_t interval =
        std::chrono::duration_cast<std::chrono::steady_clock::duration>(kUnknownKidReloadInterval).count();
    if (last != 0 && now - last < interval) return false;
    if (!lastUnknownKidReload_.compare_exchange_strong(last, now)) return false;  // another request does it
    try {
        loadKeys();
    } catch (const std::exception& error) {
        spdlog::warn("reloading signing keys for an unknown kid failed: {}", error.what());
        return false;
    }
    return true;
}

SigningKey AuthService::storeNewKey(std::chrono::system_clock::time_point time) {
    auto key = generateSigningKey(time, keyPolicy());
    auto sealed = sealSigningKey(key, serverSecret_);
    if (!sealed) throw std::runtime_error("cannot seal a signing key: is the secret key set?");
    store_.insertSigningKeyBlocking(
        store::SigningKeyRecord{.kid = sealed->kid,
                                .alg = sealed->alg,
                                .publicKey = sealed->publicKey,
                                .encryptedPrivateKey = sealed->encryptedPrivateKey,
                                .created = sealed->created,
                                .notAfter = sealed->notAfter,
                                .expires = sealed->expires});
    return key;
}

std::string AuthService::rotateKeys() {
    std::string kid = storeNewKey(clock_()).kid;
    loadKeys();
    return kid;
}

// --- audit ---

boost::asio::awaitable<void> AuthService::audit(std::string_view action, std::string_view actor,
                                                const RequestContext& context, std::string_view target,
                                                std::string_view outcome, boost::json::object details) {
    return store_.appendAudit(obs::AuditEvent{
        .time = clock_(),
        .action = std::string(action),
        .actor = std::string(actor),
        .client = clientText(context.client),
        .requestId = context.requestId,
        .target = std::string(target),
        .outcome = std::string(outcome),
        .details = std::move(details),
    });
}

boost::asio::awaitable<void> AuthService::audit(std::string_view action, std::string_view actor,
                                                const RequestContext& context, std::string_view target,
                                                std::string_view outcome) {
    return audit(action, actor, context, target, outcome, boost::json::object());
}

// --- authentication of requests ---

void AuthService::forgetCachedCredentials() {
    credentials_->clear();
}

boost::asio::awaitable<std::optional<store::UserRecord>> AuthService::cachedUser(const std::string& id) {
    const auto now = std::chrono::steady_clock::now();
    {
        std::lock_guard lock(credentials_->mutex);
        if (auto hit = credentials_->users.get(id, now)) co_return hit;
    }
    auto user = co_await store_.findUserById(id);
    if (user) {
        std::lock_guard lock(credentials_->mutex);
        credentials_->users.put(id, *user, now);
    }
    co_return user;
}

boost::asio::awaitable<bool> AuthService::cachedFamilyLive(const std::string& familyId) {
    const auto now = std::chrono::steady_clock::now();
    {
        std::lock_guard lock(credentials_->mutex);
        if (auto hit = credentials_->liveFamilies.get(familyId, now)) co_return *hit;
    }
    const bool live = co_await store_.refreshFamilyLive(familyId);
    if (live) {
        std::lock_guard lock(credentials_->mutex);
        credentials_->liveFamilies.put(familyId, true, now);
    }
    co_return live;
}

boost::asio::awaitable<std::optional<store::ApiTokenRecord>> AuthService::cachedApiToken(
    const std::string& hash) {
    const auto now = std::chrono::steady_clock::now();
    {
        std::lock_guard lock(credentials_->mutex);
        if (auto hit = credentials_->apiTokens.get(hash, now)) co_return hit;
    }
    auto token = co_await store_.findApiTokenByHash(hash);
    if (token) {
        std::lock_guard lock(credentials_->mutex);
        credentials_->apiTokens.put(hash, *token, now);
    }
    co_return token;
}

boost::asio::awaitable<std::optional<store::SessionRecord>> AuthService::cachedSession(
    const std::string& idHash) {
    const auto now = std::chrono::steady_clock::now();
    {
        std::lock_guard lock(credentials_->mutex);
        if (auto hit = credentials_->sessions.get(idHash, now)) co_return hit;
    }
    auto session = co_await store_.findSession(idHash);
    if (session) {
        std::lock_guard lock(credentials_->mutex);
        credentials_->sessions.put(idHash, *session, now);
    }
    co_return session;
}

boost::asio::awaitable<AuthOutcome> AuthService::authenticate(PresentedCredential credential,
                                                              boost::asio::ip::address) {
    using Scheme = PresentedCredential::Scheme;
    if (credential.scheme == Scheme::sessionCookie) co_return co_await authenticateSession(credential.value);
    if (looksLikeApiToken(credential.value)) co_return co_await authenticateApiToken(credential.value);
    // "Token" is DRF's scheme for opaque tokens only.
    if (credential.scheme == Scheme::token) co_return refused("malformed");
    if (oidc_ && oidc_->handles(credential.value)) co_return co_await authenticateExternal(credential.value);
    co_return co_await authenticateJwt(credential.value);
}

boost::asio::awaitable<AuthOutcome> AuthService::authenticateJwt(std::string_view token) {
    auto keys = verificationKeys();
    auto result = accessVerifier_.verify(token, *keys);
    if (!result.ok && result.error == VerifyError::kKidUnknown && reloadKeysForUnknownKid()) {
        keys = verificationKeys();
        result = accessVerifier_.verify(token, *keys);
    }
    if (!result.ok) co_return refused(verifyErrorName(result.error));
    const auto* family = result.claims.raw.if_contains("family_id");
    if (!family || !family->is_string() || family->get_string().empty() || !result.claims.issuedAt) {
        co_return refused("invalid_claim");
    }
    std::string familyId(family->get_string());
    auto user = co_await cachedUser(result.claims.subject);
    if (!user || !user->active) co_return refused("user_inactive");
    if (revokedSince(*user, *result.claims.issuedAt)) co_return refused("revoked");
    const bool familyLive = co_await cachedFamilyLive(familyId);
    if (!familyLive) co_return refused("revoked");
    co_return AuthOutcome{.principal = principalFor(*user, CredentialKind::accessToken, result.claims.scopes,
                                                    std::move(familyId)),
                          .failure = {}};
}

boost::asio::awaitable<AuthOutcome> AuthService::authenticateApiToken(std::string_view token) {
    const std::string hash = sha256Hex(token);
    auto record = co_await cachedApiToken(hash);
    // The lookup is by hash, which reveals nothing about the token; the comparison is constant-time anyway.
    if (!record || !constantTimeEquals(record->tokenHash, hash)) co_return refused("unknown_token");
    const Seconds time = now();
    if (record->revoked) co_return refused("revoked");
    if (record->expires && *record->expires <= time) co_return refused("expired");
    auto user = co_await cachedUser(record->userId);
    if (!user || !user->active) co_return refused("user_inactive");
    if (revokedSince(*user, record->created)) co_return refused("revoked");
    if (!record->lastUsed || *record->lastUsed + kTouchInterval <= time) {
        co_await store_.touchApiToken(record->id, time);
        std::lock_guard lock(credentials_->mutex);
        credentials_->apiTokens.entries.erase(hash);  // so the next request sees lastUsed and does not touch
    }
    co_return AuthOutcome{
        .principal = principalFor(*user, CredentialKind::apiToken, record->scopes, record->id),
        .failure = {}};
}

boost::asio::awaitable<AuthOutcome> AuthService::authenticateSession(std::string_view cookie) {
    if (!looksLikeSessionId(cookie)) co_return refused("malformed");
    std::string idHash = sha256Hex(cookie);
    auto session = co_await cachedSession(idHash);
    if (!session) co_return refused("unknown_session");
    if (session->revoked) co_return refused("revoked");
    if (session->expires <= now()) co_return refused("expired");
    auto user = co_await cachedUser(session->userId);
    if (!user || !user->active) co_return refused("user_inactive");
    if (revokedSince(*user, session->created)) co_return refused("revoked");
    co_return AuthOutcome{.principal = principalFor(*user, CredentialKind::session, {std::string(kAllScopes)},
                                                    std::move(idHash)),
                          .failure = {}};
}

boost::asio::awaitable<AuthOutcome> AuthService::authenticateExternal(std::string_view token) {
    std::string failure;
    auto external = co_await oidc_->verify(token, &failure);
    if (!external) co_return refused("external_" + failure);
    const std::string role(roleName(external->role));
    auto user = co_await store_.findUserByUsername(external->username);
    if (!user) {
        store::UserRecord record{.id = randomToken(16),
                                 .username = external->username,
                                 .role = role,
                                 .active = true,
                                 .created = now()};
        bool created = true;
        try {
            co_await store_.createUser(record);
        } catch (const store::Conflict&) {
            created = false;  // a concurrent first request won
        }
        if (created) {
            spdlog::info("created local user {} for an external identity", record.id);
            user = std::move(record);
        } else {
            user = co_await store_.findUserByUsername(external->username);
        }
        if (!user) co_return refused("external_user_conflict");
    }
    if (!user->active) co_return refused("user_inactive");
    if (user->role != role) {
        store::UserPatch patch;
        patch.role = role;
        auto updated = co_await store_.updateUser(user->id, std::move(patch));
        forgetCachedCredentials();
        if (updated) user = std::move(updated);
    }
    co_return AuthOutcome{
        .principal = principalFor(*user, CredentialKind::external, {std::string(kAllScopes)}, std::string()),
        .failure = {}};
}

// --- login ---

boost::asio::awaitable<void> AuthService::loginFailed(const std::optional<store::UserRecord>& user,
                                                      const std::string& username,
                                                      const RequestContext& context,
                                                      std::string_view reason) {
    const Seconds time = now();
    const std::string addressKey = "ip:" + clientText(context.client);
    const std::string nameKey = "user:" + lowerAscii(username);
    auto addressLockout =
        throttle_->fail(addressKey, time, settings_.loginMaxFailures * kAddressFailureFactor, settings_);
    auto nameLockout = throttle_->fail(nameKey, time, settings_.loginMaxFailures, settings_);
    if (user) {
        std::function<std::chrono::seconds(int)> lockout = [this](int failures) {
            return lockoutFor(failures, settings_);
        };
        auto updated = co_await store_.recordLoginFailure(user->id, time, std::move(lockout));
        if (updated && updated->lockedUntil && *updated->lockedUntil > time) {
            nameLockout = std::max(nameLockout, std::chrono::seconds(*updated->lockedUntil - time));
        }
    }
    const std::string actor = user ? user->id : "anonymous";
    boost::json::object failure{{"reason", reason}};
    co_await audit("auth.login", actor, context, "user:" + username, "failure", std::move(failure));
    if (addressLockout > std::chrono::seconds::zero() || nameLockout > std::chrono::seconds::zero()) {
        boost::json::object lockouts{{"account_seconds", nameLockout.count()},
                                     {"address_seconds", addressLockout.count()}};
        co_await audit("auth.lockout", actor, context, "user:" + username, "locked", std::move(lockouts));
    }
}

boost::asio::awaitable<LoginResult> AuthService::login(LoginRequest request, RequestContext context) {
    const Seconds time = now();
    const std::string addressKey = "ip:" + clientText(context.client);
    const std::string nameKey = "user:" + lowerAscii(request.username);

    auto lockedUntil = throttle_->lockedUntil(addressKey, time);
    if (auto nameLocked = throttle_->lockedUntil(nameKey, time)) {
        lockedUntil = std::max(lockedUntil.value_or(Seconds{}), *nameLocked);
    }
    std::optional<store::UserRecord> user;
    if (validUsername(request.username)) user = co_await store_.findUserByUsername(request.username);
    if (user && user->lockedUntil && *user->lockedUntil > time) {
        lockedUntil = std::max(lockedUntil.value_or(Seconds{}), *user->lockedUntil);
    }
    if (lockedUntil) {
        const std::string actor = user ? user->id : "anonymous";
        co_await audit("auth.login", actor, context, "user:" + request.username, "throttled");
        AuthError error(Kind::throttled, "too_many_attempts", "too many failed logins; try again later");
        error.retryAfter = *lockedUntil - time;
        throw error;
    }

    // Unknown users and users without a password verify against a dummy hash, so that a wrong name
    // costs the same time as a wrong password.
    const std::string_view password = request.password.reveal();
    const bool passwordOk = user && !user->passwordHash.empty()
                                ? verifyPassword(password, user->passwordHash)
                                : verifyAgainstDummy(password, settings_.hashing);
    if (!passwordOk || !user || !user->active) {
        co_await loginFailed(user, request.username, context,
                             !user ? "unknown_user" : (!passwordOk ? "bad_password" : "inactive"));
        throw invalidCredentials();
    }

    if (user->totpEnabled) {
        if (!request.totp) {
            throw AuthError(Kind::totpRequired, "totp_required", "this account needs a one-time code",
                            "/totp");
        }
        auto secret = openSecret(user->totpSecretSealed, serverSecret_, kTotpSealContext, user->id);
        std::optional<std::int64_t> step;
        if (secret) step = verifyTotp(secret->reveal(), *request.totp, clock_(), user->totpLastStep);
        bool accepted = false;
        if (step) accepted = co_await store_.consumeTotpStep(user->id, *step);
        if (!accepted) {
            co_await loginFailed(user, request.username, context, secret ? "bad_totp" : "totp_unreadable");
            throw invalidCredentials();
        }
    }

    store::UserPatch patch;
    patch.failedLogins = 0;
    patch.lockedUntil = std::optional<Seconds>{};
    patch.lastLogin = std::optional<Seconds>{time};
    if (needsRehash(user->passwordHash, settings_.hashing)) {
        if (auto rehashed = hashPassword(password, settings_.hashing))
            patch.passwordHash = std::move(*rehashed);
    }
    co_await store_.updateUser(user->id, std::move(patch));
    forgetCachedCredentials();
    throttle_->reset(nameKey);
    boost::json::object kind{{"kind", request.session ? "session" : "token"}};
    co_await audit("auth.login", user->id, context, "user:" + user->username, "success", std::move(kind));

    LoginResult result;
    if (request.session) {
        auto sessionId = randomToken(32);
        // (Aggregates are built before co_await, never inside it: g++ 12 destroys such temporaries twice.)
        store::SessionRecord session{.idHash = sha256Hex(sessionId),
                                     .userId = user->id,
                                     .created = time,
                                     .expires = time + settings_.sessionTtl,
                                     .revoked = std::nullopt};
        co_await store_.createSession(std::move(session));
        result.session = NewSession{.cookieValue = SecretString(sessionId),
                                    .csrfToken = csrf_.tokenFor(sessionId),
                                    .maxAge = settings_.sessionTtl};
    } else {
        result.tokens = co_await issuePair(*user, randomToken(16));
    }
    co_return result;
}

boost::asio::awaitable<TokenPair> AuthService::issuePair(const store::UserRecord& user,
                                                         const std::string& familyId) {
    const auto currentRing = ring();
    auto refresh = issueRefreshToken(*currentRing,
                                     RefreshTokenParams{.subject = user.id,
                                                        .familyId = familyId,
                                                        .issuer = settings_.issuer,
                                                        .audience = settings_.audience,
                                                        .lifetime = settings_.refreshTokenTtl},
                                     clock_);
    auto access = issueAccessToken(*currentRing,
                                   AccessTokenParams{.subject = user.id,
                                                     .issuer = settings_.issuer,
                                                     .audience = settings_.audience,
                                                     .scopes = {std::string(kAllScopes)},
                                                     .lifetime = settings_.accessTokenTtl,
                                                     .familyId = familyId},
                                   clock_);
    if (!refresh.ok || !access.ok) throw std::runtime_error("cannot sign tokens: no usable signing key");
    store::RefreshTokenRecord first{.tokenId = refresh.tokenId,
                                    .familyId = familyId,
                                    .userId = user.id,
                                    .issued = now(),
                                    .expires = refresh.expires};
    co_await store_.createRefreshFamily(std::move(first));
    co_return TokenPair{.accessToken = std::move(access.token),
                        .refreshToken = std::move(refresh.token),
                        .expiresIn = settings_.accessTokenTtl};
}

boost::asio::awaitable<TokenPair> AuthService::refresh(std::string refreshToken, RequestContext context) {
    auto keys = verificationKeys();
    auto verified = refreshVerifier_.verify(refreshToken, *keys);
    if (!verified.ok && verified.error == VerifyError::kKidUnknown && reloadKeysForUnknownKid()) {
        keys = verificationKeys();
        verified = refreshVerifier_.verify(refreshToken, *keys);
    }
    const auto* family = verified.ok ? verified.claims.raw.if_contains("family_id") : nullptr;
    if (!family || !family->is_string() || family->get_string().empty() || verified.claims.tokenId.empty()) {
        throw unauthorized();
    }
    const std::string familyId(family->get_string());
    const std::string userId = verified.claims.subject;
    auto user = co_await store_.findUserById(userId);
    if (!user || !user->active) throw unauthorized();

    // Sign the successor first; it only becomes valid if the rotation below stores it.
    const auto currentRing = ring();
    auto next = issueRefreshToken(*currentRing,
                                  RefreshTokenParams{.subject = userId,
                                                     .familyId = familyId,
                                                     .issuer = settings_.issuer,
                                                     .audience = settings_.audience,
                                                     .lifetime = settings_.refreshTokenTtl},
                                  clock_);
    if (!next.ok) throw std::runtime_error("cannot sign tokens: no usable signing key");
    store::RefreshTokenRecord successor{.tokenId = next.tokenId,
                                        .familyId = familyId,
                                        .userId = userId,
                                        .issued = now(),
                                        .expires = next.expires};
    auto rotated = co_await store_.rotateRefreshToken(verified.claims.tokenId, std::move(successor), now());
    forgetCachedCredentials();
    if (rotated.outcome == store::RefreshOutcome::reused) {
        boost::json::object detail{{"detail", "a spent refresh token was presented; the family is revoked"}};
        co_await audit("auth.refresh_reuse", userId, context, "family:" + familyId, "denied",
                       std::move(detail));
        throw unauthorized();
    }
    if (rotated.outcome != store::RefreshOutcome::rotated) throw unauthorized();

    auto access = issueAccessToken(*currentRing,
                                   AccessTokenParams{.subject = userId,
                                                     .issuer = settings_.issuer,
                                                     .audience = settings_.audience,
                                                     .scopes = {std::string(kAllScopes)},
                                                     .lifetime = settings_.accessTokenTtl,
                                                     .familyId = familyId},
                                   clock_);
    if (!access.ok) throw std::runtime_error("cannot sign tokens: no usable signing key");
    co_return TokenPair{.accessToken = std::move(access.token),
                        .refreshToken = std::move(next.token),
                        .expiresIn = settings_.accessTokenTtl};
}

boost::asio::awaitable<void> AuthService::logout(Principal principal, RequestContext context) {
    switch (principal.credential) {
        case CredentialKind::accessToken:
            co_await store_.revokeRefreshFamily(principal.credentialId, now());
            forgetCachedCredentials();
            break;
        case CredentialKind::session:
            co_await store_.revokeSession(principal.credentialId, now());
            forgetCachedCredentials();
            break;
        case CredentialKind::apiToken:
            throw AuthError(Kind::invalid, "not_a_session",
                            "logout ends sessions and refresh families; revoke an API token with "
                            "DELETE /api/v1/tokens/{id}");
        case CredentialKind::external:
            break;  // the provider owns that session
    }
    co_await audit("auth.logout", principal.userId, context, "user:" + principal.username, "success");
}

// --- personal API tokens ---

boost::asio::awaitable<CreatedApiToken> AuthService::createApiToken(
    Principal principal, std::string name, std::vector<std::string> scopes,
    std::optional<std::chrono::seconds> expiresIn, RequestContext context) {
    if (name.empty() || name.size() > kMaxTokenNameBytes ||
        !std::all_of(name.begin(), name.end(), [](char c) { return c >= 0x20 && c < 0x7f; })) {
        throw AuthError(Kind::invalid, "invalid_field", "name must be 1 to 100 printable ASCII characters",
                        "/name");
    }
    if (scopes.empty())
        throw AuthError(Kind::invalid, "invalid_field", "at least one scope is needed", "/scopes");
    std::sort(scopes.begin(), scopes.end());
    scopes.erase(std::unique(scopes.begin(), scopes.end()), scopes.end());
    for (const auto& scope : scopes) {
        // A token may not do more than its user's role, nor more than the credential that creates it.
        if (!isKnownScope(scope) || !roleAllowsScope(principal.role, scope) || !principal.hasScope(scope)) {
            throw AuthError(Kind::invalid, "invalid_scope",
                            "a scope is unknown or not allowed for this account", "/scopes");
        }
    }
    // A credential confined to some queues cannot make a token that reaches the others.
    if (principal.restrictsQueues() &&
        std::none_of(scopes.begin(), scopes.end(),
                     [](const std::string& scope) { return isQueueScope(scope); })) {
        throw AuthError(
            Kind::invalid, "invalid_scope",
            "this credential is limited to some queues; the new token must name them (queue:NAME)",
            "/scopes");
    }
    const auto lifetime =
        expiresIn.value_or(std::min<std::chrono::seconds>(std::chrono::days{90}, settings_.apiTokenMaxTtl));
    if (lifetime < std::chrono::minutes{1} || lifetime > settings_.apiTokenMaxTtl) {
        throw AuthError(Kind::invalid, "invalid_field",
                        "expires_in must be between 60 and " +
                            std::to_string(settings_.apiTokenMaxTtl.count()) + " seconds",
                        "/expires_in");
    }
    auto generated = generateApiToken();
    const Seconds time = now();
    store::ApiTokenRecord record{.id = randomToken(16),
                                 .userId = principal.userId,
                                 .name = std::move(name),
                                 .tokenHash = hashHex(generated.hash),
                                 .displayPrefix = generated.displayPrefix,
                                 .scopes = std::move(scopes),
                                 .created = time,
                                 .expires = time + lifetime,
                                 .lastUsed = std::nullopt,
                                 .revoked = std::nullopt};
    co_await store_.createApiToken(record);
    boost::json::array scopeList(record.scopes.begin(), record.scopes.end());
    boost::json::object created{{"name", record.name}, {"scopes", std::move(scopeList)}};
    co_await audit("token.created", principal.userId, context, "token:" + record.id, "success",
                   std::move(created));
    co_return CreatedApiToken{.record = std::move(record), .token = std::move(generated.token)};
}

boost::asio::awaitable<std::vector<store::ApiTokenRecord>> AuthService::listApiTokens(Principal principal,
                                                                                      std::string owner) {
    if (owner.empty()) owner = principal.userId;
    const bool mayReadOthers = principal.role == Role::admin || principal.role == Role::auditor;
    if (owner != principal.userId && !mayReadOthers)
        throw AuthError(Kind::notFound, "not_found", "no such user");
    co_return co_await store_.listApiTokens(owner);
}

boost::asio::awaitable<void> AuthService::revokeApiToken(Principal principal, std::string tokenId,
                                                         RequestContext context) {
    // An admin may revoke anyone's token; everyone else only their own (an auditor changes nothing).
    std::string owner = principal.userId;
    if (principal.role == Role::admin) {
        auto token = co_await store_.findApiTokenById(tokenId);
        if (token) owner = token->userId;
    }
    const bool revoked = co_await store_.revokeApiToken(owner, tokenId, now());
    forgetCachedCredentials();
    if (!revoked) throw AuthError(Kind::notFound, "not_found", "no such token");
    boost::json::object details{{"owner", owner}};
    co_await audit("token.revoked", principal.userId, context, "token:" + tokenId, "success",
                   std::move(details));
}

// --- TOTP ---

boost::asio::awaitable<TotpEnrolment> AuthService::enrolTotp(Principal principal, RequestContext context) {
    auto user = co_await store_.findUserById(principal.userId);
    if (!user) throw AuthError(Kind::notFound, "not_found", "no such user");
    if (user->totpEnabled) {
        throw AuthError(Kind::conflict, "totp_enabled", "two-factor login is on already; disable it first");
    }
    auto secret = generateTotpSecret();
    auto sealed = sealSecret(secret.reveal(), serverSecret_, kTotpSealContext, user->id);
    if (!sealed) throw std::runtime_error("cannot seal a TOTP secret");
    store::UserPatch patch;
    patch.totpSecretSealed = std::move(*sealed);
    patch.totpEnabled = false;
    patch.totpLastStep = std::optional<std::int64_t>{};
    co_await store_.updateUser(user->id, std::move(patch));
    forgetCachedCredentials();
    co_await audit("totp.enrol", user->id, context, "user:" + user->username, "success");
    co_return TotpEnrolment{.secretBase32 = base32Encode(secret.reveal()),
                            .uri = totpUri(user->username, secret.reveal())};
}

boost::asio::awaitable<void> AuthService::confirmTotp(Principal principal, std::string code,
                                                      RequestContext context) {
    auto user = co_await store_.findUserById(principal.userId);
    if (!user) throw AuthError(Kind::notFound, "not_found", "no such user");
    if (user->totpEnabled) throw AuthError(Kind::conflict, "totp_enabled", "two-factor login is on already");
    if (user->totpSecretSealed.empty()) {
        throw AuthError(Kind::invalid, "totp_not_enrolled", "enrol first: POST /api/v1/me/totp");
    }
    auto secret = openSecret(user->totpSecretSealed, serverSecret_, kTotpSealContext, user->id);
    std::optional<std::int64_t> step;
    if (secret) step = verifyTotp(secret->reveal(), code, clock_(), user->totpLastStep);
    bool accepted = false;
    if (step) accepted = co_await store_.consumeTotpStep(user->id, *step);
    if (!accepted) {
        co_await audit("totp.confirm", user->id, context, "user:" + user->username, "failure");
        throw AuthError(Kind::invalid, "totp.invalid_code", "the code is wrong or was used already", "/code");
    }
    store::UserPatch patch;
    patch.totpEnabled = true;
    co_await store_.updateUser(user->id, std::move(patch));
    forgetCachedCredentials();
    co_await audit("totp.enabled", user->id, context, "user:" + user->username, "success");
}

boost::asio::awaitable<void> AuthService::disableTotp(Principal principal, SecretString password,
                                                      std::string code, RequestContext context) {
    auto user = co_await store_.findUserById(principal.userId);
    if (!user) throw AuthError(Kind::notFound, "not_found", "no such user");
    if (!user->totpEnabled) throw AuthError(Kind::conflict, "totp_disabled", "two-factor login is off");
    const bool passwordOk =
        !user->passwordHash.empty() && verifyPassword(password.reveal(), user->passwordHash);
    auto secret = openSecret(user->totpSecretSealed, serverSecret_, kTotpSealContext, user->id);
    std::optional<std::int64_t> step;
    if (passwordOk && secret) step = verifyTotp(secret->reveal(), code, clock_(), user->totpLastStep);
    bool accepted = false;
    if (step) accepted = co_await store_.consumeTotpStep(user->id, *step);
    if (!accepted) {
        co_await audit("totp.disable", user->id, context, "user:" + user->username, "failure");
        throw AuthError(Kind::forbidden, "invalid_credentials", "the password or code is wrong");
    }
    store::UserPatch patch;
    patch.totpEnabled = false;
    patch.totpSecretSealed = std::string();
    co_await store_.updateUser(user->id, std::move(patch));
    forgetCachedCredentials();
    co_await audit("totp.disabled", user->id, context, "user:" + user->username, "success");
}

// --- users ---

boost::asio::awaitable<std::optional<store::UserRecord>> AuthService::findUser(std::string id) {
    co_return co_await cachedUser(id);
}

boost::asio::awaitable<std::vector<store::UserRecord>> AuthService::listUsers(std::string afterUsername,
                                                                              int limit) {
    co_return co_await store_.listUsers(std::move(afterUsername), limit);
}

namespace {

void checkNewPassword(const SecretString& password, std::string_view username, std::string_view email,
                      const PasswordPolicy& policy) {
    if (auto violation = checkPassword(password.reveal(), username, email, policy)) {
        throw AuthError(Kind::invalid, std::string(ruleId(violation->rule)), violation->message, "/password");
    }
}

}  // namespace

boost::asio::awaitable<store::UserRecord> AuthService::createUser(NewUser user, std::string actor,
                                                                  RequestContext context) {
    if (!validUsername(user.username)) {
        throw AuthError(Kind::invalid, "invalid_field",
                        "username must be 1 to 150 characters: letters, digits and @.+-_", "/username");
    }
    if (user.email && !validEmail(*user.email)) {
        throw AuthError(Kind::invalid, "invalid_field", "email is not a valid address", "/email");
    }
    checkNewPassword(user.password, user.username, user.email.value_or(""), settings_.passwordPolicy);
    auto hash = hashPassword(user.password.reveal(), settings_.hashing);
    if (!hash) throw std::runtime_error("password hashing failed");
    store::UserRecord record{.id = randomToken(16),
                             .username = user.username,
                             .email = user.email,
                             .role = std::string(roleName(user.role)),
                             .active = true,
                             .passwordHash = std::move(*hash),
                             .created = now()};
    try {
        co_await store_.createUser(record);
    } catch (const store::Conflict&) {
        throw AuthError(Kind::conflict, "conflict", "the username or email is taken");
    }
    boost::json::object created{{"username", record.username}, {"role", record.role}};
    co_await audit("user.created", actor, context, "user:" + record.id, "success", std::move(created));
    co_return record;
}

boost::asio::awaitable<store::UserRecord> AuthService::updateUser(std::string id, UserChanges changes,
                                                                  std::string actor, RequestContext context) {
    auto user = co_await store_.findUserById(id);
    if (!user) throw AuthError(Kind::notFound, "not_found", "no such user");
    // An admin who locks themselves out leaves nobody to undo it.
    if (actor == id &&
        ((changes.active && !*changes.active) || (changes.role && *changes.role != Role::admin))) {
        throw AuthError(Kind::invalid, "self_lockout", "you cannot disable or demote your own account");
    }
    store::UserPatch patch;
    if (changes.email) {
        if (*changes.email && !validEmail(**changes.email)) {
            throw AuthError(Kind::invalid, "invalid_field", "email is not a valid address", "/email");
        }
        patch.email = *changes.email;
    }
    if (changes.password) {
        const auto& email = changes.email ? *changes.email : user->email;
        checkNewPassword(*changes.password, user->username, email.value_or(""), settings_.passwordPolicy);
        auto hash = hashPassword(changes.password->reveal(), settings_.hashing);
        if (!hash) throw std::runtime_error("password hashing failed");
        patch.passwordHash = std::move(*hash);
        patch.failedLogins = 0;
        patch.lockedUntil = std::optional<Seconds>{};
    }
    const std::string oldRole = user->role;
    if (changes.role) patch.role = std::string(roleName(*changes.role));
    if (changes.active && *changes.active) {
        patch.active = true;
        patch.failedLogins = 0;
        patch.lockedUntil = std::optional<Seconds>{};
    }
    std::optional<store::UserRecord> updated;
    try {
        updated = co_await store_.updateUser(id, std::move(patch));
        forgetCachedCredentials();
    } catch (const store::Conflict&) {
        throw AuthError(Kind::conflict, "conflict", "the email is taken");
    }
    if (!updated) throw AuthError(Kind::notFound, "not_found", "no such user");
    const std::string target = "user:" + id;
    if (changes.role && updated->role != oldRole) {
        boost::json::object roles{{"from", oldRole}, {"to", updated->role}};
        co_await audit("user.role_changed", actor, context, target, "success", std::move(roles));
    }
    if (changes.password) co_await audit("user.password_reset", actor, context, target, "success");
    if (changes.active && *changes.active && !user->active)
        co_await audit("user.enabled", actor, context, target, "success");
    if (changes.active && !*changes.active && user->active) {
        // Disabling ends every credential at once, not at their next expiry.
        co_await store_.revokeAllCredentials(id, now(), true);
        forgetCachedCredentials();
        co_await audit("user.disabled", actor, context, target, "success");
        updated = co_await store_.findUserById(id);
        if (!updated) throw AuthError(Kind::notFound, "not_found", "no such user");
    }
    co_return *updated;
}

boost::asio::awaitable<void> AuthService::revokeAllCredentials(std::string id, std::string actor,
                                                               RequestContext context) {
    const bool revoked = co_await store_.revokeAllCredentials(id, now(), false);
    forgetCachedCredentials();
    if (!revoked) {
        throw AuthError(Kind::notFound, "not_found", "no such user");
    }
    co_await audit("user.credentials_revoked", std::move(actor), context, "user:" + id, "success");
}

std::optional<SecretString> AuthService::bootstrapAdmin(const std::filesystem::path& passwordFile) {
    if (store_.countUsersBlocking() > 0) return std::nullopt;
    SecretString password;
    bool generated = false;
    if (!passwordFile.empty()) {
        std::ifstream in(passwordFile, std::ios::binary);
        if (!in) throw std::runtime_error("cannot read RAMPART_ADMIN_PASSWORD_FILE");
        std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
        password = SecretString(std::move(text));
    } else {
        password = SecretString(randomToken(18));  // 144 bits, 24 characters
        generated = true;
    }
    try {
        runBlocking(createUser(
            NewUser{.username = "admin", .email = std::nullopt, .role = Role::admin, .password = password},
            "system", RequestContext{}));
    } catch (const AuthError& error) {
        throw std::runtime_error(std::string("the first admin's password is refused: ") + error.what());
    }
    return generated ? std::optional<SecretString>(std::move(password))
                     : std::optional<SecretString>(SecretString());
}

}  // namespace rampart::identity
