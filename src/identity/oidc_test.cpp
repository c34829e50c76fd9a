// OIDC providers: tokens of configured issuers become identities (username prefixed, role mapped); every
// forgery and mismatch is refused; JWKS over HTTPS from an in-process server is refreshed on a new kid at
// most once a minute, and a bad answer never replaces good keys.
#include "identity/oidc.hpp"

#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <atomic>
#include <random>
#include <thread>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include "identity/jwks.hpp"
#include "identity/jwt_test_support.hpp"
#include "testing/recording_span_sink.hpp"
#include "testing/run_to_completion.hpp"
#include "testing/self_signed.hpp"
#include "testing/temp_directory.hpp"

namespace rampart::identity {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
namespace json = boost::json;
using namespace std::chrono_literals;
using fixtures::b64;
using rampart::testing::RecordingSpanSink;
using rampart::testing::runToCompletion;
using rampart::testing::TempDirectory;

constexpr std::string_view kIssuer = "https://idp.example";
constexpr std::string_view kAudience = "rampart-api";

std::string jwksDocument(std::initializer_list<const VerificationKey*> keys) {
    KeySet set;
    for (const VerificationKey* key : keys) set.add(*key);
    return json::serialize(toJwks(set));
}

// A self-signed P-256 certificate (it is its own trust anchor) for the names in `subjectAltName`.
using TestCertificate = rampart::testing::SelfSigned;
using rampart::testing::pemOf;

// An HTTPS server on 127.0.0.1 on its own thread that answers every request with the current status, body
// and headers, and counts the requests.
class JwksServer {
  public:
    explicit JwksServer(const TestCertificate& certificate) : tls_(asio::ssl::context::tls_server) {
        tls_.use_certificate_chain(asio::buffer(certificate.certPem));
        tls_.use_private_key(asio::buffer(certificate.keyPem), asio::ssl::context::pem);
        acceptor_.open(asio::ip::tcp::v4());
        acceptor_.bind({asio::ip::make_address("127.0.0.1"), 0});
        acceptor_.listen();
        asio::co_spawn(io_, acceptLoop(), asio::detached);
        thread_ = std::thread([this] { io_.run(); });
    }
    ~JwksServer() {
        io_.stop();
        thread_.join();
    }

    [[nodiscard]] std::uint16_t port() const { return acceptor_.local_endpoint().port(); }
    [[nodiscard]] int requests() const { return requests_.load(); }
    void serve(http::status status, std::string body, std::string location = {}) {
        std::lock_guard lock(mutex_);
        status_ = status;
        body_ = std::move(body);
        location_ = std::move(location);
    }

  private:
    asio::awaitable<void> acceptLoop() {
        for (;;) {
            auto socket = co_await acceptor_.async_accept(asio::use_awaitable);
            asio::co_spawn(io_, session(std::move(socket)), asio::detached);
        }
    }

    asio::awaitable<void> session(asio::ip::tcp::socket socket) {
        try {
            beast::ssl_stream<beast::tcp_stream> stream(beast::tcp_stream(std::move(socket)), tls_);
            co_await stream.async_handshake(asio::ssl::stream_base::server, asio::use_awaitable);
            beast::flat_buffer buffer;
            http::request<http::empty_body> request;
            co_await http::async_read(stream, buffer, request, asio::use_awaitable);
            requests_.fetch_add(1);
            http::response<http::string_body> response;
            {
                std::lock_guard lock(mutex_);
                response.result(status_);
                response.body() = body_;
                if (!location_.empty()) response.set(http::field::location, location_);
            }
            response.set(http::field::content_type, "application/json");
            response.prepare_payload();
            co_await http::async_write(stream, response, asio::use_awaitable);
            beast::error_code ignored;
            beast::get_lowest_layer(stream).socket().shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
        } catch (const boost::system::system_error&) {
            // A client that refused our certificate or gave up: nothing to serve.
        }
    }

