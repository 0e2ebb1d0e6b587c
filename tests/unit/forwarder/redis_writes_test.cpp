// Row changes to Redis writes: keys from the key pattern, versions from the binlog position and
// row ordinal, field selection, index sets, key changes and partial row images.

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "forwarder/redis/redis_writes.h"
#include "tests/unit/forwarder/change_builder.h"

namespace canal::forwarder {
namespace {

using test_changes::Col;
using test_changes::change;

std::vector<Col> user(const std::string& id, const std::string& city, std::optional<std::string> nick = "n") {
  return {{"id", id, true, false, 4, "int(11)"},
          {"region", std::string("eu"), true},
          {"city", city},
          {"nick", nick},
          {"secret", std::string("x")}};
}

RedisMapping mapping() {
  RedisMapping m;
  m.table = "shop\\..*";
  m.key = "%{database}:%{table}:%{pk}";
  m.rename = {{"nick", "nickname"}};
  m.exclude = {"secret"};
  m.indexes = {{"city", "%{table}:by_city:%{value}"}};
  return m;
}

TEST(RedisWritesTest, InsertIsASetOfTheSelectedFieldsUnderTheKeyColumnsJoined) {
  const Change insert = change(eb::INSERT, {{{}, user("7", "oslo")}, {{}, user("8", "rome", std::nullopt)}}, 1234);
  auto writes = redisWrites({mapping()}, {&insert});
  ASSERT_TRUE(writes.isOk()) << writes.status().toString();
  ASSERT_EQ(writes->size(), 2u);
  const RedisWrite& w = (*writes)[0];
  EXPECT_EQ(w.kind, RedisWrite::Kind::kSet);
  EXPECT_EQ(w.key, "shop:orders:7:eu");
  EXPECT_EQ(w.member, "7:eu");
  EXPECT_EQ(w.version.file, 2);
  EXPECT_EQ(w.version.offset, 1234);
  EXPECT_EQ(w.version.row, 0);
  EXPECT_EQ((*writes)[1].version.row, 1) << "two rows of one entry have different versions";
  const std::vector<std::pair<std::string, std::optional<std::string>>> fields = {
      {"id", "7"}, {"region", "eu"}, {"city", "oslo"}, {"nickname", "n"}};
  EXPECT_EQ(w.fields, fields);
  ASSERT_EQ(w.indexSets.size(), 1u);
  EXPECT_EQ(w.indexSets[0], std::optional<std::string>("orders:by_city:oslo"));
  EXPECT_EQ((*writes)[1].fields[3].second, std::nullopt) << "NULL stays NULL";
  EXPECT_EQ(nlohmann::json::parse(redisJsonOf((*writes)[1])),
            nlohmann::json::parse(R"({"id":"8","region":"eu","city":"rome","nickname":null})"));
}

TEST(RedisWritesTest, AKeyChangeDeletesTheOldKeyFirstAndDeletesUseTheBeforeImage) {
  const Change update = change(eb::UPDATE, {{user("7", "oslo"), user("9", "oslo")}}, 500);
  const Change remove = change(eb::DELETE, {{user("9", "oslo"), {}}}, 600);
  auto writes = redisWrites({mapping()}, {&update, &remove});
  ASSERT_TRUE(writes.isOk()) << writes.status().toString();
  ASSERT_EQ(writes->size(), 3u);
  EXPECT_EQ((*writes)[0].kind, RedisWrite::Kind::kDelete);
  EXPECT_EQ((*writes)[0].key, "shop:orders:7:eu");
  EXPECT_EQ((*writes)[0].member, "7:eu");
  EXPECT_EQ((*writes)[1].kind, RedisWrite::Kind::kSet);
  EXPECT_EQ((*writes)[1].key, "shop:orders:9:eu");
  EXPECT_EQ((*writes)[2].kind, RedisWrite::Kind::kDelete);
  EXPECT_EQ((*writes)[2].key, "shop:orders:9:eu");
  EXPECT_EQ((*writes)[2].version.offset, 600);
}

TEST(RedisWritesTest, APartialImageMergesAndKeepsTheIndexItCannotSee) {
  // binlog_row_image=MINIMAL: the key before, the changed column after.
  const Change update = change(eb::UPDATE, {{{{"id", "7", true, false, 4, "int(11)"}, {"region", "eu", true}},
                                             {{"nick", std::nullopt, false, true}}}}, 700);
  auto writes = redisWrites({mapping()}, {&update});
  ASSERT_TRUE(writes.isOk()) << writes.status().toString();
  ASSERT_EQ(writes->size(), 1u);
  const RedisWrite& w = (*writes)[0];
  EXPECT_EQ(w.kind, RedisWrite::Kind::kMerge);
  EXPECT_EQ(w.key, "shop:orders:7:eu");
  ASSERT_EQ(w.fields.size(), 1u);
  EXPECT_EQ(w.fields[0].first, "nickname");
  EXPECT_EQ(w.fields[0].second, std::nullopt);
  ASSERT_EQ(w.indexSets.size(), 1u);
  EXPECT_EQ(w.indexSets[0], std::nullopt) << "the city is not in the image: the row keeps its set";
}

TEST(RedisWritesTest, IdColumnsIncludeListsAndUnmappedTables) {
  RedisMapping m = mapping();
  m.table = "shop.orders";
  m.id = {"city"};
  m.include = {"id", "city"};
  m.indexes.clear();
  const Change mine = change(eb::INSERT, {{{}, user("7", "oslo")}}, 10);
  const Change other = change(eb::INSERT, {{{}, user("8", "rome")}}, 20, "payments");
  auto writes = redisWrites({m}, {&mine, &other});
  ASSERT_TRUE(writes.isOk()) << writes.status().toString();
  ASSERT_EQ(writes->size(), 1u);
  EXPECT_EQ((*writes)[0].key, "shop:orders:oslo");
  EXPECT_EQ((*writes)[0].fields.size(), 2u);
  EXPECT_TRUE((*writes)[0].indexSets.empty());
}

TEST(RedisWritesTest, ARowWithoutAKeyIsAnErrorNamingTheTable) {
  const Change insert = change(eb::INSERT, {{{}, {{"city", std::string("oslo")}}}}, 10);
  auto writes = redisWrites({mapping()}, {&insert});
  ASSERT_FALSE(writes.isOk());
  EXPECT_NE(writes.status().message().find("shop.orders at mysql-bin.000002:10"), std::string::npos)
      << writes.status().message();
}

}  // namespace
}  // namespace canal::forwarder

