// The C++ SDK against the real server on a real MariaDB: the stream, rollback and re-get, the
// server's errors, reconnect after the server went away, two destinations, many clients; and
// bin/startup.sh / bin/stop.sh around the canal-server binary.

#include "tests/integration/client/connector_fixture.h"

namespace canal::client {
namespace {

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