    asio::io_context io_;
    asio::ssl::context tls_;
    asio::ip::tcp::acceptor acceptor_{io_};
    std::thread thread_;
    std::atomic<int> requests_{0};
    std::mutex mutex_;
    http::status status_ = http::status::ok;
    std::string body_;
    std::string location_;
};

class OidcTest : public ::testing::Test {
  protected:
    OidcIssuer fileConfig(const std::string& jwks) const {
        OidcIssuer config;
        config.issuer = kIssuer;
        config.audience = kAudience;
        config.jwksFile = dir_.write("jwks.json", jwks);
        config.usernameClaim = "preferred_username";
        config.roleClaim = "groups";
        config.roleMap = {{"rampart-admins", "admin"}, {"rampart-auditors", "auditor"}};
        config.defaultRole = "user";
        return config;
    }

    OidcOptions options() {
        OidcOptions options;
        options.clock = time_.clock();
        options.cache = cache_;
        return options;
    }

    json::object claims() const {
        return json::object{{"iss", kIssuer},
                            {"aud", kAudience},
                            {"sub", "00u1abc"},
                            {"preferred_username", "alice@example.com"},
                            {"exp", time_.seconds() + 3600},
                            {"iat", time_.seconds()}};
    }

    std::string sign(const json::object& payload, std::string_view kid, Algorithm alg, EVP_PKEY* key) const {
        auto token = signJwt(payload, kid, alg, key);
        EXPECT_TRUE(token.has_value());
        return token.value_or("");
    }

    // Verifies through the registry; the refusal reason lands in failure_.
    std::optional<ExternalIdentity> verify(OidcRegistry& registry, const std::string& token) {
        failure_.clear();
        return runToCompletion(registry.verify(token, obs::Span::off(), &failure_));
    }

