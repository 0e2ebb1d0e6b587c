// The C++ SDK against the real server on a real MariaDB: the stream, rollback and re-get, the
// server's errors, reconnect after the server went away, two destinations, many clients; and
// bin/startup.sh / bin/stop.sh around the canal-server binary.

#include "canal/client/canal_connector.h"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <zookeeper/zookeeper.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include "canal/protocol/password_scramble.h"
#include "server/app/destination_parts.h"
#include "server/instance/destination.h"
#include "server/net/canal_server.h"
#include "server/snapshot/snapshot_runner.h"
#include "tests/support/fixtures.h"
#include "tests/support/mariadb_server.h"
#include "tests/support/mariadb_test.h"
#include "tests/support/process.h"
#include "tests/support/temp_dir.h"
#include "tests/support/zookeeper_server.h"

namespace canal::client {
namespace {

namespace eb = canal::protocol::entry;
using canal::testing::MariaDbServer;
using namespace std::chrono_literals;

class ConnectorTest : public canal::testing::MariaDbTest {
 protected:
  void SetUp() override {
    MariaDbTest::SetUp();
    if (HasFatalFailure()) return;
    ASSERT_TRUE(db_->execute("CREATE DATABASE s; CREATE TABLE s.a (id INT PRIMARY KEY, v VARCHAR(16)); "
                             "CREATE TABLE s.b (id INT PRIMARY KEY, v VARCHAR(16))")
                    .isOk());
    addDestination("example", "s\\.a");
    addDestination("second", "s\\.b");
    startServer(0);
  }

  void addDestination(const std::string& name, const std::string& filter,
                      convert::TimeZone zone = convert::TimeZone::system()) {
    instance::DestinationOptions o;
    o.pump.render.timeZone = zone;
    o.name = name;
    o.master = replicaLogin();
    o.dump.heartbeatSeconds = 1;
    o.dump.slaveId = 5000 + static_cast<std::uint32_t>(destinations_.size());  // one replica id each
    o.tableFilter.regex = filter;
    auto created = app::makeDestination(o);
    ASSERT_TRUE(created.isOk()) << created.status().toString();
    auto& d = destinations_[name] = std::move(*created);
    d->start();
    ASSERT_TRUE(canal::testing::waitUntil(10s, [&] { return d->following(); }));
  }

  void startServer(int port) {
    net::ServerOptions so;
    so.port = port;
    so.user = "canal";
    so.passwordHash = protocol::passwordHash("canal");
    server_ = std::make_unique<net::CanalServer>(so, [this](const std::string& name) {
      const auto it = destinations_.find(name);
      return instance::sessionsOf(it == destinations_.end() ? nullptr : it->second);
    });
    ASSERT_TRUE(server_->start().isOk());
  }

  std::unique_ptr<CanalConnector> connector(const std::string& destination = "example",
                                            const std::string& password = "canal", ConnectorOptions o = {}) {
    return newSingleConnector("127.0.0.1:" + std::to_string(server_->port()), destination, "canal", password, o);
  }

  // Batches until one ends with TRANSACTIONEND; their entries, and the last batch id.
  static std::vector<Entry> readTransaction(CanalConnector& c, std::int64_t* lastId = nullptr) {
    std::vector<Entry> out;
    for (int i = 0; i < 100; ++i) {
      auto m = c.getWithoutAck(100, 200ms);
      EXPECT_TRUE(m.isOk()) << m.status().toString();
      if (!m) break;
      if (m->id() == -1) continue;
      if (lastId) *lastId = m->id();
      for (const auto& e : m->entries()) out.push_back(e);
      if (!out.empty() && out.back().entrytype() == eb::TRANSACTIONEND) return out;
    }
    ADD_FAILURE() << "no complete transaction";
    return out;
  }

  static std::vector<std::string> values(const std::vector<Entry>& entries) {
    std::vector<std::string> out;
    for (const auto& e : entries) {
      if (e.entrytype() != eb::ROWDATA) continue;
      eb::RowChange rc;
      EXPECT_TRUE(rc.ParseFromString(e.storevalue()));
      for (const auto& row : rc.rowdatas()) out.push_back(e.header().tablename() + ":" + row.aftercolumns(1).value());
    }
    return out;
  }

  void TearDown() override {
    if (server_) server_->stop();
    for (auto& [name, d] : destinations_) d->stop();
  }