namespace canal::forwarder {
namespace {

// Versions from the server's stream sequence come after every binlog-position version, and
// follow the sequence across a primary switch whose binlog starts again at file 1.
TEST(RedisVersionTest, StreamSequenceVersionsOrderAfterPositionVersionsAndAcrossAPrimarySwitch) {
  const auto key = [](const RedisVersion& v) { return std::make_tuple(v.file, v.offset, v.row); };
  Change old;
  old.logfileName = "mysql-bin.999999";
  old.logfileOffset = 4000000000;
  Change beforeSwitch;
  beforeSwitch.logfileName = "mysql-bin.000006";
  beforeSwitch.logfileOffset = 9000;
  beforeSwitch.sequence = (std::int64_t{1800000000} << 30) | 77;
  Change afterSwitch;
  afterSwitch.logfileName = "mysql-bin.000001";
  afterSwitch.logfileOffset = 400;
  afterSwitch.sequence = beforeSwitch.sequence + 1;
  EXPECT_LT(key(RedisVersion::of(old, 5)), key(RedisVersion::of(beforeSwitch, 0)));
  EXPECT_LT(key(RedisVersion::of(beforeSwitch, 9)), key(RedisVersion::of(afterSwitch, 0)));
  EXPECT_LT(old.version(), beforeSwitch.version());
  EXPECT_LT(beforeSwitch.version(), afterSwitch.version());
  EXPECT_GT(beforeSwitch.position(), afterSwitch.position()) << "the binlog position went back";
  // A Lua number holds each part exactly.
  EXPECT_LT(RedisVersion::of(afterSwitch, 0).file, std::int64_t{1} << 53);
  EXPECT_EQ(RedisVersion::of(afterSwitch, 0).offset, 78);
}

}  // namespace
}  // namespace canal::forwarder