    EvpKeyPtr ed_ = fixtures::generateEd25519();
    EvpKeyPtr ec_ = fixtures::generateP256();
    EVP_PKEY* rsa_ = fixtures::sharedRsa2048();
    VerificationKey edKey_ = fixtures::mustKey("ed-1", Algorithm::kEdDSA, ed_.get());
    VerificationKey ecKey_ = fixtures::mustKey("ec-1", Algorithm::kES256, ec_.get());
    VerificationKey rsaKey_ = fixtures::mustKey("rsa-1", Algorithm::kRS256, rsa_);
    fixtures::ManualClock time_;
    std::shared_ptr<VerificationCache> cache_ = std::make_shared<VerificationCache>();
    TempDirectory dir_;
    std::string failure_;
};

TEST_F(OidcTest, AcceptsEachAlgorithmAndMapsUsernameAndRole) {
    OidcRegistry registry({fileConfig(jwksDocument({&edKey_, &ecKey_, &rsaKey_}))}, options());
    json::object payload = claims();
    payload["groups"] = json::array{"staff", "rampart-admins"};
    const std::string prefix = registry.find(kIssuer)->usernamePrefix();
    EXPECT_TRUE(prefix.starts_with("oidc:"));
    EXPECT_EQ(prefix.size(), std::string_view("oidc:12345678:").size());

    for (const auto& [kid, alg, key] :
         {std::tuple{"ed-1", Algorithm::kEdDSA, ed_.get()}, std::tuple{"ec-1", Algorithm::kES256, ec_.get()},
          std::tuple{"rsa-1", Algorithm::kRS256, rsa_}}) {
        SCOPED_TRACE(kid);
        const auto identity = verify(registry, sign(payload, kid, alg, key));
        ASSERT_TRUE(identity) << failure_;
        EXPECT_EQ(identity->issuer, kIssuer);
        EXPECT_EQ(identity->subject, "00u1abc");
        EXPECT_EQ(identity->username, prefix + "alice@example.com");
        EXPECT_EQ(identity->role, Role::admin);
        EXPECT_EQ(identity->claims.at("groups").as_array().size(), 2u);
    }
}

TEST_F(OidcTest, RoleClaimAsStringDefaultRoleAndRefusals) {
    OidcIssuer config = fileConfig(jwksDocument({&edKey_}));
    OidcRegistry withDefault({config}, options());
    json::object payload = claims();

    payload["groups"] = "rampart-auditors";  // a single string works like a one-element array
    auto identity = verify(withDefault, sign(payload, "ed-1", Algorithm::kEdDSA, ed_.get()));
    ASSERT_TRUE(identity) << failure_;
    EXPECT_EQ(identity->role, Role::auditor);

    payload["groups"] = json::array{"staff"};  // no mapping matches: default_role
    identity = verify(withDefault, sign(payload, "ed-1", Algorithm::kEdDSA, ed_.get()));
    ASSERT_TRUE(identity) << failure_;
    EXPECT_EQ(identity->role, Role::user);

    payload["groups"] = json::array{"rampart-admins", "rampart-auditors"};  // two roles: refused, not guessed
    EXPECT_FALSE(verify(withDefault, sign(payload, "ed-1", Algorithm::kEdDSA, ed_.get())));
    EXPECT_EQ(failure_, "role_ambiguous");

    payload["groups"] = json::array{"rampart-admins", 7};
    EXPECT_FALSE(verify(withDefault, sign(payload, "ed-1", Algorithm::kEdDSA, ed_.get())));
    EXPECT_EQ(failure_, "role_claim_invalid");

    config.defaultRole.reset();
    OidcRegistry withoutDefault({config}, options());
    payload["groups"] = json::array{"staff"};
    EXPECT_FALSE(verify(withoutDefault, sign(payload, "ed-1", Algorithm::kEdDSA, ed_.get())));
    EXPECT_EQ(failure_, "role_unmapped");
    payload.erase("groups");
    EXPECT_FALSE(verify(withoutDefault, sign(payload, "ed-1", Algorithm::kEdDSA, ed_.get())));
    EXPECT_EQ(failure_, "role_unmapped");
}

TEST_F(OidcTest, UsernameClaimMustBeShortPrintableText) {
    OidcRegistry registry({fileConfig(jwksDocument({&edKey_}))}, options());
    json::object payload = claims();
    for (const json::value& bad :
         {json::value(""), json::value(std::string(151, 'a')), json::value("bob smith"),
          json::value("b\xc3\xb6"
                      "b"),
          json::value(42)}) {
        SCOPED_TRACE(json::serialize(bad));
        payload["preferred_username"] = bad;
        EXPECT_FALSE(verify(registry, sign(payload, "ed-1", Algorithm::kEdDSA, ed_.get())));
        EXPECT_EQ(failure_, bad.is_string() ? "username_invalid" : "username_missing");
    }
    payload["preferred_username"] = std::string(150, 'a');
    EXPECT_TRUE(verify(registry, sign(payload, "ed-1", Algorithm::kEdDSA, ed_.get()))) << failure_;
}

TEST_F(OidcTest, RefusesMismatchesAndForgeries) {
    OidcRegistry registry({fileConfig(jwksDocument({&edKey_, &rsaKey_}))}, options());
    auto refused = [&](const std::string& token, std::string_view reason) {
        EXPECT_FALSE(verify(registry, token));
        EXPECT_EQ(failure_, reason);
    };

    json::object payload = claims();
    payload["aud"] = "someone-else";
    refused(sign(payload, "ed-1", Algorithm::kEdDSA, ed_.get()), "wrong_audience");

    payload = claims();
    payload["exp"] = time_.seconds() - 31;  // beyond the 30 s leeway
    refused(sign(payload, "ed-1", Algorithm::kEdDSA, ed_.get()), "expired");

    const std::string body = b64(json::serialize(claims()));
    refused(b64(R"({"alg":"none","typ":"JWT","kid":"ed-1"})") + "." + body + ".", "algorithm_none");

    // HS256 keyed with the RSA public key as the verifier would hold it: the classic confusion attack.
    const std::string hsHeader = b64(R"({"alg":"HS256","typ":"JWT","kid":"rsa-1"})");
    std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), BIO_free);
    PEM_write_bio_PUBKEY(bio.get(), rsa_);
    const std::string publicPem = pemOf(bio.get());
    const std::string signingInput = hsHeader + "." + body;
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int macSize = 0;
    HMAC(EVP_sha256(), publicPem.data(), static_cast<int>(publicPem.size()),
         reinterpret_cast<const unsigned char*>(signingInput.data()), signingInput.size(), mac, &macSize);
    refused(signingInput + "." + b64(std::string(reinterpret_cast<char*>(mac), macSize)),
            "algorithm_unsupported");

    // A key the provider never published, once under a known kid and once under its own.
    const EvpKeyPtr stranger = fixtures::generateEd25519();
    refused(sign(claims(), "ed-1", Algorithm::kEdDSA, stranger.get()), "bad_signature");
    refused(sign(claims(), "stranger", Algorithm::kEdDSA, stranger.get()), "kid_unknown");

    // Wrong iss at the provider itself (the registry would not even pick this provider).
    payload = claims();
    payload["iss"] = "https://idp.example/";
    const std::string otherIssuer = sign(payload, "ed-1", Algorithm::kEdDSA, ed_.get());
    const auto result = runToCompletion(registry.find(kIssuer)->verify(otherIssuer));
    EXPECT_FALSE(result.identity);
    EXPECT_EQ(result.failure, "wrong_issuer");
}