  std::map<std::string, std::shared_ptr<instance::Destination>> destinations_;
  std::unique_ptr<net::CanalServer> server_;
};

TEST_F(ConnectorTest, StreamRollbackRegetAndTheServersErrors) {
  ConnectorOptions strict;  // Canal's get -> reply -> ack sequence: each ack confirmed by its own call
  strict.prefetch = 0;
  strict.confirmAcks = true;
  auto c = connector("example", "canal", strict);
  ASSERT_TRUE(c->connect().isOk());
  ASSERT_TRUE(c->subscribe().isOk());
  auto empty = c->getWithoutAck(100);
  ASSERT_TRUE(empty.isOk()) << empty.status().toString();
  EXPECT_EQ(empty->id(), -1);
  EXPECT_TRUE(c->ack(-1).isOk());

  ASSERT_TRUE(db_->execute("INSERT INTO s.a VALUES (1, 'x'), (2, 'y')").isOk());
  std::int64_t id = -1;
  const auto first = readTransaction(*c, &id);
  EXPECT_EQ(values(first), (std::vector<std::string>{"a:x", "a:y"}));

  // Rollback: the same entries again, under a new batch id.
  ASSERT_TRUE(c->rollback(id).isOk());
  std::int64_t again = -1;
  const auto second = readTransaction(*c, &again);
  EXPECT_GT(again, id);
  ASSERT_EQ(second.size(), first.size());
  for (std::size_t i = 0; i < first.size(); ++i) {
    EXPECT_EQ(second[i].SerializeAsString(), first[i].SerializeAsString()) << "entry " << i;
  }

  // An unknown batch: the server's error, reported by ack itself; the connection goes on.
  const Status unknown = c->ack(again + 100);
  EXPECT_EQ(unknown.code(), 400);
  EXPECT_NE(unknown.message().find("batchId:" + std::to_string(again + 100) + " is not exist"), std::string::npos)
      << unknown.toString();
  EXPECT_TRUE(c->checkValid());
  EXPECT_TRUE(c->ack(again).isOk());
  auto after = c->getWithoutAck(100);
  ASSERT_TRUE(after.isOk()) << after.status().toString();
  EXPECT_EQ(after->id(), -1);

  // Without confirmation (the default) an ack error is noticed by the next call, which reconnects.
  ConnectorOptions quick;
  quick.retryInterval = 10ms;
  auto u = connector("example", "canal", quick);
  ASSERT_TRUE(u->connect().isOk());
  ASSERT_TRUE(u->subscribe().isOk());
  EXPECT_TRUE(u->ack(12345).isOk());  // sent, outcome unknown
  auto noticed = u->getWithoutAck(100);
  ASSERT_FALSE(noticed.isOk());
  EXPECT_NE(noticed.status().message().find("batchId:12345 is not exist"), std::string::npos)
      << noticed.status().toString();
  auto resumed = u->getWithoutAck(100);
  EXPECT_TRUE(resumed.isOk()) << resumed.status().toString();
}

// With GETs in flight ahead of the application: every entry once and in order; a rollback
// gives back the prefetched batches too, which come again in order after the last ack; an ack
// the server refuses is reported by the next call, which reconnects and rolls back.
TEST_F(ConnectorTest, PrefetchedBatchesComeInOrderAndComeAgainAfterARollback) {
  std::string inserts;  // one transaction, one row entry each
  for (int i = 1; i <= 40; ++i) inserts += "INSERT INTO s.a VALUES (" + std::to_string(i) + ", 'v" + std::to_string(i) + "');";
  ASSERT_TRUE(db_->execute(inserts).isOk());
  std::vector<std::string> expected;
  for (int i = 1; i <= 40; ++i) expected.push_back("a:v" + std::to_string(i));

  // Batches of about one entry (1 KB units), three GETs ahead; acks confirmed by their own call.
  ConnectorOptions o;
  o.prefetch = 3;
  o.retryInterval = 10ms;
  o.confirmAcks = true;
  auto c = connector("example", "canal", o);
  ASSERT_TRUE(c->connect().isOk());
  ASSERT_TRUE(c->subscribe().isOk());
  // Reads batches until `rows` rows came; acks each one when `ack`.
  const auto read = [&](std::size_t rows, bool ack, std::vector<std::int64_t>* ids = nullptr) {
    std::vector<std::string> got;
    const auto deadline = std::chrono::steady_clock::now() + 30s;
    while (got.size() < rows && std::chrono::steady_clock::now() < deadline) {
      auto m = c->getWithoutAck(1, 100ms);
      EXPECT_TRUE(m.isOk()) << m.status().toString();
      if (!m.isOk()) break;
      if (m->id() == -1) continue;
      if (ids) ids->push_back(m->id());
      std::vector<Entry> entries = m->entries();
      for (const auto& v : ConnectorTest::values(entries)) got.push_back(v);
      if (ack) {
        EXPECT_TRUE(c->ack(m->id()).isOk());
      }
    }
    return got;
  };
  // What was read is the next stretch of `expected`, from `from`.
  const auto stretch = [&](std::size_t from, std::size_t size) {
    return std::vector<std::string>(expected.begin() + static_cast<long>(from),
                                    expected.begin() + static_cast<long>(std::min(from + size, expected.size())));
  };
  std::vector<std::int64_t> ids;
  const auto acked = read(10, true, &ids);
  EXPECT_EQ(acked, stretch(0, acked.size()));
  for (std::size_t i = 1; i < ids.size(); ++i) EXPECT_GT(ids[i], ids[i - 1]);
  // More without ack, then a rollback: the GETs in flight held later batches, unacked too.
  std::vector<std::int64_t> unackedIds;
  const auto unacked = read(5, false, &unackedIds);
  EXPECT_EQ(unacked, stretch(acked.size(), unacked.size()));
  const auto unackedAtServer = [&] {
    for (const auto& client : destinations_["example"]->stats().clients) {
      if (client.clientId == 1001) return client.unackedBatches;
    }
    return std::size_t{0};
  };
  EXPECT_TRUE(canal::testing::waitUntil(10s, [&] { return unackedAtServer() == unackedIds.size() + 3; }))
      << "the server handed out " << unackedAtServer() << " batches, the application has " << unackedIds.size()
      << ": three more are prefetched";
  ASSERT_TRUE(c->rollback().isOk());
  const auto rest = read(expected.size() - acked.size(), true);
  EXPECT_EQ(rest, stretch(acked.size(), expected.size()))
      << "after the rollback: everything after the last ack once, in order";

  // An ack the server refuses reports it itself (the prefetch's reply is read first); the
  // connection goes on.
  const Status refused = c->ack(987654);
  EXPECT_EQ(refused.code(), 400) << refused.toString();
  EXPECT_NE(refused.message().find("batchId:987654 is not exist"), std::string::npos) << refused.toString();
  EXPECT_TRUE(c->checkValid());
  ASSERT_TRUE(db_->execute("INSERT INTO s.a VALUES (41, 'v41')").isOk());
  EXPECT_EQ(read(1, true), std::vector<std::string>{"a:v41"});

  // Without confirmation (the default) the ack is sent behind the prefetch and a later call
  // reads its error, then reconnects and rolls back: nothing lost or doubled.
  ConnectorOptions unconfirmed = o;
  unconfirmed.confirmAcks = false;
  c = connector("example", "canal", unconfirmed);
  ASSERT_TRUE(c->connect().isOk());
  ASSERT_TRUE(c->subscribe().isOk());
  ASSERT_TRUE(db_->execute("INSERT INTO s.a VALUES (42, 'v42')").isOk());
  EXPECT_EQ(read(1, true), std::vector<std::string>{"a:v42"});
  EXPECT_TRUE(c->ack(987654).isOk());
  Status noticed;
  for (int i = 0; i <= o.prefetch && noticed.isOk(); ++i) {
    auto m = c->getWithoutAck(1, 100ms);
    if (!m.isOk()) noticed = m.status();
  }
  ASSERT_FALSE(noticed.isOk());
  EXPECT_NE(noticed.message().find("batchId:987654 is not exist"), std::string::npos) << noticed.toString();
  ASSERT_TRUE(db_->execute("INSERT INTO s.a VALUES (43, 'v43')").isOk());
  EXPECT_EQ(read(1, true), std::vector<std::string>{"a:v43"});
}

TEST_F(ConnectorTest, WrongPasswordAndUnknownDestination) {
  auto bad = connector("example", "wrong");
  const Status s = bad->connect();
  EXPECT_EQ(s.code(), 400);
  EXPECT_EQ(s.message(), "auth failed for user:canal");
  EXPECT_FALSE(bad->checkValid());

  auto nowhere = connector("nowhere");
  ASSERT_TRUE(nowhere->connect().isOk());
  const Status sub = nowhere->subscribe();
  EXPECT_EQ(sub.code(), 400);
  EXPECT_NE(sub.message().find("nowhere"), std::string::npos) << sub.toString();

  ConnectorOptions o;
  o.retries = 0;
  auto closed = newSingleConnector("127.0.0.1:1", "example", "canal", "canal", o);
  const Status refused = closed->connect();
  EXPECT_EQ(refused.code(), Status::kNetwork);
  EXPECT_NE(refused.message().find("127.0.0.1:1"), std::string::npos) << refused.toString();
}

TEST_F(ConnectorTest, AReconnectResumesAfterTheLastAck) {
  ConnectorOptions o;
  o.retryInterval = 50ms;
  auto c = connector("example", "canal", o);
  ASSERT_TRUE(c->connect().isOk());
  ASSERT_TRUE(c->subscribe().isOk());
  ASSERT_TRUE(db_->execute("INSERT INTO s.a VALUES (1, 'acked')").isOk());
  std::int64_t id = -1;
  EXPECT_EQ(values(readTransaction(*c, &id)), std::vector<std::string>{"a:acked"});
  ASSERT_TRUE(c->ack(id).isOk());
  ASSERT_TRUE(db_->execute("INSERT INTO s.a VALUES (2, 'unacked')").isOk());
  EXPECT_EQ(values(readTransaction(*c)), std::vector<std::string>{"a:unacked"});

  // The server goes away and comes back on the same port; the next get reconnects, rolls
  // back and subscribes again: the unacked transaction comes again, the acked one does not.
  const int port = server_->port();
  server_->stop();
  startServer(port);
  ASSERT_TRUE(db_->execute("INSERT INTO s.a VALUES (3, 'later')").isOk());
  std::vector<Entry> got = readTransaction(*c);
  std::vector<std::string> seen = values(got);
  if (seen.size() == 1) {
    for (const auto& e : readTransaction(*c)) got.push_back(e);
    seen = values(got);
  }
  EXPECT_EQ(seen, (std::vector<std::string>{"a:unacked", "a:later"}));
}

// Every MySQL column type through the server and the SDK, as Canal renders it
// (docs/entries.md, "Values"): value, sqlType, mysqlType, NULL handling and updated flags.
TEST_F(ConnectorTest, EveryColumnTypeArrivesAsCanalRendersIt) {
  ASSERT_TRUE(db_->execute(
                     "CREATE TABLE s.types (id INT PRIMARY KEY, ti TINYINT, tu TINYINT UNSIGNED, si SMALLINT, "
                     "su SMALLINT UNSIGNED, mi MEDIUMINT, mu MEDIUMINT UNSIGNED, ii INT, iu INT UNSIGNED, bi BIGINT, "
                     "bu BIGINT UNSIGNED, f FLOAT, d DOUBLE, de DECIMAL(10,2), b1 BIT(1), b5 BIT(5), y YEAR, dt DATE, "
                     "tm TIME(3), dtm DATETIME(6), ts TIMESTAMP(2) NULL, c CHAR(4), vc VARCHAR(20), bn BINARY(3), "
                     "vb VARBINARY(8), tx TEXT, bl BLOB, e ENUM('x','y','z'), st SET('a','b','c'), j JSON, g GEOMETRY) "
                     "DEFAULT CHARSET=utf8mb4")
                  .isOk());
  auto zone = convert::TimeZone::parse("UTC");
  ASSERT_TRUE(zone.isOk());
  addDestination("types", "s\\.types", *zone);
  auto c = connector("types");
  ASSERT_TRUE(c->connect().isOk());
  ASSERT_TRUE(c->subscribe().isOk());
  ASSERT_TRUE(db_->execute(
                     "SET time_zone = '+00:00'; INSERT INTO s.types VALUES (1, -128, 255, -32768, 65535, -8388608, "
                     "16777215, -2147483648, 4294967295, -9223372036854775808, 18446744073709551615, 1.5, 0.1, 1.00, "
                     "b'1', b'10101', 2024, '2024-02-29', '-838:59:59.500', '2024-01-02 03:04:05.123456', "
                     "'2024-01-02 03:04:05.12', 'ab', 'h\xC3\xA9llo', 0x00ff41, 0x0102, 'text', 0x00ff, 'y', 'a,c', "
                     "'{\"k\": [1, 2]}', ST_GeomFromText('POINT(1 2)')); "
                     "INSERT INTO s.types (id) VALUES (2); "
                     "UPDATE s.types SET tu = 127, vc = 'changed' WHERE id = 1")
                  .isOk());
  std::vector<Entry> entries;
  int ends = 0;
  for (int i = 0; i < 100 && ends < 3; ++i) {
    auto m = c->get(100, 200ms);
    ASSERT_TRUE(m.isOk()) << m.status().toString();
    for (const auto& e : m->entries()) {
      entries.push_back(e);
      ends += e.entrytype() == eb::TRANSACTIONEND;
    }
  }
  ASSERT_EQ(ends, 3);
  std::vector<eb::RowChange> changes;
  for (const auto& e : entries) {
    if (e.entrytype() != eb::ROWDATA) continue;
    eb::RowChange rc;
    ASSERT_TRUE(rc.ParseFromString(e.storevalue()));
    if (rc.rowdatas_size() > 0) changes.push_back(rc);
  }
  ASSERT_EQ(changes.size(), 3u);
  struct Want {
    const char* name;
    const char* value;  // nullptr: NULL
    int sqlType;
    const char* mysqlType;
  };
  const std::vector<Want> want = {
      {"id", "1", 4, "int(11)"},
      {"ti", "-128", -6, "tinyint(4)"},
      {"tu", "255", 5, "tinyint(3) unsigned"},  // unsigned >= 128: SMALLINT
      {"si", "-32768", 5, "smallint(6)"},
      {"su", "65535", 4, "smallint(5) unsigned"},
      {"mi", "-8388608", 4, "mediumint(9)"},
      {"mu", "16777215", 4, "mediumint(8) unsigned"},
      {"ii", "-2147483648", 4, "int(11)"},
      {"iu", "4294967295", -5, "int(10) unsigned"},
      {"bi", "-9223372036854775808", -5, "bigint(20)"},
      {"bu", "18446744073709551615", 3, "bigint(20) unsigned"},
      {"f", "1.5", 7, "float"},
      {"d", "0.1", 8, "double"},
      {"de", "1.0", 3, "decimal(10,2)"},  // Canal's decimal rendering
      {"b1", "1", -7, "bit(1)"},
      {"b5", "21", -7, "bit(5)"},
      {"y", "2024", 12, "year(4)"},
      {"dt", "2024-02-29", 91, "date"},
      {"tm", "-838:59:59.500", 92, "time(3)"},
      {"dtm", "2024-01-02 03:04:05.123456", 93, "datetime(6)"},
      {"ts", "2024-01-02 03:04:05.12", 93, "timestamp(2)"},
      {"c", "ab", 1, "char(4)"},
      {"vc", "h\xC3\xA9llo", 12, "varchar(20)"},
      {"bn", "\x00\xC3\xBF" "A", 2004, "binary(3)"},  // ISO-8859-1: 0xff is U+00FF
      {"vb", "\x01\x02", 2004, "varbinary(8)"},
      {"tx", "text", 2005, "text"},
      {"bl", "\x00\xC3\xBF", 2004, "blob"},
      {"e", "2", 4, "enum('x','y','z')"},
      {"st", "5", -7, "set('a','b','c')"},
      {"j", "{\"k\": [1, 2]}", 2004, "json"},  // MariaDB's JSON: a BLOB to Canal (docs/entries.md)
  };
  const auto& inserted = changes[0].rowdatas(0).aftercolumns();
  ASSERT_EQ(inserted.size(), 31);
  for (std::size_t i = 0; i < want.size(); ++i) {
    const eb::Column& col = inserted[static_cast<int>(i)];
    SCOPED_TRACE(want[i].name);
    EXPECT_EQ(col.name(), want[i].name);
    EXPECT_EQ(col.index(), static_cast<int>(i));
    EXPECT_FALSE(col.isnull());
    // Embedded NULs: compare with the expected length.
    const std::string expected(want[i].value, std::string(want[i].name) == "bn" ? 4 : std::string(want[i].name) == "bl" ? 3 : std::strlen(want[i].value));
    EXPECT_EQ(col.value(), expected);
    EXPECT_EQ(col.sqltype(), want[i].sqlType);
    EXPECT_EQ(col.mysqltype(), want[i].mysqlType);
    EXPECT_TRUE(col.updated()) << "every column of an INSERT counts as updated";
  }
  EXPECT_TRUE(inserted[0].iskey());
  EXPECT_FALSE(inserted[1].iskey());
  // GEOMETRY: the SRID (0) then the WKB of POINT(1 2), as ISO-8859-1 text; sqlType BLOB.
  EXPECT_EQ(inserted[30].sqltype(), 2004);
  EXPECT_EQ(inserted[30].value().substr(0, 5), std::string("\x00\x00\x00\x00\x01", 5));

  // All NULL but the key: no value, sqlType without unsigned promotion, SET and JSON as Canal has them.
  const auto& nulls = changes[1].rowdatas(0).aftercolumns();
  ASSERT_EQ(nulls.size(), 31);
  for (int i = 1; i < nulls.size(); ++i) {
    SCOPED_TRACE(nulls[i].name());
    EXPECT_TRUE(nulls[i].isnull());
    EXPECT_FALSE(nulls[i].has_value());
  }
  EXPECT_EQ(nulls[2].sqltype(), -6) << "TINYINT UNSIGNED NULL: no promotion";
  EXPECT_EQ(nulls[28].sqltype(), 2004) << "SET NULL: BLOB";
  EXPECT_EQ(nulls[29].sqltype(), 2004) << "MariaDB JSON NULL: BLOB";

  // UPDATE: before and after images, updated only where the value changed.
  const auto& row = changes[2].rowdatas(0);
  ASSERT_EQ(row.beforecolumns_size(), 31);
  ASSERT_EQ(row.aftercolumns_size(), 31);
  EXPECT_EQ(row.beforecolumns(2).value(), "255");
  EXPECT_FALSE(row.beforecolumns(2).updated());
  EXPECT_EQ(row.aftercolumns(2).value(), "127");
  EXPECT_EQ(row.aftercolumns(2).sqltype(), -6) << "below 128: TINYINT again";
  for (int i = 0; i < 31; ++i) {
    const bool changed = i == 2 || i == 22;
    EXPECT_EQ(row.aftercolumns(i).updated(), changed) << row.aftercolumns(i).name();
  }
  EXPECT_EQ(row.aftercolumns(22).value(), "changed");
}

TEST_F(ConnectorTest, TwoDestinationsAtOnceEachWithItsOwnFilter) {
  auto a = connector("example");
  auto b = connector("second");
  ASSERT_TRUE(a->connect().isOk() && a->subscribe().isOk());
  ASSERT_TRUE(b->connect().isOk() && b->subscribe().isOk());
  ASSERT_TRUE(db_->execute("INSERT INTO s.a VALUES (1, 'for-a'); INSERT INTO s.b VALUES (1, 'for-b')").isOk());
  EXPECT_EQ(values(readTransaction(*a)), std::vector<std::string>{"a:for-a"});
  EXPECT_EQ(values(readTransaction(*b)), std::vector<std::string>{"b:for-b"});
}

TEST_F(ConnectorTest, ManyConcurrentClients) {
  constexpr int kClients = 200;
  std::atomic<int> ok{0};
  std::vector<std::string> failures(kClients);
  const auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> threads;
  for (int i = 0; i < kClients; ++i) {
    threads.emplace_back([&, i] {
      ConnectorOptions o;
      o.clientId = static_cast<std::int16_t>(2000 + i);
      auto c = connector(i % 2 ? "second" : "example", "canal", o);
      Status s = c->connect();
      if (s) s = c->subscribe();
      for (int k = 0; s && k < 5; ++k) {
        auto m = c->getWithoutAck(10);
        if (!m) s = m.status();
      }
      if (s) ++ok;
      else failures[i] = s.toString();
    });
  }
  for (auto& t : threads) t.join();
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start);
  for (const auto& f : failures) EXPECT_EQ(f, "");
  EXPECT_EQ(ok.load(), kClients);
  std::cerr << kClients << " clients (connect, auth, subscribe, 5 gets each) in " << ms.count() << " ms\n";
}

// bin/startup.sh / bin/stop.sh: pid file, logs/, refusing a second start, stop waiting.
// A second server for the same destination name, with its own destination on the same primary
// (another replica id): what a standby server is to the client.
struct StandbyServer {
  std::shared_ptr<instance::Destination> destination;
  std::unique_ptr<net::CanalServer> server;

