// Proof that a signed-in caller has just typed their password again (LoginService::confirmPassword): what
// the changes to an account's second factor take, so that a stolen session or token alone cannot make them.
#pragma once

#include <string>
#include <utility>

namespace rampart::identity {

class PasswordConfirmed {
  public:
    // Confirms nobody (Asio's co_spawn needs a default): its empty userId matches no principal.
    PasswordConfirmed() = default;

    // The user whose password was confirmed.
    [[nodiscard]] const std::string& userId() const { return userId_; }

  private:
    friend class LoginService;  // the only way to get one is to pass its check
    explicit PasswordConfirmed(std::string userId) : userId_(std::move(userId)) {}

    std::string userId_;
};

}  // namespace rampart::identity