TEST_F(OidcTest, UnknownIssuerIsNotOursToJudge) {
    OidcRegistry registry({fileConfig(jwksDocument({&edKey_}))}, options());
    json::object payload = claims();
    payload["iss"] = "https://other.example";
    const std::string foreign = sign(payload, "ed-1", Algorithm::kEdDSA, ed_.get());
    EXPECT_FALSE(registry.handles(foreign));
    EXPECT_FALSE(verify(registry, foreign));
    EXPECT_EQ(failure_, "unknown_issuer");
    EXPECT_FALSE(registry.handles("not.a.token"));
    EXPECT_FALSE(registry.handles(""));
    EXPECT_TRUE(registry.handles(sign(claims(), "ed-1", Algorithm::kEdDSA, ed_.get())));
}

TEST_F(OidcTest, AlgorithmAllowlistDropsOtherKeys) {
    OidcIssuer config = fileConfig(jwksDocument({&edKey_, &rsaKey_}));
    config.algorithms = {"EdDSA"};
    OidcRegistry registry({config}, options());
    EXPECT_EQ(registry.find(kIssuer)->keys()->size(), 1u);
    EXPECT_FALSE(verify(registry, sign(claims(), "rsa-1", Algorithm::kRS256, rsa_)));
    EXPECT_EQ(failure_, "kid_unknown");
    EXPECT_TRUE(verify(registry, sign(claims(), "ed-1", Algorithm::kEdDSA, ed_.get()))) << failure_;

    config.algorithms = {"ES256"};  // nothing left: the provider cannot start
    EXPECT_THROW(OidcRegistry({config}, options()), OidcError);
}

TEST_F(OidcTest, BadJwksFileOrConfigurationIsAStartupError) {
    EXPECT_THROW(OidcRegistry({fileConfig(R"({"keys": [)")}, options()), OidcError);
    EXPECT_THROW(OidcRegistry({fileConfig(R"({"keys": []})")}, options()), OidcError);
    OidcIssuer missing = fileConfig(jwksDocument({&edKey_}));
    missing.jwksFile = dir_.path() / "absent.json";
    EXPECT_THROW(OidcRegistry({missing}, options()), OidcError);

    const OidcIssuer good = fileConfig(jwksDocument({&edKey_}));
    EXPECT_THROW(OidcRegistry({good, good}, options()), OidcError);  // one issuer twice

    OidcIssuer plainHttp = good;
    plainHttp.jwksFile.clear();
    plainHttp.jwksUrl = "http://127.0.0.1:1/jwks.json";
    EXPECT_THROW(OidcRegistry({plainHttp}, options()), OidcError);  // production by default
}

