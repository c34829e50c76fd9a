// A Resolver that answers from a table, one answer per call in turn (the last one repeating), and counts the
// calls: DNS rebinding and "resolved once" are testable without a DNS server.
#pragma once

#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include <boost/asio/ip/address.hpp>

#include "egress/egress_client.hpp"

namespace rampart::testing {

class FakeResolver final : public egress::Resolver {
  public:
    using Addresses = std::vector<boost::asio::ip::address>;

    // Successive calls for `host` get successive answers; after the last, the last again.
    void answer(const std::string& host, std::vector<Addresses> answers) {
        answers_[host] = std::move(answers);
    }

    int calls(const std::string& host) const {
        const auto found = calls_.find(host);
        return found == calls_.end() ? 0 : found->second;
    }

    boost::asio::awaitable<Addresses> resolve(std::string host) override {
        const int call = calls_[host]++;
        const auto found = answers_.find(host);
        if (found == answers_.end() || found->second.empty()) co_return Addresses{};
        const auto& answers = found->second;
        co_return answers[std::min<std::size_t>(static_cast<std::size_t>(call), answers.size() - 1)];
    }

  private:
    std::map<std::string, std::vector<Addresses>> answers_;
    std::map<std::string, int> calls_;
};

}  // namespace rampart::testing
