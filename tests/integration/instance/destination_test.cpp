// A destination following a real MariaDB: table and column filters, a client's subscribe
// filter, DDL filtering, empty-transaction suppression and filter.table.error.

#include "server/app/destination_parts.h"
#include "server/instance/destination.h"

#include <gtest/gtest.h>

#include <map>

#include "canal/protocol/entry_protocol.pb.h"
#include "server/meta/meta_store.h"
#include "tests/support/mariadb_server.h"
#include "tests/support/mariadb_test.h"
#include "tests/support/process.h"
#include "tests/support/temp_dir.h"

namespace canal::instance {
namespace {

namespace eb = canal::protocol::entry;
using testing::MariaDbServer;

// One entry as a test reads it.
struct Seen {
  eb::EntryType type;
  std::string table;  // schema.table, "" for BEGIN/END
  eb::EventType eventType = eb::EventType::INSERT;
  std::vector<std::string> columns;  // after-image names of the first row (before for DELETE)
  std::string sql;
};

class DestinationTest : public canal::testing::MariaDbTest {
 protected:
  void SetUp() override {
    MariaDbTest::SetUp();
    if (HasFatalFailure()) return;
    ASSERT_TRUE(db_->execute("CREATE DATABASE s").isOk());
    for (const char* t : {"keep1", "keep_secret", "other"}) {
      ASSERT_TRUE(db_->execute(std::string("CREATE TABLE s.") + t +
                               " (id INT PRIMARY KEY, name VARCHAR(16), secret VARCHAR(16))")
                      .isOk());
    }
  }

  DestinationOptions options() const {
    DestinationOptions o;
    o.name = "example";
    o.master = replicaLogin();
    o.dump.heartbeatSeconds = 1;
    return o;
  }

  void start(const DestinationOptions& o) {
    auto created = app::makeDestination(o);
    ASSERT_TRUE(created.isOk()) << created.status().toString();
    d_ = std::move(*created);
    d_->start();
    ASSERT_TRUE(testing::waitUntil(std::chrono::seconds(10), [&] { return d_->following(); }));
    ASSERT_TRUE(d_->clients().subscribe(1001, "").isOk());
  }

  // Entries until one with `sql` containing `marker` arrives (a DDL on the marker table), acked;
  // the marker itself is left out.
  std::vector<eb::Entry> entriesUntilMarker(const std::string& marker) {
    std::vector<eb::Entry> entries;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (std::chrono::steady_clock::now() < deadline) {
      auto batch = d_->clients().get(1001, 100, store::GetWait{store::GetWait::Kind::kFor, std::chrono::milliseconds(200)});
      EXPECT_TRUE(batch.isOk()) << batch.status().toString();
      if (!batch.isOk()) break;
      bool done = false;
      for (const std::string& bytes : batch->entries) {
        eb::Entry e;
        EXPECT_TRUE(e.ParseFromString(bytes));
        if (e.entrytype() == eb::ROWDATA) {
          eb::RowChange rc;
          EXPECT_TRUE(rc.ParseFromString(e.storevalue()));
          if (rc.sql().find(marker) != std::string::npos && rc.isddl()) done = true;
        }
        if (!done) entries.push_back(std::move(e));
      }
      if (batch->id != -1) {
        EXPECT_TRUE(d_->clients().ack(1001, batch->id).isOk());
      }
      if (done) return entries;
    }
    ADD_FAILURE() << "marker " << marker << " never arrived; stream error: " << d_->streamError().toString();
    return entries;
  }

  std::vector<Seen> readUntilMarker(const std::string& marker) {
    std::vector<Seen> seen;
    for (const eb::Entry& e : entriesUntilMarker(marker)) {
      Seen s{e.entrytype(), "", e.header().eventtype(), {}, {}};
      if (e.entrytype() == eb::ROWDATA) {
        s.table = e.header().schemaname() + "." + e.header().tablename();
        eb::RowChange rc;
        EXPECT_TRUE(rc.ParseFromString(e.storevalue()));
        s.sql = rc.sql();
        if (rc.rowdatas_size() > 0) {
          const auto& cols = rc.rowdatas(0).aftercolumns_size() > 0 ? rc.rowdatas(0).aftercolumns()
                                                                     : rc.rowdatas(0).beforecolumns();
          for (const auto& c : cols) s.columns.push_back(c.name());
        }
      }
      seen.push_back(std::move(s));
    }
    return seen;
  }

