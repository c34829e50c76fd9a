#include <gtest/gtest.h>

TEST(Integration, BinaryExists) { EXPECT_TRUE(std::filesystem::exists(RAMPART_BINARY)); }
