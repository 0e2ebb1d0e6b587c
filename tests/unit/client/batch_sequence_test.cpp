#include "client-sdk/src/batch_sequence.h"

#include <gtest/gtest.h>

#include "canal/protocol/entry_protocol.pb.h"

namespace canal::client {
namespace {

namespace eb = canal::protocol::entry;

std::string entryAt(const std::string& file, std::int64_t offset, std::int64_t serverId = 1) {
  eb::Entry e;
  e.mutable_header()->set_logfilename(file);
  e.mutable_header()->set_logfileoffset(offset);
  e.mutable_header()->set_serverid(serverId);
  e.set_entrytype(eb::ROWDATA);
  e.set_storevalue(std::string(100, 'x'));
  return e.SerializeAsString();
}

std::vector<std::string> batch(const std::string& file, std::int64_t from, std::int64_t to) {
  return {entryAt(file, from), entryAt(file, (from + to) / 2), entryAt(file, to)};
}

TEST(BatchSequence, PositionsCompareWithinOneBinlogOnly) {
  EXPECT_EQ(compare({1, "mysql-bin.000009", 500, std::nullopt}, {1, "mysql-bin.000010", 4, std::nullopt}), -1) << "by file number";
  EXPECT_EQ(compare({1, "mysql-bin.1000000", 4, std::nullopt}, {1, "mysql-bin.999999", 900, std::nullopt}), 1) << "numbers, not text";
  EXPECT_EQ(compare({1, "mysql-bin.000010", 400, std::nullopt}, {1, "mysql-bin.000010", 400, std::nullopt}), 0);
  EXPECT_EQ(compare({1, "a-bin.000001", 4, std::nullopt}, {1, "b-bin.000001", 4, std::nullopt}), std::nullopt) << "another binlog";
  EXPECT_EQ(compare({1, "mysql-bin.000001", 4, std::nullopt}, {2, "mysql-bin.000001", 4, std::nullopt}), std::nullopt) << "another primary";
  const auto p = entryPoint(entryAt("mysql-bin.000003", 1234, 7));
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->file, "mysql-bin.000003");
  EXPECT_EQ(p->offset, 1234);
  EXPECT_EQ(p->serverId, 7);
  EXPECT_FALSE(entryPoint("\x0a\xff").has_value());
  EXPECT_FALSE(entryPoint("").has_value());
}

std::string entryNumbered(const std::string& file, std::int64_t offset, std::int64_t serverId, std::uint64_t sequence) {
  eb::Entry e;
  e.ParseFromString(entryAt(file, offset, serverId));
  auto* prop = e.mutable_header()->add_props();
  prop->set_key("sequence");
  prop->set_value(std::to_string(sequence));
  return e.SerializeAsString();
}

TEST(BatchSequence, TheServersStreamSequenceOrdersAcrossPrimariesAndBeforePositions) {
  const auto p = entryPoint(entryNumbered("mysql-bin.000003", 1234, 7, 1ull << 61));
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->sequence, 1ull << 61);
  EXPECT_EQ(compare({1, "a-bin.000009", 500, 10}, {2, "b-bin.000001", 4, 11}), -1) << "another primary, one order";
  EXPECT_EQ(compare({1, "mysql-bin.000009", 500, 12}, {1, "mysql-bin.000001", 4, 11}), 1) << "the sequence decides";

  BatchSequence s;
  // A primary switch: the standby's binlog starts again at 000001, the sequence goes on.
  EXPECT_TRUE(s.check(1, {entryNumbered("mysql-bin.000006", 900, 1, 100), entryNumbered("mysql-bin.000006", 990, 1, 101)})
                  .isOk());
  EXPECT_TRUE(s.check(2, {entryNumbered("mysql-bin.000001", 4, 2, 102)}).isOk());
  // A snapshot entry sits at its place in the sequence whatever its position says.
  EXPECT_TRUE(s.check(3, {entryNumbered("mysql-bin.000001", 2, 2, 103)}).isOk());
  const Status again = s.check(4, {entryNumbered("mysql-bin.000001", 800, 2, 103)});
  EXPECT_EQ(again.code(), Status::kOutOfSequence) << "the same sequence again, without a rollback";
  EXPECT_NE(again.message().find("sequence 103"), std::string::npos) << again.message();
}

TEST(BatchSequence, BatchesThatFollowOneAnotherPass) {
  BatchSequence s;
  EXPECT_TRUE(s.check(1, batch("mysql-bin.000001", 100, 300)).isOk());
  EXPECT_TRUE(s.check(2, batch("mysql-bin.000001", 400, 600)).isOk());
  EXPECT_TRUE(s.check(-1, {}).isOk()) << "the empty batch";
  s.acked(1);
  EXPECT_TRUE(s.check(3, batch("mysql-bin.000002", 4, 90)).isOk());
  s.rolledBack();  // 2 and 3 come again, from 400
  EXPECT_TRUE(s.check(4, batch("mysql-bin.000001", 400, 900)).isOk());
}

TEST(BatchSequence, AFirstBatchAfterARollbackThatSkipsWhatWasGivenBackIsRefused) {
  BatchSequence s;
  ASSERT_TRUE(s.check(1, batch("mysql-bin.000001", 100, 300)).isOk());
  ASSERT_TRUE(s.check(2, batch("mysql-bin.000001", 400, 600)).isOk());
  s.acked(1);
  s.rolledBack();
  // Batch 2's entries went elsewhere: the next one starts after them.
  const Status skipped = s.check(3, batch("mysql-bin.000001", 700, 800));
  EXPECT_EQ(skipped.code(), Status::kOutOfSequence) << skipped.toString();
  EXPECT_NE(skipped.message().find("mysql-bin.000001:400"), std::string::npos) << skipped.message();
  s.rolledBack();  // the connector gives it back; the expectation stays
  EXPECT_EQ(s.check(4, batch("mysql-bin.000001", 700, 800)).code(), Status::kOutOfSequence);
  EXPECT_TRUE(s.check(5, batch("mysql-bin.000001", 400, 800)).isOk());
}

TEST(BatchSequence, IdsThatDoNotGrowAndEntriesAgainWithoutARollbackAreRefused) {
  BatchSequence s;
  ASSERT_TRUE(s.check(5, batch("mysql-bin.000001", 100, 300)).isOk());
  EXPECT_EQ(s.check(5, batch("mysql-bin.000001", 400, 500)).code(), Status::kOutOfSequence);
  EXPECT_EQ(s.check(4, batch("mysql-bin.000001", 400, 500)).code(), Status::kOutOfSequence);
  EXPECT_EQ(s.check(6, batch("mysql-bin.000001", 200, 500)).code(), Status::kOutOfSequence)
      << "starts inside batch 5, which was not given back";
  EXPECT_TRUE(s.check(7, batch("mysql-bin.000001", 300, 500)).isOk()) << "an entry may share the last position";
}

TEST(BatchSequence, NothingIsConcludedAcrossPrimariesOrConnections) {
  BatchSequence s;
  ASSERT_TRUE(s.check(1, batch("mysql-bin.000007", 100, 300)).isOk());
  EXPECT_TRUE(s.check(2, {entryAt("mysql-bin.000001", 4, 2)}).isOk()) << "another server id: a primary switch";
  s.reset();
  EXPECT_TRUE(s.check(1, batch("mysql-bin.000001", 4, 50)).isOk()) << "a new connection numbers anew";
  s.rolledBack();
  EXPECT_TRUE(s.check(2, batch("other-bin.000009", 4, 50)).isOk()) << "after the rollback: another binlog";
}

}  // namespace
}  // namespace canal::client
