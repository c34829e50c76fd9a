// The spans of the identity services under a request's span: a login's store calls and its password hash,
// the authenticator's store reads on a cache miss (none on a hit), an account change's store calls and
// hash. Each span is the request's child; none holds a password, a token, a username or an address, and
// an unknown name's login shows the same spans as a known one's.
#include <algorithm>
#include <set>

#include <gtest/gtest.h>

#include "identity/api_token.hpp"
#include "identity/credential_rules.hpp"
#include "identity/identity_services.hpp"
#include "obs/tracer.hpp"
#include "store/sqlite/sqlite_store.hpp"
#include "testing/audit_key.hpp"
#include "testing/cheap_hashing.hpp"
#include "testing/recording_span_sink.hpp"
#include "testing/run_to_completion.hpp"
#include "testing/temp_directory.hpp"

namespace rampart::identity {
namespace {

using namespace std::chrono_literals;
using testing::RecordingSpanSink;
using testing::runToCompletion;

constexpr std::string_view kPassword = "correct horse battery staple 42";

AuthSettings testSettings() {
    AuthSettings settings;
    settings.hashing = rampart::testing::cheapestHashing();
    return settings;
}

class IdentityTracingTest : public ::testing::Test {
  protected:
    IdentityTracingTest()
        : store_(dir_.path() / "rampart.db"),
          secret_("a test secret key of enough length for hkdf"),
          sink_(std::make_shared<RecordingSpanSink>()),
          tracer_(obs::SamplerSettings{.kind = obs::SamplerKind::alwaysOn}, sink_) {
        store_.setAuditKey(rampart::testing::testAuditKey());
        store_.migrate();
        ids_ = std::make_unique<IdentityServices>(store_, store_, secret_, testSettings());
        ids_->keys.loadKeys();
        runToCompletion(ids_->accounts.createUser(NewUser{.username = "alice",
                                                          .email = std::nullopt,
                                                          .role = Role::user,
                                                          .password = SecretString(std::string(kPassword))},
                                                  "system", RequestContext{}));
    }
    ~IdentityTracingTest() override { store_.close(); }

    // What `call` recorded under a fresh request span: the spans other than the request's own.
    template <class Fn>
    std::vector<obs::SpanData> spansOf(Fn call) {
        const std::size_t before = sink_->spans().size();
        {
            auto request = tracer_.start("request", obs::SpanKind::server, nullptr);
            requestSpanId_ = request.context().spanId;
            requestTraceId_ = request.context().traceId;
            call(request);
        }
        auto all = sink_->spans();
        std::vector<obs::SpanData> spans(all.begin() + static_cast<std::ptrdiff_t>(before), all.end());
        std::erase_if(spans,
                      [&](const obs::SpanData& span) { return span.context.spanId == requestSpanId_; });
        return spans;
    }

    LoginResult login(const obs::Span& request, const std::string& name,
                      std::string_view password = kPassword) {
        return runToCompletion(
            ids_->logins.login(LoginRequest{.username = name,
                                            .password = SecretString(std::string(password)),
                                            .totp = std::nullopt,
                                            .session = false},
                               RequestContext{.requestId = "req-1",
                                              .client = boost::asio::ip::make_address("192.0.2.10"),
                                              .trace = &request}));
    }

    AuthOutcome authenticate(const obs::Span& request, std::string_view credential) {
        return runToCompletion(ids_->authenticator.authenticate(
            PresentedCredential{.scheme = PresentedCredential::Scheme::bearer, .value = credential},
            boost::asio::ip::make_address("192.0.2.10"), request));
    }

    // Every span is the request's child, in its trace; store calls say which database and which call.
    void expectChildrenOfTheRequest(const std::vector<obs::SpanData>& spans) {
        for (const auto& span : spans) {
            EXPECT_EQ(span.context.traceId, requestTraceId_) << span.name;
            EXPECT_EQ(span.parentSpanId, requestSpanId_) << span.name;
            EXPECT_NE(span.endUnixNanos, 0u) << span.name;
            if (span.name.view().starts_with("password.")) {
                EXPECT_EQ(span.kind, obs::SpanKind::internal);
                continue;
            }
            EXPECT_EQ(span.kind, obs::SpanKind::client) << span.name;
            EXPECT_EQ(RecordingSpanSink::attribute(span, "db.system"), "sqlite") << span.name;
            EXPECT_EQ(RecordingSpanSink::attribute(span, "db.operation.name"), span.name);
        }
    }

    // No span's name or attribute holds any of `secrets`.
    static void expectNoneHolds(const std::vector<obs::SpanData>& spans,
                                const std::vector<std::string>& secrets) {
        for (const auto& span : spans) {
            for (const auto& secret : secrets) {
                EXPECT_EQ(span.name.view().find(secret), std::string::npos) << span.name;
                for (const auto& attribute : span.attributes) {
                    EXPECT_EQ(RecordingSpanSink::attribute(span, attribute.key).find(secret),
                              std::string::npos)
                        << span.name << " " << attribute.key;
                }
            }
        }
    }

    static std::vector<std::string> names(const std::vector<obs::SpanData>& spans) {
        std::vector<std::string> result;
        for (const auto& span : spans) result.emplace_back(span.name.view());
        return result;
    }

