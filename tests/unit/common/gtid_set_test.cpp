#include "server/common/gtid_set.h"

#include <gtest/gtest.h>

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
                          "3e11fa47-71ca-11e1-9e33-c80aa9429562:5-3", "3e11fa47-71ca-11e1-9e33-c80aa9429562:x"}) {
    EXPECT_FALSE(MysqlGtidSet::parse(bad).status().isOk()) << bad;
  }
}

}  // namespace
}  // namespace canal