  static std::unique_ptr<StandbyServer> start(const mysql::ConnectOptions& login, const std::string& filter) {
    auto s = std::make_unique<StandbyServer>();
    instance::DestinationOptions o;
    o.name = "example";
    o.master = login;
    o.dump.heartbeatSeconds = 1;
    o.dump.slaveId = 6000;
    o.tableFilter.regex = filter;
    auto created = app::makeDestination(o);
    EXPECT_TRUE(created.isOk()) << created.status().toString();
    if (!created.isOk()) return nullptr;
    s->destination = std::move(*created);
    s->destination->start();
    EXPECT_TRUE(canal::testing::waitUntil(10s, [&] { return s->destination->following(); }));
    net::ServerOptions so;
    so.port = 0;
    so.user = "canal";
    so.passwordHash = protocol::passwordHash("canal");
    std::shared_ptr<instance::Destination> d = s->destination;
    s->server = std::make_unique<net::CanalServer>(
        so, [d](const std::string& name) { return instance::sessionsOf(name == "example" ? d : nullptr); });
    EXPECT_TRUE(s->server->start().isOk());
    return s;
  }
  ~StandbyServer() {
    if (server) server->stop();
    if (destination) destination->stop();
  }
};

// Row values (column v) of s.a seen in `c`'s batches until every one of `wanted` arrived; acks
// each batch. Lost connections are the connector's to handle: any error fails the test.
std::set<std::string> readRows(CanalConnector& c, const std::set<std::string>& wanted) {
  std::set<std::string> seen;
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  while (std::chrono::steady_clock::now() < deadline &&
         !std::includes(seen.begin(), seen.end(), wanted.begin(), wanted.end())) {
    auto m = c.getWithoutAck(100, 200ms);
    EXPECT_TRUE(m.isOk()) << m.status().toString();
    if (!m) return seen;
    for (const auto& e : m->entries()) {
      if (e.entrytype() != eb::ROWDATA) continue;
      eb::RowChange rc;
      EXPECT_TRUE(rc.ParseFromString(e.storevalue()));
      for (const auto& row : rc.rowdatas()) seen.insert(row.aftercolumns(1).value());
    }
    EXPECT_TRUE(c.ack(m->id()).isOk());
  }
  return seen;
}

TEST_F(ConnectorTest, ClusterConnectorMovesToTheNextServerOfTheListWhenItsServerDies) {
  auto standby = StandbyServer::start(replicaLogin(), "s\\.a");
  ASSERT_TRUE(standby);
  ConnectorOptions o;
  o.retryInterval = 100ms;
  auto c = newClusterConnector(ClusterSource::list("127.0.0.1:" + std::to_string(server_->port()) + ", 127.0.0.1:" +
                                                   std::to_string(standby->server->port())),
                               "example", "canal", "canal", o);
  ASSERT_TRUE(c->connect().isOk());
  ASSERT_TRUE(c->subscribe().isOk());
  ASSERT_TRUE(db_->execute("INSERT INTO s.a VALUES (1, 'one'), (2, 'two')").isOk());
  EXPECT_EQ(readRows(*c, {"one", "two"}), (std::set<std::string>{"one", "two"}));

  // The server dies with a batch fetched and not acked; rows keep coming meanwhile.
  ASSERT_TRUE(db_->execute("INSERT INTO s.a VALUES (3, 'three')").isOk());
  std::optional<std::int64_t> unacked;
  for (int i = 0; i < 50 && !unacked; ++i) {
    auto m = c->getWithoutAck(100, 200ms);
    ASSERT_TRUE(m.isOk()) << m.status().toString();
    if (m->id() != -1) unacked = m->id();
  }
  ASSERT_TRUE(unacked.has_value());
  server_->stop();
  ASSERT_TRUE(db_->execute("INSERT INTO s.a VALUES (4, 'four')").isOk());

  // The next call lands on the standby: nothing is lost (the standby has no ack from this
  // client, so it delivers from where it started: at least once).
  const auto after = readRows(*c, {"three", "four"});
  EXPECT_TRUE(after.count("three") && after.count("four")) << ::testing::PrintToString(after);
  EXPECT_TRUE(c->checkValid());
  // The batch fetched from the dead server cannot be acked any more, and says why.
  const Status stale = c->ack(*unacked);
  EXPECT_EQ(stale.code(), Status::kNetwork);
  EXPECT_NE(stale.message().find("came from a server connection that was lost"), std::string::npos)
      << stale.toString();
}

// Writes /otter/canal/destinations/<dest>/running as a running Canal server does (ephemeral,
// {"active":true,"address":...}), from a ZooKeeper session of the test's own.
class RunningNodeWriter {
 public:
  explicit RunningNodeWriter(const std::string& servers) {
    zoo_set_debug_level(static_cast<ZooLogLevel>(0));
    zh_ = zookeeper_init(servers.c_str(), nullptr, 30000, nullptr, nullptr, 0);
    EXPECT_TRUE(canal::testing::waitUntil(10s, [&] { return zh_ && zoo_state(zh_) == ZOO_CONNECTED_STATE; }));
  }
  ~RunningNodeWriter() {
    if (zh_) zookeeper_close(zh_);
  }
  void publish(const std::string& destination, const std::string& address) {
    std::string path;
    for (const std::string part : {"otter", "canal", "destinations", destination.c_str()}) {
      path += "/" + part;
      const int rc = zoo_create(zh_, path.c_str(), nullptr, -1, &ZOO_OPEN_ACL_UNSAFE, 0, nullptr, 0);
      ASSERT_TRUE(rc == ZOK || rc == ZNODEEXISTS) << zerror(rc);
    }
    const std::string running = path + "/running";
    zoo_delete(zh_, running.c_str(), -1);
    const std::string data = R"({"active":true,"address":")" + address + R"("})";
    const int rc = zoo_create(zh_, running.c_str(), data.data(), static_cast<int>(data.size()), &ZOO_OPEN_ACL_UNSAFE,
                              ZOO_EPHEMERAL, nullptr, 0);
    ASSERT_EQ(rc, ZOK) << zerror(rc);
  }
  void withdraw(const std::string& destination) {
    zoo_delete(zh_, ("/otter/canal/destinations/" + destination + "/running").c_str(), -1);
  }

