#include "canal/protocol/frame_codec.h"

#include <gtest/gtest.h>

#include "tests/support/hex.h"

namespace canal::protocol {
namespace {

using canal::testing::fromHex;

TEST(FrameCodec, EncodesBigEndianLength) {
  EXPECT_EQ(encodeFrame(std::string(300, 'x')).substr(0, 4), fromHex("00 00 01 2c"));
  EXPECT_EQ(encodeFrame(""), fromHex("00 00 00 00"));
}

TEST(FrameCodec, DecodesFramesSplitAcrossReads) {
  FrameDecoder decoder;
  const std::string stream = encodeFrame("hello") + encodeFrame("") + encodeFrame("world!");
  std::vector<std::string> frames;
  for (char c : stream) {  // one byte at a time
    decoder.feed(std::string_view(&c, 1));
    while (auto f = decoder.next()) frames.push_back(*f);
  }
  EXPECT_TRUE(decoder.error().empty());
  ASSERT_EQ(frames.size(), 3u);
  EXPECT_EQ(frames[0], "hello");
  EXPECT_EQ(frames[1], "");
  EXPECT_EQ(frames[2], "world!");
  EXPECT_EQ(decoder.buffered(), 0u);
}

TEST(FrameCodec, NegativeLengthIsAnError) {
  const auto header = fromHex("ff ff ff fe");
  const FrameLength r = decodeFrameLength(reinterpret_cast<const unsigned char*>(header.data()));
  EXPECT_FALSE(r.ok());
  EXPECT_NE(r.error.find("negative frame length -2"), std::string::npos) << r.error;
}

TEST(FrameCodec, AbsurdLengthIsRejectedBeforeAllocation) {
  FrameDecoder decoder(1024);
  decoder.feed(fromHex("7f ff ff ff") + "abc");
  EXPECT_FALSE(decoder.next().has_value());
  EXPECT_NE(decoder.error().find("exceeds the limit of 1024"), std::string::npos) << decoder.error();
  EXPECT_EQ(decoder.buffered(), 0u);  // nothing retained
  decoder.feed(encodeFrame("ok"));
  EXPECT_FALSE(decoder.next().has_value());  // a broken stream stays broken
}

TEST(FrameCodec, LengthAtTheLimitIsAccepted) {
  FrameDecoder decoder(3);
  decoder.feed(encodeFrame("abc"));
  auto f = decoder.next();
  ASSERT_TRUE(f.has_value());
  EXPECT_EQ(*f, "abc");
}

}  // namespace
}  // namespace canal::protocol
