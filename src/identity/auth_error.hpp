// The refusal every identity service throws; api/ turns it into an HTTP answer.
#pragma once

#include <chrono>
#include <stdexcept>
#include <string>

namespace rampart::identity {

// A refusal the caller shows to the client: `slug` is stable ("invalid_credentials",
// "password.too_short"), `message` is safe to show, `field` is a JSON pointer when one field is at
// fault. Every login failure is the same invalid_credentials error, whatever went wrong.
class AuthError : public std::runtime_error {
  public:
    // unavailable: the server cannot take the call now (the password-hashing pool is full); retryAfter says
    // when to try again.
    enum class Kind {
        invalid,
        unauthorized,
        forbidden,
        notFound,
        conflict,
        throttled,
        totpRequired,
        unavailable
    };
    AuthError(Kind kind, std::string slug, std::string message, std::string field = {})
        : std::runtime_error(message), kind_(kind), slug_(std::move(slug)), field_(std::move(field)) {}

    [[nodiscard]] Kind kind() const { return kind_; }
    [[nodiscard]] const std::string& slug() const { return slug_; }
    [[nodiscard]] const std::string& field() const { return field_; }
    std::chrono::seconds retryAfter{0};  // for throttled and unavailable

  private:
    Kind kind_;
    std::string slug_;
    std::string field_;
};

}  // namespace rampart::identity
