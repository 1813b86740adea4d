#include "verifier/common/byte_reader.h"

#include <vector>

#include "gtest/gtest.h"

namespace rp {
namespace {

TEST(ByteReader, ReadsLittleAndBigEndian) {
  std::vector<uint8_t> b = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14};
  ByteReader r(b);
  uint32_t le = 0;
  uint32_t be = 0;
  uint16_t s = 0;
  ASSERT_TRUE(r.ReadU32Le(&le));
  ASSERT_TRUE(r.ReadU32Be(&be));
  ASSERT_TRUE(r.ReadU16Le(&s));
  EXPECT_EQ(le, 0x04030201u);
  EXPECT_EQ(be, 0x05060708u);
  EXPECT_EQ(s, 0x0a09);
  EXPECT_EQ(r.offset(), 10u);
  EXPECT_EQ(r.remaining(), 4u);
  uint64_t q = 0;
  EXPECT_FALSE(r.ReadU64Le(&q));  // only 4 left
  EXPECT_EQ(r.remaining(), 4u);   // a failed read consumes nothing
  ASSERT_TRUE(r.Skip(4));
  EXPECT_TRUE(r.empty());
  uint8_t x = 0;
  EXPECT_FALSE(r.ReadU8(&x));
}

TEST(ByteReader, ReadBytesBorrowsAndBounds) {
  std::vector<uint8_t> b = {0xaa, 0xbb, 0xcc};
  ByteReader r(b);
  std::span<const uint8_t> out;
  EXPECT_FALSE(r.ReadBytes(4, &out));
  ASSERT_TRUE(r.ReadBytes(2, &out));
  EXPECT_EQ(out.size(), 2u);
  EXPECT_EQ(out[1], 0xbb);
  EXPECT_FALSE(r.Skip(2));
  ASSERT_TRUE(r.Skip(1));
  ASSERT_TRUE(r.ReadBytes(0, &out));
}

}  // namespace
}  // namespace rp