 private:
  zhandle_t* zh_ = nullptr;
};

TEST_F(ConnectorTest, ClusterConnectorFollowsTheRunningNodeInZooKeeper) {
  auto zk = canal::testing::ZooKeeperServer::start();
  ASSERT_TRUE(zk.isOk()) << zk.status().toString();
  ConnectorOptions o;
  o.retryInterval = 100ms;
  o.retries = 1;
  o.connectTimeout = 1s;
  // Nobody runs the destination yet: looked for until failoverTimeout (by default without end),
  // each look that finds none reported to the application, then a clear error naming the node.
  {
    ConnectorOptions bounded = o;
    bounded.failoverTimeout = 1s;
    int waits = 0;
    bounded.onFailoverWait = [&](const Status& why) {
      ++waits;
      EXPECT_EQ(why.code(), Status::kNetwork) << why.toString();
    };
    auto c = newClusterConnector(ClusterSource::zooKeeper((*zk)->connectString()), "example", "canal", "canal", bounded);
    const Status none = c->connect();
    EXPECT_EQ(none.code(), Status::kNetwork);
    EXPECT_NE(none.message().find("/otter/canal/destinations/example/running does not exist"), std::string::npos)
        << none.toString();
    EXPECT_GE(waits, 1);
  }

  RunningNodeWriter writer((*zk)->connectString());
  writer.publish("example", "127.0.0.1:" + std::to_string(server_->port()));
  auto standby = StandbyServer::start(replicaLogin(), "s\\.a");
  ASSERT_TRUE(standby);
  o.connectTimeout = 10s;
  auto c = newClusterConnector(ClusterSource::zooKeeper((*zk)->connectString()), "example", "canal", "canal", o);
  ASSERT_TRUE(c->connect().isOk());
  ASSERT_TRUE(c->subscribe().isOk());
  ASSERT_TRUE(db_->execute("INSERT INTO s.a VALUES (1, 'one')").isOk());
  EXPECT_EQ(readRows(*c, {"one"}), (std::set<std::string>{"one"}));

  // The running server goes away; for a while no server runs the destination, then the standby
  // takes over and says so in ZooKeeper. The client follows it.
  server_->stop();
  writer.withdraw("example");
  ASSERT_TRUE(db_->execute("INSERT INTO s.a VALUES (2, 'two')").isOk());
  std::thread takeover([&] {
    std::this_thread::sleep_for(300ms);
    writer.publish("example", "127.0.0.1:" + std::to_string(standby->server->port()));
  });
  const auto after = readRows(*c, {"two"});
  takeover.join();
  EXPECT_TRUE(after.count("two")) << ::testing::PrintToString(after);
}

// canal-tail, the binary: one FlatMessage line per row change, the MariaDB statement entries
// left out unless asked for, through a static list with a dead first address.
TEST_F(ConnectorTest, CanalTailPrintsOneFlatMessageLinePerRowChange) {
  ASSERT_TRUE(db_->execute("INSERT INTO s.a VALUES (1, 'x'), (2, 'y'); INSERT INTO s.a VALUES (3, 'z')").isOk());
  const std::string address = "127.0.0.1:" + std::to_string(canal::testing::freePort()) + ",127.0.0.1:" +
                              std::to_string(server_->port());
  std::string out;
  const int rc = canal::testing::runCommand({CANAL_TAIL_BINARY, "--address", address, "--destination", "example",
                                             "--user", "canal", "--password", "canal", "--max-rows", "3",
                                             "--idle-exit", "20", "--no-ack", "--quiet"},
                                            &out);
  EXPECT_EQ(rc, 0) << out;
  std::vector<std::string> lines;
  for (std::size_t from = 0; from < out.size();) {
    const std::size_t nl = out.find('\n', from);
    lines.push_back(out.substr(from, nl - from));
    from = nl == std::string::npos ? out.size() : nl + 1;
  }
  ASSERT_EQ(lines.size(), 2u) << out;
  EXPECT_NE(lines[0].find(R"("data":[{"id":"1","v":"x"},{"id":"2","v":"y"}])"), std::string::npos) << lines[0];
  EXPECT_NE(lines[0].find(R"("type":"INSERT")"), std::string::npos) << lines[0];
  EXPECT_NE(lines[1].find(R"("data":[{"id":"3","v":"z"}])"), std::string::npos) << lines[1];

  // --statements: the SQL of each transaction comes first.
  out.clear();
  EXPECT_EQ(canal::testing::runCommand({CANAL_TAIL_BINARY, "--address", "127.0.0.1:" + std::to_string(server_->port()),
                                        "--user", "canal", "--password", "canal", "--max-rows", "5",
                                        "--idle-exit", "20", "--statements", "--quiet"},
                                       &out),
            0)
      << out;
  EXPECT_NE(out.find(R"j("sql":"INSERT INTO s.a VALUES (1, 'x'), (2, 'y')")j"), std::string::npos) << out;
}

// canal-tail started before any server listens: it waits (saying so), follows the server once
// it is up, keeps following through two restarts of it, and a SIGTERM ends it within 1.5 s even
// while it waits on a server that accepts connections and never answers.
TEST_F(ConnectorTest, CanalTailWaitsForTheServerFollowsItThroughRestartsAndStopsAtOnceOnASignal) {
  server_->stop();
  server_.reset();
  const int port = canal::testing::freePort();
  canal::testing::TempDir dir("canal-tail-restarts");
  const std::string log = (dir.path() / "tail.log").string();
  canal::testing::ChildProcess tail;
  ASSERT_TRUE(tail.start({CANAL_TAIL_BINARY, "--address", "127.0.0.1:" + std::to_string(port), "--destination",
                          "example", "--user", "canal", "--password", "canal", "--batch-size", "10"},
                         log)
                  .isOk());
  const auto logged = [&](const std::string& text) { return canal::testing::readFile(log).find(text) != std::string::npos; };
  ASSERT_TRUE(canal::testing::waitUntil(20s, [&] { return logged("canal-tail: waiting: 127.0.0.1:"); })) << tail.logTail();
  EXPECT_TRUE(tail.running()) << "a server that is not up yet is waited for";

  startServer(port);
  ASSERT_FALSE(HasFatalFailure());
  ASSERT_TRUE(db_->execute("INSERT INTO s.a VALUES (1, 'one')").isOk());
  ASSERT_TRUE(canal::testing::waitUntil(20s, [&] { return logged(R"({"id":"1","v":"one"})"); })) << tail.logTail();
  std::vector<double> gaps;  // from the server being up again to the row printed
  for (int restart = 2; restart <= 3; ++restart) {
    server_->stop();
    server_.reset();
    ASSERT_TRUE(db_->execute("INSERT INTO s.a VALUES (" + std::to_string(restart) + ", 'r')").isOk());
    startServer(port);
    ASSERT_FALSE(HasFatalFailure());
    const auto up = std::chrono::steady_clock::now();
    ASSERT_TRUE(canal::testing::waitUntil(30s, [&] { return logged(R"({"id":")" + std::to_string(restart) + R"(","v":"r"})"); }, 10ms))
        << tail.logTail();
    gaps.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - up).count());
    EXPECT_TRUE(tail.running());
  }
  std::printf("[ figures ] canal-tail after a restart of its server: rows printed %.2f s and %.2f s after the server is up\n",
              gaps[0], gaps[1]);

  // A server that accepts and never answers: the connector waits on it; SIGTERM still ends it.
  server_->stop();
  server_.reset();
  const int mute = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(mute, 0);
  sockaddr_in at{};
  at.sin_family = AF_INET;
  at.sin_port = htons(static_cast<std::uint16_t>(port));
  at.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const int one = 1;
  ::setsockopt(mute, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  ASSERT_EQ(::bind(mute, reinterpret_cast<sockaddr*>(&at), sizeof at), 0);
  ASSERT_EQ(::listen(mute, 16), 0);
  ASSERT_TRUE(canal::testing::waitUntil(20s, [&] {
    pollfd pending{mute, POLLIN, 0};
    return ::poll(&pending, 1, 0) > 0;
  })) << "canal-tail connects to the mute server and waits for its handshake; " << tail.logTail();
  const int status = tail.stop(std::chrono::milliseconds(1500));
  ::close(mute);
  EXPECT_TRUE(WIFEXITED(status)) << "ended by itself, not killed after the grace period; " << tail.logTail();
}