  // A DDL that always passes the filters used here, to know everything before it has arrived.
  void marker(const std::string& name) {
    ASSERT_TRUE(db_->execute("CREATE DATABASE " + name).isOk());
  }

  void TearDown() override {
    if (d_) d_->stop();
  }

  // Rows, a RESET MASTER (after a FLUSH BINARY LOGS when `flush`), rows, a restart.
  void resetMasterCase(bool flush);

  std::unique_ptr<Destination> d_;
};

// The tables of the row-change entries (not DDL).
std::vector<std::string> rowTables(const std::vector<Seen>& seen) {
  std::vector<std::string> out;
  for (const Seen& s : seen) {
    if (s.type == eb::ROWDATA && s.sql.empty()) out.push_back(s.table);
  }
  return out;
}

int count(const std::vector<Seen>& seen, eb::EntryType type) {
  int n = 0;
  for (const Seen& s : seen) n += s.type == type;
  return n;
}

TEST_F(DestinationTest, TableAndColumnFiltersWithCanalSyntax) {
  DestinationOptions o = options();
  // As read from instance.properties: s\\.keep.* and s\\.keep_secret reach us as s\.keep.*.
  o.tableFilter.regex = "s\\.keep.*";
  o.tableFilter.blackRegex = "s\\.keep_secret";
  o.tableFilter.field = "s.keep1:id/NAME";
  // MariaDB's ANNOTATE_ROWS statements pass any table filter in Canal (and make a transaction
  // non-empty); filter.query.dml drops them.
  o.pump.filterQueryDml = true;
  start(o);

  ASSERT_TRUE(db_->execute("INSERT INTO s.other VALUES (1, 'a', 'x')").isOk());  // empty transaction, let through (first in 5 s)
  ASSERT_TRUE(db_->execute("INSERT INTO s.other VALUES (2, 'a', 'x')").isOk());  // empty again: dropped
  ASSERT_TRUE(db_->execute("INSERT INTO s.keep_secret VALUES (1, 'a', 'x')").isOk());  // black-listed: dropped
  ASSERT_TRUE(db_->execute("BEGIN; INSERT INTO s.other VALUES (3, 'b', 'y'); INSERT INTO s.keep1 VALUES (1, 'b', 'y'); "
                           "UPDATE s.keep1 SET secret = 'z' WHERE id = 1; COMMIT")
                  .isOk());
  ASSERT_TRUE(db_->execute("ALTER TABLE s.other ADD COLUMN extra INT").isOk());  // DDL of a filtered table: no entry
  ASSERT_TRUE(db_->execute("ALTER TABLE s.keep1 ADD COLUMN extra INT").isOk());
  ASSERT_TRUE(db_->execute("INSERT INTO s.keep1 VALUES (2, 'c', 'w', 7)").isOk());
  marker("m1");

  const std::vector<Seen> seen = readUntilMarker("m1");
  ASSERT_EQ(rowTables(seen), (std::vector<std::string>{"s.keep1", "s.keep1", "s.keep1"}));
  ASSERT_EQ(seen.size(), 7u);
  // The first empty transaction's END, then the mixed transaction's, then the last insert's.
  EXPECT_EQ(count(seen, eb::TRANSACTIONEND), 3);
  EXPECT_EQ(seen[0].type, eb::TRANSACTIONEND);
  // Only the listed columns, in table order, before and after the ALTER.
  EXPECT_EQ(seen[1].columns, (std::vector<std::string>{"id", "name"}));
  EXPECT_EQ(seen[2].columns, (std::vector<std::string>{"id", "name"}));
  EXPECT_EQ(seen[2].eventType, eb::UPDATE);
  EXPECT_EQ(seen[4].eventType, eb::ALTER);
  EXPECT_NE(seen[4].sql.find("s.keep1"), std::string::npos);
  EXPECT_EQ(seen[5].columns, (std::vector<std::string>{"id", "name"}));
}

TEST_F(DestinationTest, ASubscribeFilterReplacesTheInstanceFilterForEveryClient) {
  DestinationOptions o = options();
  o.tableFilter.regex = "s\\.keep1";
  start(o);
  ASSERT_TRUE(db_->execute("INSERT INTO s.keep1 VALUES (1, 'a', 'x')").isOk());
  ASSERT_TRUE(db_->execute("INSERT INTO s.other VALUES (1, 'a', 'x')").isOk());
  marker("m1");
  EXPECT_EQ(rowTables(readUntilMarker("m1")), (std::vector<std::string>{"s.keep1"}));

  // A bad filter is refused and changes nothing.
  const Status bad = d_->clients().subscribe(1002, "s\\.(other");
  EXPECT_FALSE(bad.isOk());
  EXPECT_NE(bad.toString().find("s\\.(other"), std::string::npos) << bad.toString();
  EXPECT_EQ(d_->tableFilter()->spec().regex, "s\\.keep1");

  // Another client's filter applies to the whole destination, client 1001 included.
  ASSERT_TRUE(d_->clients().subscribe(1002, "s\\.other,s\\.keep_.*").isOk());
  EXPECT_EQ(d_->tableFilter()->spec().regex, "s\\.other,s\\.keep_.*");
  ASSERT_TRUE(db_->execute("INSERT INTO s.keep1 VALUES (2, 'a', 'x')").isOk());
  ASSERT_TRUE(db_->execute("INSERT INTO s.other VALUES (2, 'a', 'x')").isOk());
  ASSERT_TRUE(db_->execute("INSERT INTO s.keep_secret VALUES (2, 'a', 'x')").isOk());
  marker("m2");
  EXPECT_EQ(rowTables(readUntilMarker("m2")), (std::vector<std::string>{"s.other", "s.keep_secret"}));

  // An empty subscribe filter leaves the current one in place.
  ASSERT_TRUE(d_->clients().subscribe(1003, "").isOk());
  EXPECT_EQ(d_->tableFilter()->spec().regex, "s\\.other,s\\.keep_.*");
}

TEST_F(DestinationTest, QueryRowAndTransactionEntryFilters) {
  DestinationOptions o = options();
  o.pump.filterQueryDdl = true;
  o.pump.filterDmlDelete = true;
  o.pump.filterTransactionEntry = true;
  o.pump.filterQueryDml = true;
  start(o);
  ASSERT_TRUE(db_->execute("INSERT INTO s.keep1 VALUES (1, 'a', 'x')").isOk());  // first END kept (5 s rule)
  ASSERT_TRUE(db_->execute("INSERT INTO s.keep1 VALUES (2, 'a', 'x')").isOk());
  ASSERT_TRUE(db_->execute("DELETE FROM s.keep1 WHERE id = 1").isOk());
  ASSERT_TRUE(db_->execute("ALTER TABLE s.keep1 ADD COLUMN extra INT").isOk());
  // CREATE DATABASE is a QUERY entry, not DDL of a table: it still arrives as the marker.
  marker("m1");
  const std::vector<Seen> seen = readUntilMarker("m1");
  ASSERT_EQ(seen.size(), 3u);
  EXPECT_EQ(seen[0].type, eb::ROWDATA);
  EXPECT_EQ(seen[1].type, eb::TRANSACTIONEND);
  EXPECT_EQ(seen[2].type, eb::ROWDATA);
  EXPECT_EQ(seen[2].eventType, eb::INSERT);
}

// Tables that exist when the destination starts but are first used by the stream after an ALTER
// already ran on the primary: their rows before the ALTER still decode with the old columns.
TEST_F(DestinationTest, RowsBeforeAnAlterDecodeWithTheOldColumnsWhenTheAlterRanFirst) {
  constexpr int kTables = 20;
  for (int i = 0; i < kTables; ++i) {
    ASSERT_TRUE(db_->execute("CREATE TABLE s.t" + std::to_string(i) + " (id INT PRIMARY KEY, v INT)").isOk());
  }
  start(options());
  // One round trip: the primary runs every ALTER long before the stream reaches the rows.
  std::string batch;
  for (int i = 0; i < kTables; ++i) {
    const std::string t = "s.t" + std::to_string(i);
    batch += "INSERT INTO " + t + " VALUES (1, 1); ALTER TABLE " + t + " ADD COLUMN extra INT FIRST; INSERT INTO " +
             t + " VALUES (2, 2, 2);";
  }
  ASSERT_TRUE(db_->execute(batch).isOk());
  marker("m1");
  int before = 0;
  int after = 0;
  for (const Seen& s : readUntilMarker("m1")) {
    if (s.type != eb::ROWDATA || !s.sql.empty()) continue;
    if (s.columns == std::vector<std::string>{"id", "v"}) ++before;
    else if (s.columns == std::vector<std::string>{"extra", "id", "v"}) ++after;
    else ADD_FAILURE() << s.table << " has columns " << ::testing::PrintToString(s.columns);
  }
  EXPECT_EQ(before, kTables);
  EXPECT_EQ(after, kTables);
  EXPECT_TRUE(d_->streamError().isOk()) << d_->streamError().toString();
}

TEST_F(DestinationTest, RowsOfATableThePrimaryNoLongerHasStopTheStreamUnlessTableErrorIsSet) {
  ASSERT_TRUE(db_->execute("CREATE TABLE s.gone (id INT PRIMARY KEY)").isOk());
  auto end = db_->binlogEnd();
  ASSERT_TRUE(end.isOk()) << end.status().toString();
  const std::string file = end->file;
  const std::uint64_t position = end->position;
  ASSERT_TRUE(db_->execute("INSERT INTO s.gone VALUES (1)").isOk());
  ASSERT_TRUE(db_->execute("DROP TABLE s.gone").isOk());
  ASSERT_TRUE(db_->execute("INSERT INTO s.keep1 VALUES (1, 'a', 'x')").isOk());
  marker("m1");

  DestinationOptions o = options();
  o.start.journalName = file;
  o.start.position = position;
  {
    start(o);
    ASSERT_TRUE(testing::waitUntil(std::chrono::seconds(10), [&] { return !d_->streamError().isOk(); }));
    EXPECT_NE(d_->streamError().toString().find("s.gone"), std::string::npos) << d_->streamError().toString();
    d_->stop();
  }
  o.pump.filterTableError = true;
  start(o);
  const std::vector<Seen> seen = readUntilMarker("m1");
  EXPECT_EQ(rowTables(seen), (std::vector<std::string>{"s.keep1"}));
  EXPECT_TRUE(d_->streamError().isOk()) << d_->streamError().toString();
}

// Pairs as a map, for props.
std::map<std::string, std::string> propsOf(const google::protobuf::RepeatedPtrField<eb::Pair>& props) {
  std::map<std::string, std::string> out;
  for (const auto& p : props) out[p.key()] = p.value();
  return out;
}

TEST_F(DestinationTest, StatementContextAndXaEntriesAndGtidModeHeaders) {
  ASSERT_TRUE(db_->execute("CREATE TABLE s.auto (id INT AUTO_INCREMENT PRIMARY KEY, v VARCHAR(16))").isOk());
  DestinationOptions o = options();
  o.start.gtidMode = true;
  start(o);
  const auto gtidPos = [&] {
    auto r = db_->query("SELECT @@gtid_binlog_pos");
    return r.isOk() && !r->empty() && (*r)[0][0] ? *(*r)[0][0] : std::string();
  };

  ASSERT_TRUE(db_->execute("INSERT INTO s.keep1 VALUES (1, 'a', 'x')").isOk());
  const std::string afterInsert = gtidPos();
  // Statement format: the user variable, the insert id and the rand seeds each come as a QUERY
  // entry before the statement.
  const Status statementFormat = db_->execute(
      "SET SESSION binlog_format = 'STATEMENT'; SET @v := 'hello'; INSERT INTO s.auto (v) VALUES (@v); "
      "INSERT INTO s.other VALUES (2, LEFT(RAND(), 8), 'y'); SET SESSION binlog_format = 'ROW'");
  ASSERT_TRUE(statementFormat.isOk()) << statementFormat.toString();
  ASSERT_TRUE(db_->execute("XA START 'xa1'; INSERT INTO s.keep1 VALUES (2, 'b', 'y'); XA END 'xa1'; "
                           "XA PREPARE 'xa1'; XA COMMIT 'xa1'")
                  .isOk());
  const std::string afterXa = gtidPos();
  marker("m1");
  const std::vector<eb::Entry> entries = entriesUntilMarker("m1");

  std::vector<std::string> statements;  // sql of the QUERY entries without isDdl
  const eb::Entry* firstRows = nullptr;
  const eb::Entry* xaCommit = nullptr;
  const eb::Entry* xaStart = nullptr;
  const eb::Entry* xaEnd = nullptr;
  for (const eb::Entry& e : entries) {
    if (e.entrytype() == eb::TRANSACTIONBEGIN) {
      eb::TransactionBegin b;
      ASSERT_TRUE(b.ParseFromString(e.storevalue()));
      if (propsOf(b.props()).count("XA_TYPE")) xaStart = &e;
      continue;
    }
    if (e.entrytype() == eb::TRANSACTIONEND) {
      eb::TransactionEnd t;
      ASSERT_TRUE(t.ParseFromString(e.storevalue()));
      if (propsOf(t.props()).count("XA_TYPE")) xaEnd = &e;
      continue;
    }
    eb::RowChange rc;
    ASSERT_TRUE(rc.ParseFromString(e.storevalue()));
    if (rc.eventtype() == eb::XACOMMIT) xaCommit = &e;
    if (rc.eventtype() == eb::QUERY && !rc.has_isddl()) statements.push_back(rc.sql());
    if (!firstRows && rc.rowdatas_size() > 0) firstRows = &e;
  }
  const std::vector<std::string> expected = {
      "INSERT INTO s.keep1 VALUES (1, 'a', 'x')",
      "SET INSERT_ID = 1",
      "SET @v := 'hello'",
  };
  ASSERT_GE(statements.size(), 5u) << ::testing::PrintToString(statements);
  EXPECT_EQ(std::vector<std::string>(statements.begin(), statements.begin() + 3), expected);
  EXPECT_EQ(statements[3].rfind("SET SESSION rand_seed1 = ", 0), 0u) << statements[3];
  EXPECT_NE(statements[3].find(" , rand_seed2 = "), std::string::npos) << statements[3];
  EXPECT_EQ(statements.back(), "INSERT INTO s.keep1 VALUES (2, 'b', 'y')") << "the XA transaction's row statement";

  // GTID mode: the rows carry the executed set as the primary reports it after their commit.
  ASSERT_NE(firstRows, nullptr);
  EXPECT_EQ(firstRows->header().gtid(), afterInsert);
  EXPECT_FALSE(afterInsert.empty());
  const auto headerProps = propsOf(firstRows->header().props());
  EXPECT_EQ(headerProps.count("curtGtid"), 0u) << "MySQL only";
  EXPECT_EQ(headerProps.at("rowsCount"), "1");

  // XA COMMIT: a ROWDATA of its own with the XA props; the XID is the text after the keyword.
  ASSERT_NE(xaCommit, nullptr);
  EXPECT_EQ(xaCommit->header().eventtype(), eb::XACOMMIT);
  eb::RowChange commit;
  ASSERT_TRUE(commit.ParseFromString(xaCommit->storevalue()));
  EXPECT_FALSE(commit.has_isddl());
  EXPECT_EQ(commit.sql().rfind("XA COMMIT", 0), 0u) << commit.sql();
  const auto xa = propsOf(commit.props());
  EXPECT_EQ(xa.at("XA_TYPE"), "XA COMMIT");
  EXPECT_EQ(xa.at("XA_XID"), commit.sql().substr(std::string("XA COMMIT").size()));
  EXPECT_EQ(xaCommit->header().gtid(), afterXa);
  // MariaDB opens the prepared part with a GTID event (no XA START query, so no begin, as with
  // Canal) and closes it with an XA END query: a TRANSACTIONEND with the XA props.
  EXPECT_EQ(xaStart, nullptr);
  ASSERT_NE(xaEnd, nullptr);
  eb::TransactionEnd t;
  ASSERT_TRUE(t.ParseFromString(xaEnd->storevalue()));
  EXPECT_EQ(t.transactionid(), "0");
  EXPECT_EQ(propsOf(t.props()).at("XA_TYPE"), "XA END");
  EXPECT_EQ(propsOf(t.props()).at("XA_XID"), " X'786131',X'',1");
}

// MariaDB's JSON is a LONGTEXT with a json_valid check: Canal knows the column as `json` from its
// definition and, its type name not being a TEXT, sends the bytes as a BLOB (ISO-8859-1). Both
// where the definition comes from the primary (a table made before the start) and where it comes
// from the DDL in the stream, with NO_LOG and with FULL row metadata; columns rendered by their
// own charset give the text.
struct JsonColumn {
  std::string mysqlType;
  int sqlType = 0;
  std::string value;
};

std::map<std::string, JsonColumn> jsonColumnsByTable(const std::vector<eb::Entry>& entries) {
  std::map<std::string, JsonColumn> out;  // "table.column"
  for (const eb::Entry& e : entries) {
    if (e.entrytype() != eb::ROWDATA) continue;
    eb::RowChange rc;
    EXPECT_TRUE(rc.ParseFromString(e.storevalue()));
    for (const auto& row : rc.rowdatas()) {
      for (const auto& c : row.aftercolumns()) {
        if (c.name() != "id") out[e.header().tablename() + "." + c.name()] = {c.mysqltype(), c.sqltype(), c.value()};
      }
    }
  }
  return out;
}

TEST_F(DestinationTest, AMariaDbJsonColumnIsABlobAsInCanalUnlessColumnsRenderByTheirCharset) {
  for (const bool fullMetadata : {false, true}) {
    for (const bool ownCharset : {false, true}) {
      SCOPED_TRACE(std::string(fullMetadata ? "FULL" : "NO_LOG") + (ownCharset ? ", own charset" : ""));
      const std::string db = std::string("j") + (fullMetadata ? "f" : "n") + (ownCharset ? "c" : "");
      ASSERT_TRUE(db_->execute(std::string("SET GLOBAL binlog_row_metadata = ") + (fullMetadata ? "FULL" : "NO_LOG")).isOk());
      ASSERT_TRUE(db_->execute("CREATE DATABASE " + db + " CHARACTER SET utf8mb4").isOk());
      ASSERT_TRUE(db_->execute("CREATE TABLE " + db + ".early (id INT PRIMARY KEY, doc JSON, txt LONGTEXT)").isOk());
      DestinationOptions o = options();
      o.pump.render.convertColumnCharset = ownCharset;
      start(o);
      ASSERT_TRUE(db_->execute("CREATE TABLE " + db + ".late (id INT PRIMARY KEY, doc JSON, txt LONGTEXT)").isOk());
      for (const char* t : {".early", ".late"}) {
        ASSERT_TRUE(db_->execute("INSERT INTO " + db + t +
                                 " VALUES (1, '{\"k\": \"\xc3\xa9\"}', '\xc3\xa9')").isOk());
      }
      marker("m" + db);
      const auto columns = jsonColumnsByTable(entriesUntilMarker("m" + db));
      for (const char* t : {"early", "late"}) {
        SCOPED_TRACE(t);
        ASSERT_EQ(columns.count(std::string(t) + ".doc"), 1u);
        const JsonColumn& doc = columns.at(std::string(t) + ".doc");
        const JsonColumn& txt = columns.at(std::string(t) + ".txt");
        EXPECT_EQ(doc.mysqlType, "json");
        EXPECT_EQ(doc.sqlType, ownCharset ? 2005 : 2004);
        // The UTF-8 bytes of "é", each as an ISO-8859-1 character: "Ã©".
        EXPECT_EQ(doc.value, ownCharset ? "{\"k\": \"\xc3\xa9\"}" : "{\"k\": \"\xc3\x83\xc2\xa9\"}");
        EXPECT_EQ(txt.mysqlType, "longtext");
        EXPECT_EQ(txt.sqlType, 2005);
        EXPECT_EQ(txt.value, "\xc3\xa9");
      }
      EXPECT_TRUE(d_->streamError().isOk()) << d_->streamError().toString();
      d_->stop();
      d_.reset();
    }
  }
}

}  // namespace
}  // namespace canal::instance

