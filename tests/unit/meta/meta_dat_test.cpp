// meta.dat as Canal writes and reads it (docs/operations.md, "Files").

#include "server/meta/meta_dat.h"
#include "server/meta/meta_store.h"

#include <gtest/gtest.h>

#include <fstream>

#include "tests/support/temp_dir.h"

namespace canal::meta {
namespace {

// The spec's example, as one line.
const std::string kSpecExample =
    R"({"clientDatas":[{"clientIdentity":{"clientId":1001,"destination":"example","filter":".*\\..*"},)"
    R"("cursor":{"identity":{"slaveId":-1,"sourceAddress":{"address":"10.0.0.5","port":3306}},)"
    R"("postion":{"gtid":"","included":false,"journalName":"mysql-bin.000003",)"
    R"("position":1530,"serverId":1,"timestamp":1700000000000}}}],"destination":"example"})";

DestinationMeta example() {
  DestinationMeta m;
  m.destination = "example";
  ClientMeta c;
  c.clientId = 1001;
  c.filter = ".*\\..*";
  ClientCursor k;
  k.sourceHost = "10.0.0.5";
  k.sourcePort = 3306;
  k.position.journalName = "mysql-bin.000003";
  k.position.position = 1530;
  k.position.timestamp = 1700000000000;
  k.position.serverId = 1;
  c.cursor = k;
  m.clients.push_back(c);
  return m;
}

TEST(MetaDat, EncodesTheSpecExampleByteForByte) { EXPECT_EQ(encodeMetaDat(example()), kSpecExample); }

TEST(MetaDat, TheLowestCursorIsOrderedByFileNumberNotByName) {
  // mysql-bin.999999 rolls over to mysql-bin.1000000, which sorts first as a string.
  DestinationMeta m = example();
  m.clients[0].cursor->position.journalName = "mysql-bin.1000000";
  m.clients[0].cursor->position.position = 4;
  ClientMeta behind = m.clients[0];
  behind.clientId = 1002;
  behind.cursor->position.journalName = "mysql-bin.999999";
  behind.cursor->position.position = 900;
  m.clients.push_back(behind);
  ASSERT_NE(lowestCursor(m), nullptr);
  EXPECT_EQ(lowestCursor(m)->clientId, 1002);
  // In one file, by position.
  m.clients[1].cursor->position = m.clients[0].cursor->position;
  m.clients[1].cursor->position.position = 3;
  EXPECT_EQ(lowestCursor(m)->clientId, 1002);
}

TEST(MetaDat, DecodesCanalsFileAndRoundTrips) {
  auto m = decodeMetaDat(kSpecExample, "meta.dat");
  ASSERT_TRUE(m.isOk()) << m.status().toString();
  ASSERT_EQ(m->clients.size(), 1u);
  EXPECT_EQ(m->clients[0].filter, std::optional<std::string>(".*\\..*"));
  ASSERT_TRUE(m->clients[0].cursor.has_value());
  EXPECT_EQ(m->clients[0].cursor->position.position, 1530u);
  EXPECT_EQ(encodeMetaDat(*m), kSpecExample);
}

TEST(MetaDat, NoFilterNoCursorAndOldFilesWithoutGtidOrServerId) {
  DestinationMeta m;
  m.destination = "d";
  m.clients.push_back(ClientMeta{1001, std::nullopt, std::nullopt});
  EXPECT_EQ(encodeMetaDat(m), R"({"clientDatas":[{"clientIdentity":{"clientId":1001,"destination":"d"}}],"destination":"d"})");

  const std::string old =
      R"({"clientDatas":[{"clientIdentity":{"clientId":1001,"destination":"d","filter":""},"cursor":{"identity":)"
      R"({"slaveId":-1,"sourceAddress":{"address":"mysql","port":3306}},"postion":{"included":false,)"
      R"("journalName":"mysql-bin.000001","position":4,"timestamp":1}}}],"destination":"d"})";
  auto decoded = decodeMetaDat(old, "old/meta.dat");
  ASSERT_TRUE(decoded.isOk()) << decoded.status().toString();
  EXPECT_EQ(decoded->clients[0].filter, std::optional<std::string>(""));
  EXPECT_EQ(decoded->clients[0].cursor->sourceHost, "mysql");
  EXPECT_EQ(decoded->clients[0].cursor->position.serverId, 0u);
  EXPECT_EQ(decoded->clients[0].cursor->position.gtid, "");
}

TEST(MetaDat, DamagedFilesAreErrorsNamingTheFile) {
  for (const std::string& bad : {std::string("{"), std::string("[]"), std::string(R"({"destination":"d","clientDatas":[{}]})"),
                                kSpecExample.substr(0, kSpecExample.size() / 2)}) {
    auto m = decodeMetaDat(bad, "conf/example/meta.dat");
    ASSERT_FALSE(m.isOk()) << bad;
    EXPECT_NE(m.status().toString().find("conf/example/meta.dat"), std::string::npos) << m.status().toString();
  }
}

TEST(MetaDat, WrittenDurablyAndReadBack) {
  testing::TempDir dir;
  const std::string path = (dir.path() / "meta.dat").string();
  EXPECT_EQ(readMetaDat(path).status().code(), StatusCode::kNotFound);
  ASSERT_TRUE(writeMetaDat(path, example()).isOk());
  std::ifstream in(path, std::ios::binary);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(text, kSpecExample) << "one line, no trailing newline";
  auto back = readMetaDat(path);
  ASSERT_TRUE(back.isOk()) << back.status().toString();
  EXPECT_EQ(encodeMetaDat(*back), kSpecExample);
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
}

// A snapshot's progress rides with the cursor in snapshot.dat beside meta.dat, which stays
// Canal's byte for byte; the file goes when the snapshot is over.
TEST(MetaDat, SnapshotProgressIsKeptBesideMetaDatAndRemovedWhenDone) {
  testing::TempDir dir;
  const std::string path = (dir.path() / "meta.dat").string();
  const auto snapshotDat = dir.path() / "snapshot.dat";
  DestinationMeta m = example();
  m.clients[0].cursor->snapshot = R"({"tables":["s.t"],"next":"0a"})";
  {
    FileMetaStore store("example", path, std::chrono::milliseconds(0));
    ASSERT_TRUE(store.record(m, MetaChange{MetaChange::Kind::kCursor, 1001}).isOk());
  }
  std::ifstream in(path, std::ios::binary);
  EXPECT_EQ(std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>()), kSpecExample);
  ASSERT_TRUE(std::filesystem::exists(snapshotDat));
  FileMetaStore reopened("example", path, std::chrono::milliseconds(0));
  auto back = reopened.load();
  ASSERT_TRUE(back.isOk()) << back.status().toString();
  ASSERT_TRUE(back->clients[0].cursor.has_value());
  EXPECT_EQ(back->clients[0].cursor->snapshot, m.clients[0].cursor->snapshot);

  m.clients[0].cursor->snapshot.clear();
  ASSERT_TRUE(reopened.record(m, MetaChange{MetaChange::Kind::kCursor, 1001}).isOk());
  EXPECT_FALSE(std::filesystem::exists(snapshotDat));

  std::ofstream(snapshotDat) << "[1]";
  EXPECT_EQ(FileMetaStore("example", path, std::chrono::milliseconds(0)).load().status().code(), StatusCode::kCorruption);
}

}  // namespace
}  // namespace canal::meta