TEST(ParseJwksUrl, HttpsOrLoopbackHttpInDevelopment) {
    std::string error;
    const auto url = parseJwksUrl("https://login.example.com:8443/keys?tenant=a", false, &error);
    ASSERT_TRUE(url) << error;
    EXPECT_TRUE(url->tls);
    EXPECT_EQ(url->host, "login.example.com");
    EXPECT_EQ(url->port, 8443);
    EXPECT_EQ(url->target, "/keys?tenant=a");
    EXPECT_EQ(parseJwksUrl("https://[::1]", false)->host, "::1");
    EXPECT_EQ(parseJwksUrl("https://[::1]", false)->target, "/");

    EXPECT_FALSE(parseJwksUrl("http://127.0.0.1:8080/jwks", false, &error));
    EXPECT_EQ(error.find("127.0.0.1"), std::string::npos);  // the URL is never repeated
    EXPECT_TRUE(parseJwksUrl("http://127.0.0.1:8080/jwks", true));
    EXPECT_TRUE(parseJwksUrl("http://localhost/jwks", true));
    EXPECT_FALSE(parseJwksUrl("http://idp.example/jwks", true));
    EXPECT_FALSE(parseJwksUrl("https://user:pw@idp.example/jwks", false));
    EXPECT_FALSE(parseJwksUrl("https://idp.example/jwks#x", false));
    EXPECT_FALSE(parseJwksUrl("ftp://idp.example/jwks", false));
    EXPECT_FALSE(parseJwksUrl("/jwks", false));
}

// JWKS over HTTPS, from a server in this process trusted through OidcOptions::caFile.
class OidcUrlTest : public OidcTest {
  protected:
    OidcUrlTest()
        : certificate_(rampart::testing::makeSelfSigned("DNS:localhost,IP:127.0.0.1")),
          server_(certificate_) {
        caFile_ = dir_.write("ca.pem", certificate_.certPem);
    }

    OidcIssuer urlConfig(std::string_view host = "localhost") const {
        OidcIssuer config = fileConfig("unused");
        config.jwksFile.clear();
        config.jwksUrl = fmt::format("https://{}:{}/.well-known/jwks.json", host, server_.port());
        return config;
    }

    OidcOptions urlOptions() {
        OidcOptions result = options();
        result.caFile = caFile_;
        return result;
    }

    TestCertificate certificate_;
    JwksServer server_;
    std::filesystem::path caFile_;
};

TEST_F(OidcUrlTest, NewKidAfterRotationIsAcceptedAfterOneRefresh) {
    server_.serve(http::status::ok, jwksDocument({&edKey_}));
    OidcRegistry registry({urlConfig()}, urlOptions());
    runToCompletion(registry.start());
    EXPECT_EQ(server_.requests(), 1);
    EXPECT_TRUE(verify(registry, sign(claims(), "ed-1", Algorithm::kEdDSA, ed_.get()))) << failure_;

    server_.serve(http::status::ok, jwksDocument({&edKey_, &ecKey_}));  // the provider rotates
    time_.now += 61s;
    const auto identity = verify(registry, sign(claims(), "ec-1", Algorithm::kES256, ec_.get()));
    ASSERT_TRUE(identity) << failure_;
    EXPECT_EQ(server_.requests(), 2);
    EXPECT_EQ(registry.find(kIssuer)->keys()->size(), 2u);
    // Known kids need no fetch.
    EXPECT_TRUE(verify(registry, sign(claims(), "ed-1", Algorithm::kEdDSA, ed_.get())));
    EXPECT_EQ(server_.requests(), 2);
}