namespace canal::instance {
namespace {

std::uint64_t sequenceOf(const eb::Entry& e) {
  for (const auto& p : e.header().props()) {
    if (p.key() == "sequence") return std::stoull(p.value());
  }
  return 0;
}

// RESET MASTER on the server read: noticed within seconds, named in the stats (and /status), and
// the stream follows the new binlog from its start; the sequence keeps growing across it and
// across a restart with meta.dat, while positions start again.
TEST_F(DestinationTest, AResetMasterIsFollowedAndTheSequenceGrowsAcrossItAndARestart) { resetMasterCase(true); }

TEST_F(DestinationTest, AResetMasterInTheFirstBinlogIsFollowedToo) { resetMasterCase(false); }

void DestinationTest::resetMasterCase(bool flush) {
  testing::TempDir dir("canal-reset");
  DestinationOptions o = options();
  o.binlogCheckInterval = std::chrono::milliseconds(200);
  const auto startWithMeta = [&] {
    auto created = app::makeDestination(o, std::make_unique<meta::FileMetaStore>(
                                               "example", (dir.path() / "meta.dat").string(), std::chrono::milliseconds(0)));
    ASSERT_TRUE(created.isOk()) << created.status().toString();
    d_ = std::move(*created);
    d_->start();
    ASSERT_TRUE(testing::waitUntil(std::chrono::seconds(10), [&] { return d_->following(); }));
    ASSERT_TRUE(d_->clients().subscribe(1001, "").isOk());
  };
  startWithMeta();
  ASSERT_FALSE(HasFatalFailure());
  ASSERT_TRUE(db_->execute("INSERT INTO s.keep1 VALUES (1, 'a', 'x')").isOk());
  if (flush) {
    ASSERT_TRUE(db_->execute("FLUSH BINARY LOGS").isOk());
  }
  ASSERT_TRUE(db_->execute("INSERT INTO s.keep1 VALUES (2, 'b', 'x')").isOk());
  marker("m1");
  const auto before = entriesUntilMarker("m1");
  ASSERT_FALSE(before.empty());

  ASSERT_TRUE(db_->execute("RESET MASTER").isOk());
  ASSERT_TRUE(testing::waitUntil(std::chrono::seconds(10), [&] { return !d_->stats().notices.empty(); }))
      << "the reset is noticed";
  const std::string notice = d_->stats().notices.back().what;
  EXPECT_NE(notice.find("started again"), std::string::npos) << notice;
  EXPECT_FALSE(d_->stats().reading.empty());
  ASSERT_TRUE(db_->execute("INSERT INTO s.keep1 VALUES (3, 'c', 'x')").isOk());
  marker("m2");
  const auto after = entriesUntilMarker("m2");
  std::vector<std::string> names;
  for (const auto& e : after) {
    if (e.entrytype() != eb::ROWDATA || e.header().tablename() != "keep1") continue;
    eb::RowChange rc;
    ASSERT_TRUE(rc.ParseFromString(e.storevalue()));
    for (const auto& row : rc.rowdatas()) names.push_back(row.aftercolumns(1).value());
  }
  EXPECT_EQ(names, std::vector<std::string>{"c"}) << "the change after the reset, once";

  // Every entry, across the reset, is numbered above the one before; the positions went back.
  std::uint64_t last = 0;
  for (const auto* entries : {&before, &after}) {
    for (const auto& e : *entries) {
      const std::uint64_t n = sequenceOf(e);
      EXPECT_GT(n, last) << e.header().logfilename() << ":" << e.header().logfileoffset();
      last = std::max(last, n);
    }
  }
  const auto point = [](const eb::Entry& e) { return std::make_pair(e.header().logfilename(), e.header().logfileoffset()); };
  EXPECT_LT(point(after.back()), point(before.back())) << "positions start again with the new binlog";

  // A restart (meta.dat keeps the cursor and the epoch): what comes next is numbered higher.
  d_->stop();
  d_.reset();
  startWithMeta();
  ASSERT_FALSE(HasFatalFailure());
  ASSERT_TRUE(db_->execute("INSERT INTO s.keep1 VALUES (4, 'd', 'x')").isOk());
  marker("m3");
  const auto restarted = entriesUntilMarker("m3");
  ASSERT_FALSE(restarted.empty());
  for (const auto& e : restarted) EXPECT_GT(sequenceOf(e), last);
}

}  // namespace
}  // namespace canal::instance