// canal-tail --zk with no ZooKeeper answering: it says what it waits for, and a SIGTERM or a
// SIGINT ends it within a second, exit code 0.
TEST(CanalTailTest, WithZooKeeperDownItSaysSoAndASignalEndsItWithinASecond) {
  canal::testing::TempDir dir("canal-tail-zk-down");
  const std::string zk = "127.0.0.1:" + std::to_string(canal::testing::freePort());
  for (const int signal : {SIGTERM, SIGINT}) {
    const std::string log = (dir.path() / ("tail-" + std::to_string(signal) + ".log")).string();
    canal::testing::ChildProcess tail;
    ASSERT_TRUE(tail.start({CANAL_TAIL_BINARY, "--zk", zk, "--destination", "example"}, log).isOk());
    ASSERT_TRUE(canal::testing::waitUntil(20s, [&] {
      return canal::testing::readFile(log).find("canal-tail: waiting: no ZooKeeper session with " + zk) != std::string::npos;
    })) << tail.logTail();
    const auto signalled = std::chrono::steady_clock::now();
    ASSERT_EQ(::kill(tail.pid(), signal), 0);
    const int status = tail.wait(std::chrono::seconds(5));
    EXPECT_LT(std::chrono::steady_clock::now() - signalled, 1s) << "signal " << signal;
    EXPECT_EQ(status, 0) << "signal " << signal << "; " << tail.logTail();
  }
}

