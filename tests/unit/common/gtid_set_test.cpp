#include "server/common/gtid_set.h"

#include <gtest/gtest.h>

#include "tests/support/fixtures.h"

namespace canal {
namespace {

TEST(MysqlGtidSet, ParsesMergesAndPrints) {
  auto set = MysqlGtidSet::parse(" 3E11FA47-71CA-11E1-9E33-C80AA9429562:7-9:1-5:6 ,\n"
                                 "00000000-0000-0000-0000-000000000001:3");
  ASSERT_TRUE(set.status().isOk()) << set.status().toString();
  EXPECT_EQ(set->toString(), "00000000-0000-0000-0000-000000000001:3,3e11fa47-71ca-11e1-9e33-c80aa9429562:1-9");
  MysqlGtidSet::Uuid one{};
  one[15] = 1;
  EXPECT_TRUE(set->contains(one, 3));
  EXPECT_FALSE(set->contains(one, 4));
  set->add(one, 4);
  set->add(one, 2);
  set->add(one, 9);
  EXPECT_EQ(set->toString().substr(0, 42), "00000000-0000-0000-0000-000000000001:2-4:9");
}

// MySQL 8.3+ tags: text, and the tagged binary form, byte for byte as MySQL 9.6 wrote it in the
// PREVIOUS_GTIDS of tests/fixtures/binlog/mysql-9.6/binlog_transaction_with_GTID_TAG.000001.
TEST(MysqlGtidSet, TaggedSetsInTextAndInTheTaggedEncoding) {
  const std::string text = "55778904-0299-11f1-b1b8-4ef0c4956feb:1-13:mytag:1-2";
  auto set = MysqlGtidSet::parse("55778904-0299-11f1-b1b8-4ef0c4956feb:MyTag:1-2, 55778904-0299-11f1-b1b8-4ef0c4956feb:1-13");
  ASSERT_TRUE(set.isOk()) << set.status().toString();
  EXPECT_EQ(set->toString(), text) << "tags are lower-cased and follow the untagged intervals";
  const std::string file = testing::readFile(testing::fixtureDir() + "/mysql-9.6/binlog_transaction_with_GTID_TAG.000001");
  const std::string body = file.substr(127 + 19, 118 - 19 - 4);  // the event at 127: header and CRC32 off
  EXPECT_EQ(set->encode(), body);
  auto decoded = MysqlGtidSet::decode(body, "previous gtids");
  ASSERT_TRUE(decoded.isOk()) << decoded.status().toString();
  EXPECT_EQ(decoded->toString(), text);
  MysqlGtidSet::Uuid uuid{};
  std::copy(body.begin() + 8, body.begin() + 24, uuid.begin());
  EXPECT_TRUE(decoded->contains(uuid, 2, "mytag"));
  EXPECT_FALSE(decoded->contains(uuid, 3, "mytag"));
  EXPECT_TRUE(decoded->contains(uuid, 13));
  decoded->add(uuid, 3, "mytag");
  EXPECT_EQ(decoded->toString(), "55778904-0299-11f1-b1b8-4ef0c4956feb:1-13:mytag:1-3");
  EXPECT_FALSE(MysqlGtidSet::decode(body.substr(0, 60), "previous gtids").isOk()) << "truncated";
}

TEST(MysqlGtidSet, EncodesForBinlogDumpGtid) {
  auto set = MysqlGtidSet::parse("00000000-0000-0000-0000-000000000001:1-5");
  ASSERT_TRUE(set.status().isOk());
  const std::string e = set->encode();
  ASSERT_EQ(e.size(), 8u + 16 + 8 + 16);
  EXPECT_EQ(e[0], 1);
  EXPECT_EQ(e[8 + 15], 1);
  EXPECT_EQ(e[8 + 16], 1);           // one interval
  EXPECT_EQ(e[8 + 16 + 8], 1);       // start 1
  EXPECT_EQ(e[8 + 16 + 16], 6);      // end 6, exclusive
  EXPECT_TRUE(MysqlGtidSet::parse("").status().isOk());
}

TEST(MysqlGtidSet, RejectsMalformedSets) {
  for (const char* bad : {"nouuid:1-2", "3e11fa47-71ca-11e1-9e33-c80aa9429562", "3e11fa47-71ca-11e1-9e33-c80aa9429562:0",
                          "3e11fa47-71ca-11e1-9e33-c80aa9429562:5-3", "3e11fa47-71ca-11e1-9e33-c80aa9429562:x",
                          "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-2:x:y:1", "3e11fa47-71ca-11e1-9e33-c80aa9429562:9tag:1"}) {
    EXPECT_FALSE(MysqlGtidSet::parse(bad).status().isOk()) << bad;
  }
}

}  // namespace
}  // namespace canal
