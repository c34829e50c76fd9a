#include "core/secret_string.hpp"

#include <sstream>

#include <fmt/format.h>
#include <gtest/gtest.h>

namespace rampart {
namespace {

TEST(SecretString, NeverPrintsItsValue) {
    SecretString secret("hunter2-very-secret");
    std::ostringstream out;
    out << secret;
    EXPECT_EQ(out.str(), "[redacted]");
    EXPECT_EQ(fmt::format("{}", secret), "[redacted]");
    EXPECT_EQ(secret.reveal(), "hunter2-very-secret");
}

TEST(SecretString, ComparesByValue) {
    SecretString secret("abc");
    EXPECT_TRUE(secret.equals("abc"));
    EXPECT_FALSE(secret.equals("abd"));
    EXPECT_FALSE(secret.equals("ab"));
    EXPECT_FALSE(secret.equals(""));
}

}  // namespace
}  // namespace rampart