    rampart::testing::TempDirectory dir_;
    store::SqliteStore store_;
    SecretString secret_;
    std::shared_ptr<RecordingSpanSink> sink_;
    obs::Tracer tracer_;
    std::unique_ptr<IdentityServices> ids_;
    obs::SpanId requestSpanId_{};
    obs::TraceId requestTraceId_{};
};

TEST_F(IdentityTracingTest, ALoginsStoreCallsAndPasswordHashAreSpansOfItsRequestHoldingNoSecret) {
    LoginResult result;
    const auto spans = spansOf([&](const obs::Span& request) { result = login(request, "alice"); });
    ASSERT_TRUE(result.tokens);
    const auto called = names(spans);
    for (const char* expected : {"findLoginNameFailures", "findUserByUsername", "password.verify",
                                 "updateUser", "appendAudit", "createRefreshFamily"}) {
        EXPECT_NE(std::find(called.begin(), called.end(), expected), called.end()) << expected;
    }
    expectChildrenOfTheRequest(spans);
    expectNoneHolds(spans, {std::string(kPassword), "alice", "192.0.2.10", result.tokens->accessToken,
                            result.tokens->refreshToken});
}

TEST_F(IdentityTracingTest, AnUnknownNamesLoginShowsTheSameHashSpanAsAWrongPassword) {
    const auto wrong = spansOf([&](const obs::Span& request) {
        EXPECT_THROW(login(request, "alice", "a wrong password of some length"), AuthError);
    });
    expectChildrenOfTheRequest(wrong);
    const auto unknown = spansOf([&](const obs::Span& request) {
        EXPECT_THROW(login(request, "nobody-here", "a wrong password of some length"), AuthError);
    });
    const auto hashSpans = [](const std::vector<obs::SpanData>& spans) {
        std::vector<std::string> hashes;
        for (const auto& span : spans)
            if (span.name.view().starts_with("password.")) hashes.emplace_back(span.name.view());
        return hashes;
    };
    EXPECT_EQ(hashSpans(wrong), std::vector<std::string>{"password.verify"});
    EXPECT_EQ(hashSpans(unknown), std::vector<std::string>{"password.verify"});
    expectChildrenOfTheRequest(unknown);
    expectNoneHolds(unknown, {"nobody-here", "a wrong password of some length"});
    // The failure is recorded against the name and audited, as spans too.
    const auto called = names(unknown);
    EXPECT_NE(std::find(called.begin(), called.end(), "recordLoginNameFailure"), called.end());
    EXPECT_NE(std::find(called.begin(), called.end(), "appendAudit"), called.end());
}

TEST_F(IdentityTracingTest, AuthenticatingReadsTheStoreInSpansOnACacheMissAndCostsNoSpanOnAHit) {
    LoginResult result;
    spansOf([&](const obs::Span& request) { result = login(request, "alice"); });
    ASSERT_TRUE(result.tokens);
    ids_->cache.clear();
    const auto miss = spansOf([&](const obs::Span& request) {
        EXPECT_TRUE(authenticate(request, result.tokens->accessToken).principal);
    });
    const auto called = names(miss);
    EXPECT_EQ(std::set<std::string>(called.begin(), called.end()),
              (std::set<std::string>{"findUserById", "refreshFamilyLive"}));
    expectChildrenOfTheRequest(miss);
    expectNoneHolds(miss, {result.tokens->accessToken});

    const auto hit = spansOf([&](const obs::Span& request) {
        EXPECT_TRUE(authenticate(request, result.tokens->accessToken).principal);
    });
    EXPECT_TRUE(hit.empty()) << hit.size() << " spans, the first " << hit.front().name;
}

TEST_F(IdentityTracingTest, AnApiTokensLookUpIsASpanThatNeverHoldsTheToken) {
    LoginResult result;
    spansOf([&](const obs::Span& request) { result = login(request, "alice"); });
    const auto principal = authenticate(obs::Span::off(), result.tokens->accessToken).principal;
    ASSERT_TRUE(principal);
    CreatedApiToken created;
    const auto creating = spansOf([&](const obs::Span& request) {
        created = runToCompletion(ids_->accounts.createApiToken(
            *principal, "ci", {"jobs:read"}, 3600s,
            RequestContext{.requestId = "req-2",
                           .client = boost::asio::ip::make_address("192.0.2.10"),
                           .trace = &request}));
    });
    const auto made = names(creating);
    EXPECT_NE(std::find(made.begin(), made.end(), "createApiToken"), made.end());
    ids_->cache.clear();
    const std::string token = created.token.reveal();
    const auto spans =
        spansOf([&](const obs::Span& request) { EXPECT_TRUE(authenticate(request, token).principal); });
    const auto called = names(spans);
    for (const char* expected : {"findApiTokenByHash", "findUserById", "touchApiToken"})
        EXPECT_NE(std::find(called.begin(), called.end(), expected), called.end()) << expected;
    expectChildrenOfTheRequest(spans);
    expectNoneHolds(creating, {token});
    expectNoneHolds(spans, {token, sha256Hex(token)});
}

TEST_F(IdentityTracingTest, WithoutARequestSpanNothingIsRecorded) {
    const std::size_t before = sink_->spans().size();
    runToCompletion(ids_->logins.login(
        LoginRequest{.username = "alice",
                     .password = SecretString(std::string(kPassword)),
                     .totp = std::nullopt,
                     .session = false},
        RequestContext{.requestId = "req-3", .client = boost::asio::ip::make_address("192.0.2.10")}));
    EXPECT_EQ(sink_->spans().size(), before);
}

}  // namespace
}  // namespace rampart::identity