TEST_F(OidcUrlTest, FloodOfUnknownKidsFetchesAtMostOncePerMinute) {
    server_.serve(http::status::ok, jwksDocument({&edKey_}));
    OidcRegistry registry({urlConfig("127.0.0.1")}, urlOptions());  // an address: verified against the IP SAN
    runToCompletion(registry.start());
    ASSERT_EQ(server_.requests(), 1);

    time_.now += 61s;
    std::mt19937_64 random(std::random_device{}());
    for (int i = 0; i < 50; ++i) {
        EXPECT_FALSE(verify(registry,
                            sign(claims(), fmt::format("kid-{:x}", random()), Algorithm::kEdDSA, ed_.get())));
        EXPECT_EQ(failure_, "kid_unknown");
    }
    EXPECT_EQ(server_.requests(), 2);  // the first unknown kid fetched; the other 49 waited their turn
    EXPECT_EQ(registry.find(kIssuer)->fetchCount(), 2u);

    time_.now += 59s;
    (void)verify(registry, sign(claims(), "kid-late", Algorithm::kEdDSA, ed_.get()));
    EXPECT_EQ(server_.requests(), 2);
    time_.now += 2s;
    (void)verify(registry, sign(claims(), "kid-later", Algorithm::kEdDSA, ed_.get()));
    EXPECT_EQ(server_.requests(), 3);
}

TEST_F(OidcUrlTest, ErrorsOversizedBodiesAndRedirectsKeepTheOldKeys) {
    server_.serve(http::status::ok, jwksDocument({&edKey_}));
    OidcRegistry registry({urlConfig()}, urlOptions());
    runToCompletion(registry.start());
    const std::string good = sign(claims(), "ed-1", Algorithm::kEdDSA, ed_.get());
    const std::string rotated = sign(claims(), "ec-1", Algorithm::kES256, ec_.get());

    std::string oversized = jwksDocument({&edKey_, &ecKey_});
    oversized.insert(oversized.size() - 1,
                     std::string(",\"pad\":\"") + std::string(kMaxJwksSize, 'x') + "\"");
    const std::vector<std::tuple<http::status, std::string, std::string>> answers = {
        {http::status::internal_server_error, jwksDocument({&edKey_, &ecKey_}), ""},
        {http::status::ok, oversized, ""},
        {http::status::found, "", "https://localhost:1/elsewhere"},
        {http::status::ok, R"({"keys": "not an array"})", ""},
    };
    int expectedRequests = 1;
    for (const auto& [status, body, location] : answers) {
        SCOPED_TRACE(static_cast<int>(status));
        server_.serve(status, body, location);
        time_.now += 61s;
        EXPECT_FALSE(verify(registry, rotated));
        EXPECT_EQ(failure_, "kid_unknown");
        EXPECT_EQ(server_.requests(), ++expectedRequests);  // one request: no redirect followed
        EXPECT_EQ(registry.find(kIssuer)->keys()->size(), 1u);
        EXPECT_TRUE(verify(registry, good)) << failure_;
    }
}

