// Typed decoding of every non-row event in every fixture, with values checked where the files'
// contents are known, and the fixtures' deliberately broken events reported as Corruption.

#include "server/binlog/event_decoder.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "server/binlog/event_type.h"
#include "tests/support/fixtures.h"

namespace canal::binlog {
namespace {

using canal::testing::binlogFixtures;
using canal::testing::fixtureDir;
using canal::testing::readFile;

struct Decoded {
  std::vector<std::pair<RawEvent, EventBody>> events;
  std::map<std::string, int> innerCounts;
  std::vector<Status> errors;  // one per event that failed to decode
  Status framing;
};

Decoded decodeAll(const std::string& data, const std::string& name) {
  Decoded d;
  EventStream stream(data, name);
  RawEvent e;
  while (true) {
    auto more = stream.next(e);
    if (!more) {
      d.framing = more.status();
      break;
    }
    if (!*more) break;
    auto body = decodeEventBody(e, stream.format(), stream.where(e.offset));
    if (!body) {
      d.errors.push_back(body.status());
      continue;
    }
    if (auto* payload = std::get_if<TransactionPayloadEvent>(&*body)) {
      EventStream inner = EventStream::forPayload(payload->payload, stream.where(e.offset), stream.format());
      RawEvent ie;
      while (true) {
        auto r = inner.next(ie);
        if (!r) {
          d.errors.push_back(r.status());
          break;
        }
        if (!*r) break;
        d.innerCounts[eventTypeName(ie.header.type)]++;
        if (auto ib = decodeEventBody(ie, inner.format(), inner.where(ie.offset)); !ib) d.errors.push_back(ib.status());
      }
    }
    d.events.emplace_back(e, std::move(*body));
  }
  return d;
}

template <typename T>
std::vector<T> all(const Decoded& d) {
  std::vector<T> out;
  for (const auto& [raw, body] : d.events) {
    if (const T* t = std::get_if<T>(&body)) out.push_back(*t);
  }
  return out;
}

TEST(Events, EveryFixtureDecodesExceptItsKnownBrokenEvents) {
  for (const auto& f : binlogFixtures()) {
    SCOPED_TRACE(f.relative);
    Decoded d = decodeAll(readFile(f.path), f.relative);
    if (f.relative == "mysql-unknown/binlog_truncated_event.000001") continue;
    ASSERT_TRUE(d.framing.isOk()) << d.framing.toString();
    if (f.relative == "mysql-5.0/corrupt-relay-bin.000624") {
      ASSERT_EQ(d.errors.size(), 1u);
      EXPECT_EQ(d.errors[0].where(), f.relative + ":91204");
      EXPECT_TRUE(d.errors[0].isCorruption());
    } else if (f.relative.starts_with("mysql-5.1/ver_5_1-wl2325_")) {
      // The 5.2 a_drop tree numbers TABLE_MAP 16 and XID 20: read with today's numbers, its
      // "XID" events would be 38-byte TABLE_MAPs. Decoded with the tree's numbering, all is well.
      for (const auto& e : d.errors) ADD_FAILURE() << e.toString();
      EXPECT_TRUE(std::any_of(d.events.begin(), d.events.end(), [](const auto& ev) {
        return ev.first.header.type == kTableMapEvent || ev.first.header.type == kXidEvent;
      }));
    } else {
      for (const auto& e : d.errors) ADD_FAILURE() << e.toString();
    }
    EXPECT_EQ(d.innerCounts, f.innerEventTypes);
  }
}

TEST(Events, MariaDbStartupFile) {
  const std::string name = "mariadb-10.11-generated/crc32_full/mariadb-bin.000001";
  Decoded d = decodeAll(readFile(fixtureDir() + "/" + name), name);
  ASSERT_TRUE(d.errors.empty());
  auto fde = all<FormatDescription>(d);
  ASSERT_EQ(fde.size(), 1u);
  EXPECT_TRUE(fde[0].mariaDb);
  EXPECT_EQ(fde[0].serverVersion, "10.11.19-MariaDB-0+deb12u1-log");
  auto checkpoint = all<BinlogCheckpointEvent>(d);
  ASSERT_EQ(checkpoint.size(), 1u);
  EXPECT_EQ(checkpoint[0].file, "mariadb-bin.000001");
  auto rotate = all<RotateEvent>(d);
  ASSERT_EQ(rotate.size(), 1u);
  EXPECT_EQ(rotate[0].nextFile, "mariadb-bin.000002");
  EXPECT_EQ(rotate[0].position, 4u);
  ASSERT_EQ(all<MariaGtidListEvent>(d).size(), 1u);
}

TEST(Events, MariaDbWorkloadTransactionsAndCompressedQueries) {
  for (const char* run : {"crc32_full", "compressed"}) {
    const std::string name = std::string("mariadb-10.11-generated/") + run + "/mariadb-bin.000002";
    SCOPED_TRACE(name);
    Decoded d = decodeAll(readFile(fixtureDir() + "/" + name), name);
    ASSERT_TRUE(d.errors.empty()) << d.errors[0].toString();
    auto gtids = all<MariaGtidEvent>(d);
    ASSERT_EQ(gtids.size(), 50u);
    for (std::size_t i = 1; i < gtids.size(); ++i) EXPECT_EQ(gtids[i].sequence, gtids[i - 1].sequence + 1);
    auto queries = all<QueryEvent>(d);
    ASSERT_EQ(queries.size(), 20u);  // QUERY_EVENT and QUERY_COMPRESSED_EVENT alike
    int xaCommit = 0;
    for (const auto& q : queries) {
      if (q.query.rfind("XA COMMIT", 0) == 0) ++xaCommit;
      EXPECT_TRUE(q.clientCharset.has_value()) << q.query;
    }
    EXPECT_EQ(xaCommit, 1);
    // MariaDB starts a transaction with its GTID event (no BEGIN query); DDL is standalone.
    const auto standalone = std::count_if(gtids.begin(), gtids.end(), [](const auto& g) { return g.standalone(); });
    EXPECT_GT(standalone, 0);
    EXPECT_LT(standalone, 50);
    EXPECT_EQ(all<XidEvent>(d).size(), 33u);
    auto xa = all<XaPrepareEvent>(d);
    ASSERT_EQ(xa.size(), 1u);
    EXPECT_FALSE(xa[0].gtrid.empty());
    auto annotate = all<RowsQueryEvent>(d);
    ASSERT_EQ(annotate.size(), 35u);
    EXPECT_NE(annotate[0].query.find("INSERT"), std::string::npos) << annotate[0].query;
    auto uservar = all<UserVarEvent>(d);
    ASSERT_EQ(uservar.size(), 1u);
    EXPECT_FALSE(uservar[0].name.empty());
  }
}

TEST(Events, MysqlGtidAndPreviousGtids) {
  const std::string name = "mysql-5.6/binlog_transaction_with_GTID.000001";
  Decoded d = decodeAll(readFile(fixtureDir() + "/" + name), name);
  ASSERT_TRUE(d.errors.empty());
  auto gtids = all<GtidEvent>(d);
  ASSERT_FALSE(gtids.empty());
  for (const auto& g : gtids) {
    EXPECT_FALSE(g.anonymous);
    EXPECT_EQ(g.uuid().size(), 36u);
    EXPECT_GT(g.gno, 0u);
  }
  ASSERT_EQ(all<PreviousGtidsEvent>(d).size(), 1u);
}

// MySQL 9.6 with a tagged GTID: the PREVIOUS_GTIDS set in the tagged encoding (8.3+) and a
// GTID_TAGGED_LOG_EVENT (values as stated by the file's upstream test).
TEST(Events, TaggedGtidSetsOfMySql96) {
  const std::string name = "mysql-9.6/binlog_transaction_with_GTID_TAG.000001";
  Decoded d = decodeAll(readFile(fixtureDir() + "/" + name), name);
  ASSERT_TRUE(d.errors.empty()) << d.errors[0].toString();
  const auto previous = all<PreviousGtidsEvent>(d);
  ASSERT_EQ(previous.size(), 1u);
  EXPECT_EQ(previous[0].gtidSet, "55778904-0299-11f1-b1b8-4ef0c4956feb:1-13:mytag:1-2");
  const auto gtids = all<GtidEvent>(d);
  ASSERT_EQ(gtids.size(), 1u);
  EXPECT_EQ(gtids[0].tag, "mytag");
  EXPECT_EQ(gtids[0].gno, 3u);
  EXPECT_EQ(gtids[0].gtid(), "55778904-0299-11f1-b1b8-4ef0c4956feb:mytag:3");
}

TEST(Events, TransactionPayloadInnerEventsInOrder) {
  const std::string name = "mysql-8.0/transaction_compression.000001";
  const std::string data = readFile(fixtureDir() + "/" + name);
  Decoded d = decodeAll(data, name);
  ASSERT_TRUE(d.errors.empty()) << d.errors[0].toString();
  auto payloads = all<TransactionPayloadEvent>(d);
  ASSERT_EQ(payloads.size(), 1u);
  EXPECT_EQ(payloads[0].compressionType, 0u);
  EXPECT_EQ(payloads[0].payload.size(), payloads[0].uncompressedSize);
  EventStream inner = EventStream::forPayload(payloads[0].payload, name, FormatDescription{});
  std::vector<std::string> types;
  RawEvent e;
  while (*inner.next(e)) types.push_back(eventTypeName(e.header.type));
  EXPECT_EQ(types, (std::vector<std::string>{"QUERY_EVENT", "TABLE_MAP_EVENT", "WRITE_ROWS_EVENT_V2", "XID_EVENT"}));
}

TEST(Events, CorruptPayloadIsReportedNotCrashed) {
  const std::string name = "mysql-8.0/transaction_compression.000001";
  const std::string data = readFile(fixtureDir() + "/" + name);
  Decoded d = decodeAll(data, name);
  RawEvent payload;
  for (const auto& [raw, body] : d.events) {
    if (raw.header.type == kTransactionPayloadEvent) payload = raw;
  }
  ASSERT_GT(payload.body.size(), 10u);
  int corrupt = 0;
  for (std::size_t i = 0; i < payload.body.size(); ++i) {
    std::string body(payload.body);
    body[i] = static_cast<char>(body[i] ^ 0x5a);
    auto r = decodeTransactionPayload(body, "p");
    if (!r) {
      EXPECT_TRUE(r.status().isCorruption());
      ++corrupt;
    }
  }
  EXPECT_GT(corrupt, static_cast<int>(payload.body.size()) / 2);
}

TEST(Events, TruncatedBodiesAreCorruption) {
  FormatDescription format;
  format.postHeaderLengths.assign(40, 0);
  format.postHeaderLengths[kQueryEvent - 1] = 13;
  EXPECT_TRUE(decodeQuery(std::string(12, '\0'), format, false, "f:4").status().isCorruption());
  EXPECT_TRUE(decodeXid(std::string(7, '\0'), "f:4").status().isCorruption());
  EXPECT_TRUE(decodeGtid(std::string(20, '\0'), false, "f:4").status().isCorruption());
  EXPECT_TRUE(decodeMariaGtidList(std::string("\xff\xff\xff\x0f", 4), "f:4").status().isCorruption());
  EXPECT_TRUE(decodePreviousGtids(std::string("\xff\xff\xff\xff\xff\xff\xff\x7f", 8), "f:4").status().isCorruption());
  EXPECT_TRUE(mariaDbUncompress(std::string("\x84\x7f\xff\xff\xff", 5), "f:4").status().isCorruption());
}

}  // namespace
}  // namespace canal::binlog