// canal-tail marks the rows a snapshot read from the table.
TEST_F(ConnectorTest, CanalTailMarksSnapshotRows) {
  ASSERT_TRUE(db_->execute("INSERT INTO s.a VALUES (1, 'x'), (2, 'y')").isOk());
  snapshot::SnapshotRunner runner("example", destinations_["example"]->options().master,
                                  destinations_["example"]->snapshots(), {});
  snapshot::SnapshotRequest request;
  request.tables = {{"s", "a"}};
  ASSERT_TRUE(runner.start(request).isOk());
  runner.wait();
  ASSERT_EQ(runner.progress()->state, "done") << runner.progress()->toJson();
  std::string out;
  ASSERT_EQ(canal::testing::runCommand({CANAL_TAIL_BINARY, "--address", "127.0.0.1:" + std::to_string(server_->port()),
                                        "--user", "canal", "--password", "canal", "--max-rows", "4",
                                        "--idle-exit", "20", "--quiet"},
                                       &out),
            0)
      << out;
  // The binlog's INSERT, then the snapshot's rows of the same data, marked.
  const auto binlog = out.find(R"("data":[{"id":"1","v":"x"},{"id":"2","v":"y"}])");
  ASSERT_NE(binlog, std::string::npos) << out;
  const auto snapshot = out.find(R"("data":[{"id":"1","v":"x"},{"id":"2","v":"y"}])", binlog + 1);
  ASSERT_NE(snapshot, std::string::npos) << out;
  EXPECT_EQ(out.substr(binlog, out.find('\n', binlog) - binlog).find("snapshot"), std::string::npos);
  EXPECT_NE(out.substr(snapshot, out.find('\n', snapshot) - snapshot).find(R"(,"snapshot":true})"), std::string::npos)
      << out;
}