// A refresh a request's unknown kid caused is a client span of that request: the host, the port and the
// address reached, never the URL's path or the token; a failed fetch is an error; a known kid is no span.
TEST_F(OidcUrlTest, ARefreshForAnUnknownKidIsAClientSpanOfTheRequest) {
    auto sink = std::make_shared<rampart::testing::RecordingSpanSink>();
    obs::Tracer tracer({.kind = obs::SamplerKind::alwaysOn}, sink);
    server_.serve(http::status::ok, jwksDocument({&edKey_}));
    OidcRegistry registry({urlConfig()}, urlOptions());
    runToCompletion(registry.start());
    ASSERT_TRUE(sink->spans().empty()) << "the start-up fetch has no request to belong to";

    const std::string rotated = sign(claims(), "ec-1", Algorithm::kES256, ec_.get());
    server_.serve(http::status::service_unavailable, "");
    time_.now += 61s;
    obs::SpanContext request;
    {
        auto trace = tracer.start("GET /api/v1/jobs", obs::SpanKind::server, nullptr);
        request = trace.context();
        EXPECT_FALSE(runToCompletion(registry.verify(rotated, trace, &failure_)));
        server_.serve(http::status::ok, jwksDocument({&edKey_, &ecKey_}));
        time_.now += 61s;
        EXPECT_TRUE(runToCompletion(registry.verify(rotated, trace, &failure_))) << failure_;
        EXPECT_TRUE(runToCompletion(registry.verify(rotated, trace, &failure_))) << "a known kid";
    }
    const auto spans = sink->spans();
    ASSERT_EQ(spans.size(), 3U) << "two fetches and the request";
    for (std::size_t i = 0; i < 2; ++i) {
        const obs::SpanData& fetch = spans[i];
        EXPECT_EQ(fetch.name, "GET");
        EXPECT_EQ(fetch.kind, obs::SpanKind::client);
        EXPECT_EQ(fetch.context.traceId, request.traceId);
        EXPECT_EQ(fetch.parentSpanId, request.spanId);
        EXPECT_EQ(RecordingSpanSink::attribute(fetch, "server.address"), "localhost");
        EXPECT_EQ(RecordingSpanSink::attribute(fetch, "server.port"), std::to_string(server_.port()));
        EXPECT_EQ(RecordingSpanSink::attribute(fetch, "network.peer.address"), "127.0.0.1");
        for (const auto& attribute : fetch.attributes) {
            const std::string value = RecordingSpanSink::attribute(fetch, attribute.key);
            EXPECT_EQ(value.find("jwks"), std::string::npos) << attribute.key << ": the URL's path";
            EXPECT_EQ(value.find(rotated.substr(0, 20)), std::string::npos) << attribute.key;
        }
    }
    EXPECT_EQ(RecordingSpanSink::attribute(spans[0], "http.response.status_code"), "503");
    EXPECT_EQ(spans[0].status, obs::SpanStatus::error);
    EXPECT_EQ(RecordingSpanSink::attribute(spans[1], "http.response.status_code"), "200");
    EXPECT_EQ(spans[1].status, obs::SpanStatus::unset);
}

TEST_F(OidcUrlTest, FailedStartupFetchStartsEmptyAndRetriesOnDemand) {
    server_.serve(http::status::service_unavailable, "");
    OidcRegistry registry({urlConfig()}, urlOptions());
    runToCompletion(registry.start());
    EXPECT_EQ(server_.requests(), 1);
    EXPECT_TRUE(registry.find(kIssuer)->keys()->empty());

    server_.serve(http::status::ok, jwksDocument({&edKey_}));
    time_.now += 61s;
    EXPECT_TRUE(verify(registry, sign(claims(), "ed-1", Algorithm::kEdDSA, ed_.get()))) << failure_;
    EXPECT_EQ(server_.requests(), 2);
}

TEST_F(OidcUrlTest, UntrustedOrMisnamedCertificateIsRefused) {
    server_.serve(http::status::ok, jwksDocument({&edKey_}));
    const std::string token = sign(claims(), "ed-1", Algorithm::kEdDSA, ed_.get());

    // The system store does not know our self-signed certificate.
    OidcRegistry systemStore({urlConfig()}, options());
    runToCompletion(systemStore.start());
    EXPECT_TRUE(systemStore.find(kIssuer)->keys()->empty());
    EXPECT_FALSE(verify(systemStore, token));

    // Trusted, but issued for another name than the one we connect to.
    const TestCertificate other = rampart::testing::makeSelfSigned("DNS:idp.example");
    OidcOptions otherCa = urlOptions();
    otherCa.caFile = dir_.write("other.pem", other.certPem);
    OidcRegistry wrongCa({urlConfig()}, otherCa);
    runToCompletion(wrongCa.start());
    EXPECT_TRUE(wrongCa.find(kIssuer)->keys()->empty());

    JwksServer misnamed(other);
    misnamed.serve(http::status::ok, jwksDocument({&edKey_}));
    OidcIssuer config = urlConfig();
    config.jwksUrl = fmt::format("https://localhost:{}/jwks.json", misnamed.port());
    OidcRegistry registry({config}, otherCa);
    runToCompletion(registry.start());
    EXPECT_TRUE(registry.find(kIssuer)->keys()->empty());
    EXPECT_EQ(misnamed.requests(), 0);  // the handshake failed before any request
}

}  // namespace
}  // namespace rampart::identity
