// canal-adapter's RDB mapping files read as the sql sink's mappings, so an existing canal-adapter
// setup keeps its conf/rdb/*.yml: the table, the target (with targetDb), the key from targetPk,
// targetColumns as renames and the columns written (all of them with mapAll), unknown keys
// refused by name; and mapping_files found beside the forwarder's configuration.

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "forwarder/forwarder_config.h"
#include "tests/support/temp_dir.h"

namespace canal::forwarder {
namespace {

const char* kAdapterFile = R"(dataSourceKey: defaultDS
destination: example
groupId: g1
outerAdapterKey: mysql1
concurrent: true
dbMapping:
  database: mytest
  table: user
  targetTable: mytest2.user
  targetPk:
    id: id
  targetColumns:
    id:
    name:
    role_id:
    c_time: created
  etlCondition: "where c_time>={}"
  commitBatch: 3000
)";

TEST(CanalAdapterMapping, AnRdbMappingFileIsASqlMapping) {
  auto m = parseCanalAdapterMapping(kAdapterFile, "rdb/mytest_user.yml");
  ASSERT_TRUE(m.isOk()) << m.status().message();
  EXPECT_EQ(m->table, "mytest\\.user");
  EXPECT_EQ(m->target, "mytest2.user");
  EXPECT_EQ(m->key, (std::vector<std::string>{"id"}));
  EXPECT_EQ(m->rename, (std::map<std::string, std::string>{{"created", "c_time"}}));
  EXPECT_EQ(m->include, (std::vector<std::string>{"created", "id", "name", "role_id"}));
}

TEST(CanalAdapterMapping, MapAllWritesEveryColumnAndTargetDbQualifiesTheTable) {
  auto m = parseCanalAdapterMapping("dbMapping:\n  database: shop\n  table: orders\n  targetDb: copy\n"
                                    "  targetTable: orders\n  mapAll: true\n  targetColumns:\n    total: amount\n",
                                    "o.yml");
  ASSERT_TRUE(m.isOk()) << m.status().message();
  EXPECT_EQ(m->target, "copy.orders");
  EXPECT_TRUE(m->include.empty());
  EXPECT_EQ(m->rename, (std::map<std::string, std::string>{{"amount", "total"}}));
  EXPECT_TRUE(m->key.empty()) << "the source's key";
}

TEST(CanalAdapterMapping, ProblemsAreNamedByKey) {
  const auto error = [](const std::string& yaml) {
    auto m = parseCanalAdapterMapping(yaml, "u.yml");
    return m.isOk() ? std::string("accepted") : m.status().message();
  };
  EXPECT_NE(error("dbMapping: {database: a, table: t, targetTable: t, mapAll: true, targetColum: {}}")
                .find("u.yml: dbMapping.targetColum is not a known key"),
            std::string::npos);
  EXPECT_NE(error("dbMapping: {database: a, targetTable: t, mapAll: true}").find("dbMapping.table is required"),
            std::string::npos);
  EXPECT_NE(error("dbMapping: {database: a, table: t, targetTable: t}").find("dbMapping.targetColumns is required"),
            std::string::npos);
  EXPECT_NE(error("dbMapping: {mirrorDb: true, database: a}").find("dbMapping.mirrorDb is not supported"),
            std::string::npos);
}

TEST(CanalAdapterMapping, MappingFilesAreFoundBesideTheConfiguration) {
  testing::TempDir dir("canal-adapter-mapping");
  std::filesystem::create_directories(dir.path() / "rdb");
  std::ofstream(dir.path() / "rdb" / "mytest_user.yml") << kAdapterFile;
  std::ofstream(dir.path() / "forwarder.yml")
      << "source: {address: 'h:1'}\nsinks:\n  - type: sql\n    sql:\n      mapping_files: [rdb/mytest_user.yml]\n";
  auto c = loadForwarderConfig((dir.path() / "forwarder.yml").string());
  ASSERT_TRUE(c.isOk()) << c.status().message();
  ASSERT_EQ(c->sinks.at(0).sql.mappings.size(), 1u);
  EXPECT_EQ(c->sinks[0].sql.mappings[0].target, "mytest2.user");
  std::ofstream(dir.path() / "forwarder.yml")
      << "source: {address: 'h:1'}\nsinks:\n  - type: sql\n    sql:\n      mapping_files: [rdb/missing.yml]\n";
  auto missing = loadForwarderConfig((dir.path() / "forwarder.yml").string());
  ASSERT_FALSE(missing.isOk());
  EXPECT_NE(missing.status().message().find("sql.mapping_files[0]"), std::string::npos) << missing.status().message();
  EXPECT_NE(missing.status().message().find("cannot read it"), std::string::npos);
}

}  // namespace
}  // namespace canal::forwarder
