// Event framing on every real binlog fixture: counts per event type as the fixture README states
// them, checksum detection and verification (with the FDE in-use quirk), and corruption found in
// truncated and bit-flipped copies.

#include "server/binlog/event_stream.h"

#include <gtest/gtest.h>

#include <set>

#include "server/binlog/event_type.h"
#include "tests/support/fixtures.h"

namespace canal::binlog {
namespace {

using canal::testing::binlogFixtures;
using canal::testing::readFile;

struct Walk {
  std::map<std::string, int> counts;
  std::vector<RawEvent> events;
  Status status;
  std::string checksum;
};

Walk walk(std::string_view data, const std::string& name, EventStreamOptions options = {}) {
  Walk w;
  EventStream stream(data, name, options);
  RawEvent e;
  while (true) {
    auto r = stream.next(e);
    if (!r) {
      w.status = r.status();
      break;
    }
    if (!*r) break;
    // By the type byte as written: the README counts the a_drop trees' codes as today's names.
    w.counts[eventTypeName(static_cast<std::uint8_t>(e.bytes[4]))]++;
    w.events.push_back(e);
    if (e.header.type == kFormatDescriptionEvent) {
      w.checksum = stream.format().checksum == ChecksumAlgorithm::kCrc32 ? "CRC32" : "NONE";
    }
  }
  return w;
}

TEST(EventStream, EveryFixtureFramesAsItsReadmeSays) {
  const auto fixtures = binlogFixtures();
  ASSERT_GE(fixtures.size(), 50u);
  int compared = 0;
  for (const auto& f : fixtures) {
    SCOPED_TRACE(f.relative);
    const std::string data = readFile(f.path);
    Walk w = walk(data, f.relative);
    if (f.relative == "mysql-unknown/binlog_truncated_event.000001") {
      ASSERT_FALSE(w.status.isOk());
      EXPECT_TRUE(w.status.isCorruption());
      EXPECT_EQ(w.status.where(), f.relative + ":4");
      continue;
    }
    ASSERT_TRUE(w.status.isOk()) << w.status.toString();
    ASSERT_FALSE(w.events.empty());
    EXPECT_EQ(w.events.front().header.type, kFormatDescriptionEvent);
    if (!f.eventTypes.empty()) {
      EXPECT_EQ(w.counts, f.eventTypes);
      ++compared;
    }
    if (!f.checksum.empty()) {
      EXPECT_EQ(w.checksum, f.checksum);
    }
  }
  EXPECT_GE(compared, 45);
}

TEST(EventStream, InUseFdeChecksumIsComputedWithFlagCleared) {
  const std::string data = readFile(canal::testing::fixtureDir() + "/mysql-5.6/zalora-mysql-bin.01");
  Walk w = walk(data, "zalora-mysql-bin.01");
  ASSERT_TRUE(w.status.isOk()) << w.status.toString();
  ASSERT_TRUE(w.events.front().header.flags & kFlagBinlogInUse);
  EXPECT_EQ(w.checksum, "CRC32");
}

TEST(EventStream, Mysql564HasChecksumByteNone) {
  const std::string data = readFile(canal::testing::fixtureDir() + "/mysql-5.6/bug11747887-bin.000003");
  EventStream stream(data, "f");
  RawEvent e;
  ASSERT_TRUE(*stream.next(e));
  EXPECT_TRUE(stream.format().hasChecksumField);
  EXPECT_EQ(stream.format().checksum, ChecksumAlgorithm::kNone);
  EXPECT_EQ(stream.format().serverVersion, "5.6.4-m7-debug-log");
}

TEST(EventStream, NotABinlog) {
  Walk w = walk("GIF89a....", "x.gif");
  EXPECT_TRUE(w.status.isCorruption());
  EXPECT_EQ(w.status.where(), "x.gif:0");
}

TEST(EventStream, TruncatedCopiesEndCleanlyOrReportCorruption) {
  for (const auto& f : binlogFixtures()) {
    const std::string data = readFile(f.path);
    Walk full = walk(data, f.relative);
    if (!full.status.isOk()) continue;
    std::set<std::uint64_t> boundaries = {data.size()};
    for (const auto& e : full.events) boundaries.insert(e.offset);
    // Cut inside the first few and the last events, and at every event boundary.
    std::vector<std::size_t> cuts;
    for (const auto& e : full.events) {
      cuts.push_back(e.offset);
      cuts.push_back(e.offset + 1);
      cuts.push_back(e.offset + e.header.eventSize - 1);
    }
    for (std::size_t cut : cuts) {
      if (cut >= data.size() || cut < 4) continue;
      Walk w = walk(std::string_view(data).substr(0, cut), f.relative);
      if (boundaries.count(cut)) {
        EXPECT_TRUE(w.status.isOk()) << f.relative << " cut at boundary " << cut << ": " << w.status.toString();
      } else {
        ASSERT_FALSE(w.status.isOk()) << f.relative << " cut at " << cut;
        EXPECT_TRUE(w.status.isCorruption());
        EXPECT_NE(w.status.where().find(f.relative + ":"), std::string::npos);
      }
    }
  }
}

TEST(EventStream, BitFlipsInChecksummedEventsAreDetected) {
  int flipped = 0;
  for (const auto& f : binlogFixtures()) {
    if (f.checksum != "CRC32") continue;
    const std::string data = readFile(f.path);
    Walk full = walk(data, f.relative);
    if (!full.status.isOk() || full.events.size() < 2) continue;
    // Every byte of the second and the last event (the first is the FDE, whose algorithm byte
    // decides whether there is a checksum at all).
    for (const RawEvent* e : {&full.events[1], &full.events.back()}) {
      for (std::size_t i = 0; i < e->header.eventSize; ++i) {
        std::string copy = data;
        copy[e->offset + i] = static_cast<char>(copy[e->offset + i] ^ (1 << (i % 8)));
        Walk w = walk(copy, f.relative);
        ASSERT_FALSE(w.status.isOk()) << f.relative << " flip at " << e->offset + i;
        EXPECT_TRUE(w.status.isCorruption());
        ++flipped;
      }
    }
  }
  EXPECT_GT(flipped, 1000);
}

TEST(EventStream, ChecksumVerificationCanBeTurnedOff) {
  const std::string path = canal::testing::fixtureDir() + "/mysql-5.7/mysql-bin.checksum-crc32";
  std::string data = readFile(path);
  Walk full = walk(data, "f");
  ASSERT_TRUE(full.status.isOk());
  ASSERT_GE(full.events.size(), 2u);
  data[full.events[1].offset + full.events[1].header.eventSize - 1] ^= 0x01;  // last CRC byte
  EXPECT_FALSE(walk(data, "f").status.isOk());
  EXPECT_TRUE(walk(data, "f", EventStreamOptions{false}).status.isOk());
}

}  // namespace
}  // namespace canal::binlog
