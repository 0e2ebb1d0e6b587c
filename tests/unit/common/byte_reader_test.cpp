#include "server/common/byte_reader.h"

#include <gtest/gtest.h>

#include "tests/support/hex.h"

namespace canal {
namespace {

using canal::testing::fromHex;

TEST(ByteReader, LittleAndBigEndian) {
  const std::string bytes = fromHex("01 02 03 04 05 06 07 08 09");
  ByteReader r(bytes);
  EXPECT_EQ(r.u8(), 0x01);
  EXPECT_EQ(r.u16(), 0x0302);
  EXPECT_EQ(r.u24(), 0x060504u);
  EXPECT_EQ(r.uintBe(3), 0x070809u);
  EXPECT_TRUE(r.atEnd());
  EXPECT_FALSE(r.failed());
}

TEST(ByteReader, OverrunIsStickyAndReturnsZero) {
  const std::string bytes = fromHex("aa bb");
  ByteReader r(bytes);
  EXPECT_EQ(r.u32(), 0u);
  EXPECT_TRUE(r.failed());
  EXPECT_EQ(r.u8(), 0u);  // even though one byte would have fitted before
  EXPECT_EQ(r.remaining(), 0u);
  EXPECT_TRUE(r.bytes(1).empty());
}

TEST(ByteReader, PackedIntegersAndStrings) {
  const std::string bytes = fromHex("fa fc 34 12 fd 56 34 12 fe 01 00 00 00 00 00 00 80 fb 03 61 62 63 78 79 00 ff");
  ByteReader r(bytes);
  EXPECT_EQ(r.packedInt(), 250u);
  EXPECT_EQ(r.packedInt(), 0x1234u);
  EXPECT_EQ(r.packedInt(), 0x123456u);
  EXPECT_EQ(r.packedInt(), 0x8000000000000001ull);
  bool isNull = false;
  EXPECT_EQ(r.packedInt(&isNull), 0u);
  EXPECT_TRUE(isNull);
  EXPECT_EQ(r.packedString(), "abc");
  EXPECT_EQ(r.nulTerminated(), "xy");
  EXPECT_FALSE(r.failed());
  r.packedInt();  // 0xff
  EXPECT_TRUE(r.failed());
}

TEST(ByteReader, PackedStringLongerThanDataFails) {
  const std::string bytes = fromHex("05 61 62");
  ByteReader r(bytes);
  EXPECT_TRUE(r.packedString().empty());
  EXPECT_TRUE(r.failed());
  const std::string noNul = "abc";
  ByteReader s(noNul);
  EXPECT_TRUE(s.nulTerminated().empty());
  EXPECT_TRUE(s.failed());
}

}  // namespace
}  // namespace canal