namespace canal::binlog {
namespace {

// A GTID_TAGGED_LOG_EVENT body (checksum removed) written by Percona Server 8.4.11-11 for
// 77d1902c-01da-11f1-9a41-908d6e5f6e8d:test_tag:1, a 337-byte transaction.
const unsigned char kTaggedGtidBody[] = {
    0x02, 0x7c, 0x00, 0x00, 0x02, 0x02, 0xee, 0x45, 0x03, 0x41, 0x02, 0x58, 0x02, 0x69, 0x03, 0x22,
    0xc5, 0x03, 0x69, 0x02, 0x82, 0x41, 0x02, 0x35, 0x02, 0xdc, 0xbe, 0xdc, 0x35, 0x02, 0x04, 0x04,
    0x06, 0x10, 0x74, 0x65, 0x73, 0x74, 0x5f, 0x74, 0x61, 0x67, 0x08, 0x00, 0x0a, 0x04, 0x0c, 0x7f,
    0x00, 0x3e, 0x89, 0x00, 0xfa, 0x5b, 0x06, 0x10, 0x45, 0x05, 0x12, 0xdb, 0xd0, 0x09};

TEST(Events, MysqlTaggedGtid) {
  const std::string_view body(reinterpret_cast<const char*>(kTaggedGtidBody), sizeof kTaggedGtidBody);
  auto g = decodeGtidTagged(body, "t:1");
  ASSERT_TRUE(g.status().isOk()) << g.status().toString();
  EXPECT_EQ(g->gtid(), "77d1902c-01da-11f1-9a41-908d6e5f6e8d:test_tag:1");
  EXPECT_EQ(g->tag, "test_tag");
  EXPECT_EQ(g->transactionLength, 337u);
  EXPECT_EQ(g->lastCommitted, 0);
  EXPECT_EQ(g->sequenceNumber, 1);
  EXPECT_EQ(g->immediateServerVersion, 80411u);
  EXPECT_EQ(g->originalServerVersion, 80411u);
  EXPECT_EQ(g->originalCommitTimestamp, g->immediateCommitTimestamp);
  for (std::size_t n = 0; n < body.size(); ++n) {
    EXPECT_TRUE(decodeGtidTagged(body.substr(0, n), "t:1").status().isCorruption()) << n;
  }
}

}  // namespace
}  // namespace canal::binlog

namespace canal::binlog {
namespace {

TEST(Events, LoadDataEventsOf51) {
  Decoded d = decodeAll(readFile(fixtureDir() + "/mysql-5.1/ver_5_1_23.001"), "v");
  ASSERT_TRUE(d.framing.isOk());
  const auto blocks = all<LoadBlockEvent>(d);
  ASSERT_EQ(blocks.size(), 2u);
  EXPECT_TRUE(blocks[0].begin);
  EXPECT_FALSE(blocks[1].begin);
  EXPECT_EQ(blocks[0].fileId, blocks[1].fileId);
  const auto loads = all<ExecuteLoadQueryEvent>(d);
  ASSERT_EQ(loads.size(), 1u);
  EXPECT_EQ(loads[0].fileId, blocks[0].fileId);
  const std::string& q = loads[0].query.query;
  ASSERT_LE(loads[0].fileNameEnd, q.size());
  EXPECT_NE(q.substr(loads[0].fileNameStart, loads[0].fileNameEnd - loads[0].fileNameStart).find("'big_file.dat'"),
            std::string::npos);
  EXPECT_EQ(loads[0].query.database, "test");
}

}  // namespace
}  // namespace canal::binlog
