// A secret value (key, password, connection string with credentials) that never prints.
#pragma once

#include <ostream>
#include <string>
#include <string_view>

#include <fmt/format.h>

namespace rampart {

class SecretString {
  public:
    SecretString() = default;
    explicit SecretString(std::string value) : value_(std::move(value)) {}
    SecretString(const SecretString&) = default;
    SecretString& operator=(const SecretString&) = default;
    SecretString(SecretString&&) noexcept = default;
    SecretString& operator=(SecretString&&) noexcept = default;
    ~SecretString();  // wipes the bytes (sodium_memzero)

    // The only way to the bytes; grep for reveal() to audit every use.
    [[nodiscard]] const std::string& reveal() const { return value_; }
    [[nodiscard]] bool empty() const { return value_.empty(); }
    [[nodiscard]] std::size_t size() const { return value_.size(); }

    // Constant-time comparison (sodium_memcmp after a length check).
    [[nodiscard]] bool equals(std::string_view other) const;

  private:
    std::string value_;
};

inline std::ostream& operator<<(std::ostream& out, const SecretString&) {
    return out << "[redacted]";
}

}  // namespace rampart

template <>
struct fmt::formatter<rampart::SecretString> : fmt::formatter<std::string_view> {
    template <typename Context>
    auto format(const rampart::SecretString&, Context& ctx) const {
        return fmt::formatter<std::string_view>::format("[redacted]", ctx);
    }
};
