// The stream sequence: numbers that only grow within a start, across starts (a new epoch above
// the recorded one and not below the clock), and across an epoch's roll-over.

#include "server/instance/stream_sequence.h"

#include <gtest/gtest.h>

namespace canal::instance {
namespace {

TEST(StreamSequence, NumbersGrowWithinAStartAndEveryNewStartComesAfter) {
  const std::uint64_t now = 1800000000;
  const std::uint64_t first = StreamSequence::nextEpoch(0, now);
  EXPECT_EQ(first, now) << "memory mode records nothing: the clock";
  StreamSequence a(first, 0);
  const std::uint64_t n0 = a.number(0);
  const std::uint64_t n1 = a.number(1);
  EXPECT_LT(n0, n1);
  EXPECT_GT(n0, std::uint64_t{1} << 52) << "above every binlog-position version";
  EXPECT_LT(a.number(5000), std::uint64_t{1} << 63) << "an Elasticsearch external version";

  // A restart one second later (or a takeover on a server whose clock is behind) with a
  // durable store that holds 7000 entries: every new number is above the old ones.
  const std::uint64_t second = StreamSequence::nextEpoch(first, now - 100);
  EXPECT_EQ(second, first + 1);
  StreamSequence b(second, 7000);
  EXPECT_GT(b.number(7000), a.number(6999));
  EXPECT_EQ(b.number(6000), b.number(7000)) << "entries stored by the earlier start are not numbered again";

  // 2^30 entries roll the epoch on, still growing.
  const std::uint64_t last = b.number(7000 + (std::uint64_t{1} << 30) - 1);
  const std::uint64_t rolled = b.number(7000 + (std::uint64_t{1} << 30));
  EXPECT_LT(last, rolled);
  EXPECT_EQ(b.epoch(), second + 1);
}

}  // namespace
}  // namespace canal::instance