// canal-tail killed with kill -9 over and over while rows arrive, each time restarted at once:
// every row reaches some run, and the first deliveries stay in the order the rows were written
// (a GET of a killed client must not take a batch ahead of what its next connection gets).
TEST_F(ConnectorTest, AClientKilledMidGetKeepsFirstDeliveriesInOrder) {
  std::atomic<bool> writing{true};
  std::atomic<int> written{0};
  std::thread writer([&] {
    while (writing) {
      const int id = written + 1;
      if (!db_->execute("INSERT INTO s.a VALUES (" + std::to_string(id) + ", 'r')").isOk()) break;
      written = id;
      std::this_thread::sleep_for(2ms);  // a steady trickle: the tail waits in GET most of the time
    }
  });
  canal::testing::TempDir dir("canal-tail-kill");
  const std::vector<std::string> tail = {CANAL_TAIL_BINARY, "--address", "127.0.0.1:" + std::to_string(server_->port()),
                                         "--destination", "example", "--user", "canal", "--password", "canal",
                                         "--batch-size", "4", "--quiet"};
  std::vector<std::string> outputs;
  const auto size = [](const std::string& path) {
    std::error_code ec;
    const auto n = std::filesystem::file_size(path, ec);
    return ec ? std::uintmax_t{0} : n;
  };
  for (int run = 0; run < 20; ++run) {
    outputs.push_back((dir.path() / ("tail-" + std::to_string(run) + ".out")).string());
    canal::testing::ChildProcess p;
    ASSERT_TRUE(p.start(tail, outputs.back()).isOk());
    // Killed once it printed something: most often while its next GET waits.
    EXPECT_TRUE(canal::testing::waitUntil(20s, [&] { return size(outputs.back()) > 0; })) << p.logTail();
    p.kill();
  }
  writing = false;
  writer.join();
  const int last = written;
  ASSERT_GT(last, 0);
  outputs.push_back((dir.path() / "tail-final.out").string());
  std::vector<std::string> finalRun = tail;
  finalRun.insert(finalRun.end(), {"--idle-exit", "3"});
  std::string ignored;
  ASSERT_EQ(canal::testing::runCommand({"sh", "-c", [&] {
                                          std::string cmd;
                                          for (const auto& a : finalRun) cmd += "'" + a + "' ";
                                          return cmd + "> '" + outputs.back() + "'";
                                        }()},
                                       &ignored),
            0)
      << ignored;
  std::vector<int> firsts;
  std::set<int> seen;
  for (const auto& path : outputs) {
    const std::string text = canal::testing::readFile(path);
    // Whole lines only: a run killed while it wrote leaves a cut line (its batch was not acked).
    std::stringstream lines(text.substr(0, text.rfind('\n') + 1));
    std::string line;
    while (std::getline(lines, line)) {
      const std::size_t data = line.find(R"("data":[)");
      if (data == std::string::npos) continue;
      const std::string rows = line.substr(data, line.find(']', data) - data);
      for (std::size_t at = rows.find(R"({"id":")"); at != std::string::npos; at = rows.find(R"({"id":")", at + 1)) {
        const int id = std::atoi(rows.c_str() + at + 7);
        if (seen.insert(id).second) firsts.push_back(id);
      }
    }
  }
  EXPECT_EQ(static_cast<int>(seen.size()), last) << "rows lost";
  for (std::size_t i = 1; i < firsts.size(); ++i) {
    ASSERT_LT(firsts[i - 1], firsts[i]) << "row " << firsts[i] << " was first delivered after row " << firsts[i - 1];
  }
}

TEST(ServerScripts, StartupRefusesASecondStartAndStopWaitsForTheExit) {
  canal::testing::TempDir dir("canal-scripts");
  const auto conf = dir.path() / "conf";
  std::filesystem::create_directories(conf / "example");
  const int port = canal::testing::freePort();
  std::ofstream(conf / "canal.properties") << "canal.port = " << port << "\ncanal.metrics.pull.port = 0\n"
                                           << "canal.destinations = example\n";
  // A primary that is not there: the server keeps running and retrying.
  std::ofstream(conf / "example" / "instance.properties") << "canal.instance.master.address = 127.0.0.1:1\n";
  const std::string env = "CANAL_PID_FILE=" + (dir.path() / "canal.pid").string() +
                          " CANAL_LOG_DIR=" + (dir.path() / "logs").string() + " CANAL_SERVER_BIN=" CANAL_SERVER_BINARY;
  const std::string startup = env + " " CANAL_SOURCE_DIR "/bin/startup.sh " + conf.string();
  const std::string stop = env + " " CANAL_SOURCE_DIR "/bin/stop.sh";
  ASSERT_EQ(std::system((startup + " >/dev/null 2>&1").c_str()), 0);
  std::string pid;
  std::ifstream(dir.path() / "canal.pid") >> pid;
  ASSERT_FALSE(pid.empty());
  EXPECT_TRUE(std::filesystem::exists(dir.path() / "logs" / "canal" / "canal.log"));
  // The server listens.
  EXPECT_TRUE(canal::testing::waitUntil(10s, [&] {
    auto c = newSingleConnector("127.0.0.1:" + std::to_string(port), "example", "", "");
    return c->connect().isOk();
  }));
  EXPECT_NE(std::system((startup + " >/dev/null 2>&1").c_str()), 0) << "a second start must be refused";
  ASSERT_EQ(std::system((stop + " >/dev/null 2>&1").c_str()), 0);
  EXPECT_FALSE(std::filesystem::exists(dir.path() / "canal.pid"));
  EXPECT_NE(std::system(("kill -0 " + pid + " 2>/dev/null").c_str()), 0) << "the server is still running";
  std::string log;
  std::ifstream in(dir.path() / "logs" / "canal" / "canal.log");
  log.assign(std::istreambuf_iterator<char>(in), {});
  EXPECT_NE(log.find("stopped"), std::string::npos) << log;
  // The destination's own lines are in its file (Canal's layout).
  std::string destinationLog;
  std::ifstream dest(dir.path() / "logs" / "example" / "example.log");
  destinationLog.assign(std::istreambuf_iterator<char>(dest), {});
  EXPECT_NE(destinationLog.find("destination example: starting"), std::string::npos) << destinationLog;
  EXPECT_EQ(log.find("destination example: starting"), std::string::npos) << log;
}

}  // namespace
}  // namespace canal::client
