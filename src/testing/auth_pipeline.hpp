// For tests of the security stages: a fake Authenticator that accepts exactly one known value per
// role and credential kind and refuses everything else, and a fixture that runs requests through the
// real pipeline (real policy table) with a router holding every route of that table.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "api/error_mapping.hpp"
#include "api/policy.hpp"
#include "app/config.hpp"
#include "http/pipeline.hpp"
#include "obs/metrics.hpp"
#include "store/store.hpp"
#include "testing/pipeline_driver.hpp"

namespace rampart::testing {

class FakeAuthenticator : public identity::Authenticator {
  public:
    using Scheme = identity::PresentedCredential::Scheme;
    using Kind = identity::CredentialKind;
    using Role = identity::Role;

    FakeAuthenticator() {
        addToken("admin-token", "u-admin", Role::admin, Kind::accessToken, {"*"}, true);
        addToken("admin-no-totp-token", "u-admin2", Role::admin, Kind::accessToken, {"*"}, false);
        addToken("user-token", "u-user", Role::user, Kind::accessToken, {"*"});
        addToken("auditor-token", "u-auditor", Role::auditor, Kind::accessToken, {"*"});
        addToken("worker-token", "u-worker", Role::worker, Kind::accessToken, {"*"});
        addToken("rmp_jobs_only", "u-user", Role::user, Kind::apiToken, {"jobs:read"});
        addToken("rmp_tokens", "u-user", Role::user, Kind::apiToken, {"tokens"});
        addToken("rmp_admin_users", "u-admin", Role::admin, Kind::apiToken, {"users:read", "users:write"},
                 true);
        sessions_["session-user"] = principal("u-user", Role::user, Kind::session, {"*"}, false);
        sessions_["session-other"] = principal("u-other", Role::user, Kind::session, {"*"}, false);
    }

    boost::asio::awaitable<identity::AuthOutcome> authenticate(identity::PresentedCredential credential,
                                                               boost::asio::ip::address client,
                                                               const obs::Span&) override {
        calls.emplace_back(credential.scheme, std::string(credential.value));
        const auto& table = credential.scheme == Scheme::sessionCookie ? sessions_ : tokens_;
        const auto it = table.find(std::string(credential.value));
        if (it == table.end())
            co_return identity::AuthOutcome{.principal = std::nullopt, .failure = "unknown_token"};
        co_return identity::AuthOutcome{.principal = it->second, .failure = {}};
    }

    std::vector<std::pair<Scheme, std::string>> calls;

  private:
    static identity::Principal principal(std::string id, Role role, Kind kind,
                                         std::vector<std::string> scopes, bool totp) {
        identity::Principal p;
        p.userId = std::move(id);
        p.username = p.userId;
        p.role = role;
        p.credential = kind;
        p.scopes = std::move(scopes);
        p.credentialId = "cred-" + p.userId;
        p.totpEnabled = totp;
        return p;
    }
    void addToken(std::string value, std::string id, Role role, Kind kind, std::vector<std::string> scopes,
                  bool totp = false) {
        tokens_[std::move(value)] = principal(std::move(id), role, kind, std::move(scopes), totp);
    }

    std::map<std::string, identity::Principal> tokens_;
    std::map<std::string, identity::Principal> sessions_;
};

using Headers = std::vector<std::pair<std::string, std::string>>;

class AuthPipelineTest : public ::testing::Test {
  protected:
    static constexpr std::string_view kSecretKey = "test-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz";

    AuthPipelineTest() {
        config_.allowedHosts = {"api.example.com"};
        config_.cors.allowedOrigins = {"https://app.example.com"};
        config_.trustedProxies = {"10.0.0.5"};
        config_.secretKey = SecretString(std::string(kSecretKey));
        config_.secureCookies = true;
        config_.auth.requireAdminTotp = true;
    }

    // Every route of the policy table, each answering 200 "METHOD pattern" unless a test replaced
    // its handler in handlers_ first.
    void addPolicyRoutes() {
        for (const api::Policy& policy : api::policies()) {
            const std::string key =
                std::string(http::beast_http::to_string(policy.method)) + " " + std::string(policy.pattern);
            http::Handler handler = [key](http::Exchange& ex) -> boost::asio::awaitable<void> {
                ex.response.result(http::Status::ok);
                ex.response.body() = key;
                co_return;
            };
            if (auto it = handlers_.find(key); it != handlers_.end()) handler = it->second;
            router_.add(
                {.method = policy.method, .pattern = std::string(policy.pattern), .handler = handler});
        }
    }

    http::Response send(http::Verb method, std::string target, Headers headers = {}, bool tls = false,
                        std::string peer = "192.0.2.10") {
        if (!pipeline_) {
            if (router_.routes().empty()) addPolicyRoutes();
            http::PipelineDeps deps;
            deps.authenticator = &authenticator_;
            deps.audit = store_;
            deps.policies = api::policyFor;
            deps.translateError = api::translateDomainError;
            pipeline_ = http::buildPipeline(pipelineSettings(config_), router_, httpMetrics_, nullptr,
                                            std::move(deps));
        }
        http::Exchange ex;
        ex.request.method(method);
        ex.request.target(target);
        ex.request.version(11);
        bool hostGiven = false;
        for (auto& [name, value] : headers) {
            if (name == "Host") hostGiven = true;
            ex.request.insert(name, value);
        }
        if (!hostGiven) ex.request.set("Host", "api.example.com");
        ex.tls = tls;
        ex.peer = boost::asio::ip::make_address(peer);
        runThroughPipeline(*pipeline_, ex);
        return std::move(ex.response);
    }

    http::Response get(std::string target, Headers headers = {}) {
        return send(http::Verb::get, std::move(target), std::move(headers));
    }

    static Headers bearer(std::string token) { return {{"Authorization", "Bearer " + token}}; }

    Config config_;
    http::Router router_;
    std::map<std::string, http::Handler> handlers_;
    FakeAuthenticator authenticator_;
    store::Store* store_ = nullptr;
    obs::Metrics metrics_;
    obs::HttpMetrics httpMetrics_{metrics_};
    std::unique_ptr<http::Pipeline> pipeline_;
};

}  // namespace rampart::testing
