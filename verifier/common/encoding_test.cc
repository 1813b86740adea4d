#include "verifier/common/encoding.h"

#include "gtest/gtest.h"
#include "verifier/common/clock.h"

namespace rp {
namespace {

TEST(Encoding, HexRoundTripAndErrors) {
  Bytes b = {0x00, 0x7f, 0xff};
  EXPECT_EQ(HexEncode(b), "007fff");
  EXPECT_EQ(*HexDecode("007FFF"), b);
  EXPECT_FALSE(HexDecode("abc").ok());
  EXPECT_FALSE(HexDecode("zz").ok());
}

TEST(Encoding, Base64Variants) {
  Bytes b = {'h', 'e', 'l', 'l', 'o', '?', '>'};
  EXPECT_EQ(Base64Encode(b), "aGVsbG8/Pg==");
  EXPECT_EQ(Base64UrlEncode(b), "aGVsbG8_Pg");
  EXPECT_EQ(*Base64Decode("aGVsbG8/Pg=="), b);
  EXPECT_EQ(*Base64Decode("aGVsbG8_Pg"), b);
  EXPECT_EQ(*Base64Decode("aGVs\nbG8/Pg=="), b);
  EXPECT_FALSE(Base64Decode("a").ok());
  EXPECT_FALSE(Base64Decode("aG=V").ok());
  EXPECT_FALSE(Base64Decode("a*==").ok());
  EXPECT_FALSE(Base64Decode("aGVsbG8/Ph==").ok());  // non-canonical bits
}

TEST(Clock, ParsesRfc3339AndUnix) {
  auto t = ParseTime("2025-09-01T00:00:00Z");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(absl::ToUnixSeconds(*t), 1756684800);
  EXPECT_EQ(absl::ToUnixSeconds(*ParseTime("1756684800")), 1756684800);
  EXPECT_FALSE(ParseTime("yesterday").ok());
  EXPECT_EQ(FormatRfc3339(*t), "2025-09-01T00:00:00Z");
}

}  // namespace
TEST(HexTest, IsHexString) {
  EXPECT_TRUE(IsHexString("0123456789abcdefABCDEF"));
  EXPECT_TRUE(IsHexString(""));
  EXPECT_TRUE(IsHexString("abc"));  // any length
  EXPECT_FALSE(IsHexString("0g"));
  EXPECT_FALSE(IsHexString("12 34"));
  EXPECT_FALSE(IsHexString(std::string_view("\x00", 1)));
}

}  // namespace rp
