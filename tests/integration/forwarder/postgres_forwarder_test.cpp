// canal-forwarder's sql sink with a real PostgreSQL target (tests/support/postgres_server.h) and
// a real MariaDB source: applied over three connections split by key, three tables (a composite key among them, kept only where a `where`
// takes its rows) kept equal, column by column with the type mapping, while a writer inserts, updates, moves keys and deletes, the forwarder
// is killed with SIGKILL five times and PostgreSQL is killed and restarted once; a trigger-kept
// log in the target shows every event applied exactly once. And every column type the decoder
// renders through to a PostgreSQL table made with the documented types.

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <random>
#include <sstream>

#include "forwarder/sql/postgres_types.h"
#include "tests/integration/forwarder/forwarder_fixture.h"
#include "tests/support/background_writer.h"
#include "tests/support/http_get.h"
#include "tests/support/postgres_server.h"

namespace canal::forwarder {
namespace {

class PostgresForwarderTest : public ForwarderTest {
 protected:
  std::string serverProperties() const override {
    return "canal.admin.user = admin\ncanal.admin.passwd = 4ACFE3202A5FF5CF467898FC58AAB1D615029441\n";  // "admin"
  }
  void SetUp() override {
    ForwarderTest::SetUp();
    if (HasFatalFailure()) return;
    auto pg = testing::PostgresServer::start();
    ASSERT_TRUE(pg.isOk()) << pg.status().toString();
    pg_ = std::move(*pg);
    target_ = std::make_unique<testing::PostgresClient>(*pg_);
  }

  std::string yaml(const std::string& mappings, const std::string& ddl = "stop", const std::string& extra = "") const {
    std::ostringstream y;
    y << "source:\n  address: " << server_->address()
      << "\n  destination: example\n  batch_size: 100\n  poll_timeout_ms: 200\n"
      << "progress_interval_ms: 1000\nretry_backoff_ms: 50\nmax_retry_backoff_ms: 400\n"
      << "sinks:\n  - type: sql\n    name: pgcopy\n    sql:\n      driver: postgresql\n      unix_socket: "
      << pg_->socketDir() << "\n      port: " << pg_->port() << "\n      user: postgres\n      database: "
      << testing::PostgresServer::kDatabase << "\n      batch_rows: 40\n      ddl: " << ddl << "\n" << extra << "      mappings:\n"
      << mappings;
    return y.str();
  }

  // Rows as text, one line each, values separated by '|'.
  static std::string text(const std::vector<std::vector<std::optional<std::string>>>& rows) {
    std::string out;
    for (const auto& row : rows) {
      for (const auto& v : row) out += v.value_or("NULL") + "|";
      out += "\n";
    }
    return out;
  }
  std::string source(const std::string& sql) {
    auto r = db_->query(sql);
    return r ? text(*r) : "error: " + r.status().toString();
  }
  std::string target(const std::string& sql) {
    auto r = target_->query(sql);
    return r ? text(*r) : "error: " + r.status().toString();
  }

  // Waits until each (source query, target query) pair gives the same rows.
  bool converges(std::chrono::seconds timeout, const std::vector<std::pair<std::string, std::string>>& pairs) {
    std::string difference;
    const bool same = testing::waitUntil(timeout, [&] {
      difference.clear();
      for (const auto& [s, t] : pairs) {
        const std::string a = source(s);
        const std::string b = target(t);
        if (a != b) difference += "differ:\n" + s + "\n" + a.substr(0, 3000) + "---\n" + t + "\n" + b.substr(0, 3000);
      }
      return difference.empty();
    }, std::chrono::milliseconds(200));
    if (!same) ADD_FAILURE() << difference;
    return same;
  }

  std::unique_ptr<testing::PostgresServer> pg_;
  std::unique_ptr<testing::PostgresClient> target_;
};

TEST_F(PostgresForwarderTest, ThreeTablesEqualTheSourceThroughForwarderKillsAndATargetRestart) {
  ASSERT_TRUE(db_->execute("CREATE TABLE s.item (id INT PRIMARY KEY, name VARCHAR(32), price DECIMAL(10,2), "
                           "created DATETIME, code VARCHAR(8), raw VARBINARY(8)) DEFAULT CHARSET=utf8mb4"));
  ASSERT_TRUE(db_->execute("CREATE TABLE s.acct (region VARCHAR(8) NOT NULL, n INT NOT NULL, balance BIGINT, "
                           "note TEXT, PRIMARY KEY (region, n)) DEFAULT CHARSET=utf8mb4"));
  ASSERT_TRUE(db_->execute("CREATE TABLE s.ev (id INT PRIMARY KEY, v INT)"));
  for (const char* ddl :
       {"CREATE SCHEMA r",
        "CREATE TABLE r.item (id integer PRIMARY KEY, name varchar(32), price numeric(10,2), created timestamp, "
        "code varchar(8), raw bytea)",
        "CREATE TABLE r.acct (region varchar(8), n integer, balance bigint, note text, PRIMARY KEY (region, n))",
        "CREATE TABLE r.ev (id integer PRIMARY KEY, v integer)",
        // Every row the sink writes into r.ev, logged: a batch applied twice would log an event twice.
        "CREATE TABLE r.ev_log (seq bigserial PRIMARY KEY, id integer, v integer)",
        "CREATE FUNCTION r.log_ev() RETURNS trigger AS $$ BEGIN INSERT INTO r.ev_log (id, v) VALUES (NEW.id, NEW.v); "
        "RETURN NEW; END $$ LANGUAGE plpgsql",
        "CREATE TRIGGER ev_logged AFTER INSERT OR UPDATE ON r.ev FOR EACH ROW EXECUTE FUNCTION r.log_ev()"}) {
    ASSERT_TRUE(target_->execute(ddl).isOk()) << ddl;
  }
  writeBinaryConfig(yaml("        - table: s.item\n          target: r.item\n"
                         "        - table: s.acct\n          target: r.acct\n          where: \"balance < 5000\"\n"
                         "        - table: s.ev\n          target: r.ev\n",
                         "stop", "      parallel: 3\n"));
  ASSERT_TRUE(startBinary());
  std::atomic<int> nextEvent{1};
  const std::vector<std::string> regions = {"eu", "us", "ap", "\xc3\xa9t\xc3\xa9"};
  testing::BackgroundWriter writer(*db_, 17, [&](std::mt19937& random) {
    const int id = 1 + static_cast<int>(random() % 60);
    const int op = static_cast<int>(random() % 18);
    const std::string code = std::to_string(random() % 6);
    const std::string region = regions[random() % regions.size()];
    if (op < 3) {
      return "INSERT INTO s.item VALUES (" + std::to_string(id) + ", 'n''" + code + "', 1.50, '2024-05-06 07:08:09', '" +
             code + "', X'00FF" + code + "0') ON DUPLICATE KEY UPDATE price = price + 1, name = CONCAT('n', price)";
    }
    if (op < 5) {
      return "UPDATE s.item SET price = price + 0.25, code = " + (op == 4 ? std::string("NULL") : "'" + code + "'") +
             ", created = NULL WHERE id BETWEEN " + std::to_string(id) + " AND " + std::to_string(id + 5);
    }
    if (op < 6) {
      return "UPDATE s.item SET id = " + std::to_string(id + 60 * (1 + random() % 2)) + " WHERE id = " + std::to_string(id);
    }
    if (op < 7) return "DELETE FROM s.item WHERE id = " + std::to_string(id) + " OR id = " + std::to_string(id + 60);
    if (op < 9) {
      // Several rows in one statement: one event, one transaction.
      std::string sql = "INSERT INTO s.acct VALUES ";
      for (int k = 0; k < 4; ++k) {
        sql += (k ? ", ('" : "('") + region + "', " + std::to_string(id + k) + ", " + std::to_string(random() % 1000) +
               ", 'x''" + code + "')";
      }
      return sql + " ON DUPLICATE KEY UPDATE balance = balance + 1";
    }
    if (op < 11) return "UPDATE s.acct SET balance = balance * 2, note = NULL WHERE n % 7 = " + std::to_string(id % 7);
    if (op < 12) {
      return "UPDATE IGNORE s.acct SET region = '" + region + "', n = n + 100 WHERE n = " + std::to_string(id) + " LIMIT 1";
    }
    if (op < 13) return "DELETE FROM s.acct WHERE n = " + std::to_string(id) + " AND region = '" + region + "'";
    const int e = nextEvent++;
    return "INSERT INTO s.ev VALUES (" + std::to_string(e) + ", " + std::to_string(random() % 1000) + ")";
  });
  ASSERT_TRUE(killAndRestartBinary(2));
  pg_->kill();
  ASSERT_TRUE(pg_->restart().isOk()) << pg_->log();
  ASSERT_TRUE(killAndRestartBinary(3));
  ASSERT_TRUE(testing::waitUntil(std::chrono::seconds(30), [&] { return nextEvent.load() > 30; }));
  writer.stop();
  EXPECT_TRUE(converges(
      std::chrono::seconds(90),
      {{"SELECT id, name, price, created, code, HEX(raw) FROM s.item ORDER BY id",
        "SELECT id, name, price, to_char(created, 'YYYY-MM-DD HH24:MI:SS'), code, upper(encode(raw, 'hex')) FROM r.item "
        "ORDER BY id"},
       {"SELECT region, n, balance, note FROM s.acct WHERE balance < 5000 ORDER BY region COLLATE utf8mb4_bin, n",
        "SELECT region, n, balance, note FROM r.acct ORDER BY region COLLATE \"C\", n"},
       {"SELECT id, v FROM s.ev ORDER BY id", "SELECT id, v FROM r.ev ORDER BY id"},
       {"SELECT COUNT(*) FROM s.ev", "SELECT COUNT(*) FROM r.ev_log"}}))
      << binaryLogs().substr(0, 20000);
  EXPECT_EQ(target("SELECT COUNT(*) FROM (SELECT id FROM r.ev_log GROUP BY id HAVING COUNT(*) > 1) AS twice"), "0|\n")
      << "an event applied twice";
  // Three connections applied the rows, split by key, each with its position.
  EXPECT_EQ(target("SELECT sink, version > 0 FROM canal_sink_positions ORDER BY sink"),
            "pgcopy|t|\npgcopy#1|t|\npgcopy#2|t|\n");
  std::printf("[ figures ] sql (PostgreSQL): 5 kill -9 runs of the forwarder, 1 of PostgreSQL, %d statements, %s events\n",
              writer.statements(), target("SELECT COUNT(*) FROM r.ev_log").c_str());
  EXPECT_EQ(binary_.stop(), 0) << binary_.logTail();
}

TEST_F(PostgresForwarderTest, EveryColumnTypeArrivesInATableOfTheDocumentedTypes) {
  // Source columns, with the expression each side prints a value with for the comparison.
  struct Column {
    const char* name;
    const char* type;
    const char* mariadb;   // %s: the column
    const char* postgres;
  };
  const std::vector<Column> columns = {
      {"ti", "TINYINT", "%s", "%s"},                        {"tu", "TINYINT UNSIGNED", "%s", "%s"},
      {"si", "SMALLINT UNSIGNED", "%s", "%s"},              {"mi", "MEDIUMINT", "%s", "%s"},
      {"i", "INT", "%s", "%s"},                             {"iu", "INT UNSIGNED", "%s", "%s"},
      {"bi", "BIGINT", "%s", "%s"},                         {"bu", "BIGINT UNSIGNED", "%s", "%s"},
      {"de", "DECIMAL(20,6)", "%s", "%s"},                  {"fl", "FLOAT", "%s", "%s"},
      {"db", "DOUBLE", "%s", "%s"},                         {"b1", "BIT(1)", "%s+0", "%s::int"},
      {"b9", "BIT(9)", "%s+0", "%s"},                       {"da", "DATE", "%s", "%s"},
      {"dt", "DATETIME(6)", "%s", "to_char(%s, 'YYYY-MM-DD HH24:MI:SS.US')"},                    {"tm", "TIME", "%s", "%s"},
      {"yr", "YEAR", "%s", "%s"},                           {"ch", "CHAR(4)", "%s", "rtrim(%s)"},
      {"vc", "VARCHAR(20)", "%s", "%s"},                    {"tx", "TEXT", "%s", "%s"},
      {"en", "ENUM('a','b','c')", "%s", "%s"},              {"st", "SET('x','y','z')", "%s", "%s"},
      {"vb", "VARBINARY(8)", "HEX(%s)", "upper(encode(%s, 'hex'))"},
      {"bl", "BLOB", "HEX(%s)", "upper(encode(%s, 'hex'))"},
      {"js", "JSON", "%s", "%s::text"},                     {"uu", "UUID", "%s", "%s"},
      {"i4", "INET4", "%s", "host(%s)"},                    {"i6", "INET6", "%s", "host(%s)"},
      {"pt", "POINT", "HEX(%s)", "upper(encode(%s, 'hex'))"},
  };
  std::string create = "CREATE TABLE s.types (id INT PRIMARY KEY";
  for (const auto& c : columns) create += std::string(", ") + c.name + " " + c.type;
  ASSERT_TRUE(db_->execute(create + ") DEFAULT CHARSET=utf8mb4"));
  // The target made from the source's COLUMN_TYPEs through the documented mapping.
  auto types = db_->query("SELECT COLUMN_NAME, COLUMN_TYPE FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = 's' "
                          "AND TABLE_NAME = 'types' ORDER BY ORDINAL_POSITION");
  ASSERT_TRUE(types.isOk());
  std::string target = "CREATE TABLE types (";
  for (const auto& row : *types) {
    auto pgType = postgresType(*row[1]);
    ASSERT_TRUE(pgType.isOk()) << *row[1] << ": " << pgType.status().message();
    target += (target.back() == '(' ? "" : ", ") + *row[0] + " " + *pgType + (*row[0] == "id" ? " PRIMARY KEY" : "");
  }
  ASSERT_TRUE(target_->execute(target + ")").isOk()) << target;
  writeBinaryConfig(yaml("        - table: s.types\n          target: types\n"));
  ASSERT_TRUE(startBinary());
  const auto inserted = db_->query(
      "INSERT INTO s.types VALUES "
      "(1, -128, 255, 65535, -8388608, -2147483648, 4294967295, -9223372036854775808, 18446744073709551615, "
      "'-12345678901234.123456', 1.5, -0.0025, b'1', b'101010101', '2024-02-29', '2024-02-29 23:59:58.123456', "
      "'-838:59:59', 2024, 'ab', 'it''s \xc3\xa9t\xc3\xa9 \xf0\x9f\x98\x80', 'long text', 'b', 'x,z', X'00FF10', "
      "X'DEADBEEF00', '{\"a\": 1, \"b\": [1, 2]}', '123e4567-e89b-12d3-a456-426614174000', '192.168.0.1', "
      "'2001:db8::1', POINT(1.5, -2)),"
      "(2, 127, 0, 0, 8388607, 2147483647, 0, 9223372036854775807, 0, '0.000001', -3.5, 123456.75, b'0', b'0', "
      "'1000-01-01', '1000-01-01 00:00:00', '838:59:59', 1901, '', '', 'tab\\there\\nnew \\\\ line', 'c', '', X'', X'', '[]', "
      "'00000000-0000-0000-0000-000000000000', '0.0.0.0', '::', POINT(0, 0)),"
      "(3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, "
      "NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)");
  ASSERT_TRUE(inserted.isOk()) << inserted.status().toString();
  ASSERT_TRUE(db_->execute("UPDATE s.types SET vc = 'changed', tm = '12:34:56' WHERE id = 1"));
  // 21 rows in one statement: an upsert large enough to be copied in (COPY's text format).
  std::string copies = "INSERT INTO s.types SELECT id + 100 * k";
  for (const auto& c : columns) copies += std::string(", ") + c.name;
  ASSERT_TRUE(db_->execute(copies + " FROM s.types, (SELECT 1 k UNION ALL SELECT 2 UNION ALL SELECT 3 UNION ALL SELECT 4 "
                                    "UNION ALL SELECT 5 UNION ALL SELECT 6 UNION ALL SELECT 7) seven"));
  std::string mariadb = "SELECT id";
  std::string postgres = "SELECT id";
  const auto expression = [](const char* format, const char* name) {
    std::string e = format;
    e.replace(e.find("%s"), 2, name);
    return e;
  };
  for (const auto& c : columns) {
    mariadb += ", " + expression(c.mariadb, c.name);
    postgres += ", " + expression(c.postgres, c.name);
  }
  EXPECT_TRUE(converges(std::chrono::seconds(60), {{mariadb + " FROM s.types ORDER BY id", postgres + " FROM types ORDER BY id"}}))
      << binaryLogs().substr(0, 20000);
  EXPECT_EQ(binary_.stop(), 0) << binary_.logTail();
}

// A row the target refuses (here a CHECK constraint the source does not have) goes to the
// dead-letter table with the statement and PostgreSQL's error, in the batch's transaction; the
// batch's other rows are applied and the forwarder goes on.
TEST_F(PostgresForwarderTest, ARowTheTargetRefusesGoesToTheDeadLetterTableAndTheRestIsApplied) {
  ASSERT_TRUE(db_->execute("CREATE TABLE s.q (id INT PRIMARY KEY, price INT) DEFAULT CHARSET=utf8mb4"));
  ASSERT_TRUE(target_->execute("CREATE TABLE q (id integer PRIMARY KEY, price integer CHECK (price >= 0))").isOk());
  writeBinaryConfig(yaml("        - table: s.q\n          target: q\n", "stop", "      dead_letter_table: canal_dead_letters\n"));
  ASSERT_TRUE(startBinary());
  ASSERT_TRUE(db_->execute("INSERT INTO s.q VALUES (1, 10), (2, -5), (3, 30)"));
  ASSERT_TRUE(db_->execute("UPDATE s.q SET price = -1 WHERE id = 3"));
  ASSERT_TRUE(db_->execute("INSERT INTO s.q VALUES (4, 40)"));
  ASSERT_TRUE(testing::waitUntil(std::chrono::seconds(30), [&] { return target("SELECT id, price FROM q ORDER BY id") == "1|10|\n3|30|\n4|40|\n"; }))
      << target("SELECT id, price FROM q ORDER BY id") << binary_.logTail();
  EXPECT_EQ(target("SELECT sink, source LIKE 's.q at %', statement LIKE '%(''2'', ''-5'')%', error LIKE '%check constraint%' "
                   "FROM canal_dead_letters ORDER BY id"),
            "pgcopy|t|t|t|\npgcopy|t|f|t|\n");
  EXPECT_TRUE(binary_.running()) << binary_.logTail();
  EXPECT_NE(binary_.logTail(100000).find("refused, kept in canal_dead_letters"), std::string::npos);
  EXPECT_EQ(binary_.stop(), 0) << binary_.logTail();
}

// `canal-forwarder load --create`: rows the binlog never carried (written with sql_log_bin = 0)
// reach a copy the load creates, through a snapshot, while a writer changes the table; the load
// stops once caught up, and the forwarder started after it keeps the copy equal.
TEST_F(PostgresForwarderTest, ALoadCreatesTheCopyAndFillsItUnderAWriterWithoutAGap) {
  ASSERT_TRUE(db_->execute("CREATE TABLE s.big (id INT PRIMARY KEY, name VARCHAR(20), amount DECIMAL(10,2)) "
                           "DEFAULT CHARSET=utf8mb4"));
  std::string rows = "SET sql_log_bin = 0; INSERT INTO s.big VALUES ";
  for (int i = 1; i <= 20000; ++i) rows += (i > 1 ? ",(" : "(") + std::to_string(i) + ",'n" + std::to_string(i) + "'," + std::to_string(i % 100) + ".25)";
  ASSERT_TRUE(db_->execute(rows + "; SET sql_log_bin = 1"));
  writeBinaryConfig(yaml("        - table: s.big\n          target: big\n", "stop",
                         "      load:\n        snapshot_url: http://127.0.0.1:" + std::to_string(server_->metricsPort()) +
                             "\n        snapshot_user: admin\n        snapshot_password: admin\n        chunk_size: 1000\n"));
  testing::BackgroundWriter writer(*db_, 23, [](std::mt19937& random) {
    const std::string id = std::to_string(1 + random() % 21000);
    switch (random() % 4) {
      case 0: return "DELETE FROM s.big WHERE id = " + id;
      case 1: return "UPDATE s.big SET id = id + 30000 WHERE id = " + id;
      case 2: return "INSERT INTO s.big VALUES (" + id + ", 'w', 1) ON DUPLICATE KEY UPDATE amount = amount + 1";
      default: return "UPDATE s.big SET amount = amount + 1, name = 'u' WHERE id = " + id;
    }
  });
  ASSERT_TRUE(startLoadBinary("s.big", true));
  EXPECT_EQ(binary_.wait(std::chrono::seconds(120)), 0) << binaryLogs();
  EXPECT_NE(lastBinaryLog().find("load of s.big done"), std::string::npos) << lastBinaryLog();
  writer.stop();
  ASSERT_TRUE(startBinary());
  EXPECT_TRUE(converges(std::chrono::seconds(60), {{"SELECT id, name, amount FROM s.big ORDER BY id",
                                                    "SELECT id, name, amount FROM big ORDER BY id"}}))
      << binaryLogs().substr(0, 20000);
  EXPECT_GT(writer.statements(), 20);
  EXPECT_EQ(binary_.stop(), 0) << binary_.logTail();
}

// `load --create` of a table with no rows yet: the copy is made from the table's definition on
// the primary, which canal-server gives on its HTTP port (GET /destinations/<d>/tables/<t>),
// and the forwarder started after it fills it.
TEST_F(PostgresForwarderTest, ALoadCreatesTheCopyOfAnEmptyTableFromItsDefinition) {
  ASSERT_TRUE(db_->execute("CREATE TABLE s.empty (id INT NOT NULL, code VARCHAR(8), amount DECIMAL(10,2), "
                           "seen DATETIME(3), PRIMARY KEY (id)) DEFAULT CHARSET=utf8mb4"));
  const std::string tables = "http://127.0.0.1:" + std::to_string(server_->metricsPort()) + "/destinations/example/tables/";
  const auto definition = testing::httpRequest("GET", tables + "s.empty", "", "admin", "admin");
  ASSERT_EQ(definition.status, 200) << definition.body;
  EXPECT_EQ(nlohmann::json::parse(definition.body)["columns"][0],
            nlohmann::json({{"name", "id"}, {"mysqlType", "int(11)"}, {"isKey", true}}))
      << definition.body;
  EXPECT_EQ(testing::httpRequest("GET", tables + "s.missing", "", "admin", "admin").status, 404);
  EXPECT_EQ(testing::httpRequest("GET", tables + "nodot", "", "admin", "admin").status, 400);
  EXPECT_EQ(testing::httpRequest("GET", tables + "s.empty", "", "admin", "wrong").status, 401);
  writeBinaryConfig(yaml("        - table: s.empty\n          target: empty_copy\n", "stop",
                         "      load:\n        snapshot_url: http://127.0.0.1:" + std::to_string(server_->metricsPort()) +
                             "\n        snapshot_password: admin\n"));
  ASSERT_TRUE(startLoadBinary("s.empty", true));
  EXPECT_EQ(binary_.wait(std::chrono::seconds(60)), 0) << binaryLogs();
  EXPECT_EQ(target("SELECT column_name, data_type, is_nullable FROM information_schema.columns WHERE table_name = "
                   "'empty_copy' ORDER BY ordinal_position"),
            "id|integer|NO|\ncode|character varying|YES|\namount|numeric|YES|\nseen|timestamp without time zone|YES|\n");
  ASSERT_TRUE(startBinary());
  ASSERT_TRUE(db_->execute("INSERT INTO s.empty VALUES (1, 'a', 2.50, '2024-01-02 03:04:05.678')"));
  EXPECT_TRUE(converges(std::chrono::seconds(30), {{"SELECT id, code, amount, seen FROM s.empty",
                                                    "SELECT id, code, amount, to_char(seen, 'YYYY-MM-DD HH24:MI:SS.MS') "
                                                    "FROM empty_copy"}}))
      << binaryLogs();
  EXPECT_EQ(binary_.stop(), 0) << binary_.logTail();
}

// The same load asked of a running forwarder over its admin endpoint: the snapshot's rows go
// through it while it keeps following the stream; GET says done once they are applied.
TEST_F(PostgresForwarderTest, ARunningForwarderLoadsATableOnRequestOverItsAdminEndpoint) {
  ASSERT_TRUE(db_->execute("CREATE TABLE s.big (id INT PRIMARY KEY, name VARCHAR(20)) DEFAULT CHARSET=utf8mb4"));
  ASSERT_TRUE(target_->execute("CREATE TABLE big (id integer PRIMARY KEY, name varchar(20))").isOk());
  std::string rows = "SET sql_log_bin = 0; INSERT INTO s.big VALUES ";
  for (int i = 1; i <= 5000; ++i) rows += (i > 1 ? ",(" : "(") + std::to_string(i) + ",'n" + std::to_string(i) + "')";
  ASSERT_TRUE(db_->execute(rows + "; SET sql_log_bin = 1"));
  const std::string admin = "http://127.0.0.1:" + std::to_string(testing::freePort());
  writeBinaryConfig("admin: {listen: '" + admin.substr(7) + "', password: secret}\n" +
                    yaml("        - table: s.big\n          target: big\n", "stop",
                         "      load:\n        snapshot_url: http://127.0.0.1:" + std::to_string(server_->metricsPort()) +
                             "\n        snapshot_password: admin\n"));
  ASSERT_TRUE(startBinary());
  const auto call = [&](const std::string& method, const std::string& path) {
    return testing::httpRequest(method, admin + path, "", "admin", "secret");
  };
  ASSERT_TRUE(testing::waitUntil(std::chrono::seconds(30), [&] { return call("GET", "/status").status == 200; }))
      << binaryLogs();
  EXPECT_EQ(call("POST", "/load/s.other").status, 404) << "no sql sink copies it";
  testing::BackgroundWriter writer(*db_, 29, [](std::mt19937& random) {
    const std::string id = std::to_string(1 + random() % 5500);
    return random() % 2 ? "DELETE FROM s.big WHERE id = " + id
                        : "INSERT INTO s.big VALUES (" + id + ", 'w') ON DUPLICATE KEY UPDATE name = 'u'";
  });
  const auto started = call("POST", "/load/s.big");
  ASSERT_EQ(started.status, 202) << started.body;
  const auto state = [&] {
    const auto r = call("GET", "/load/s.big");
    const auto j = nlohmann::json::parse(r.body, nullptr, false);
    return j.is_object() ? j.value("state", "") : "";
  };
  ASSERT_TRUE(testing::waitUntil(std::chrono::seconds(120), [&] { return state() != "running"; })) << binaryLogs();
  EXPECT_EQ(state(), "done") << call("GET", "/load/s.big").body;
  writer.stop();
  EXPECT_TRUE(converges(std::chrono::seconds(60), {{"SELECT id, name FROM s.big ORDER BY id",
                                                    "SELECT id, name FROM big ORDER BY id"}}))
      << binaryLogs().substr(0, 20000);
  EXPECT_TRUE(binary_.running());
  EXPECT_EQ(binary_.stop(), 0) << binary_.logTail();
}

// With ddl: mirror, ALTERs of a mapped table's columns and a TRUNCATE are repeated on the copy
// in their place among the rows, so the copy stays equal to the table through them.
TEST_F(PostgresForwarderTest, ColumnChangesAndTruncateAreMirroredInTheirPlaceAmongTheRows) {
  ASSERT_TRUE(db_->execute("CREATE TABLE s.p (id INT PRIMARY KEY, a VARCHAR(10), gone INT) DEFAULT CHARSET=utf8mb4"));
  ASSERT_TRUE(target_->execute("CREATE TABLE p (id integer PRIMARY KEY, a varchar(10), gone integer)").isOk());
  writeBinaryConfig(yaml("        - table: s.p\n          target: p\n", "mirror"));
  ASSERT_TRUE(startBinary());
  for (const char* sql :
       {"INSERT INTO s.p VALUES (1, 'a', 1), (2, 'b', 2)",
        "ALTER TABLE s.p ADD COLUMN qty INT UNSIGNED NOT NULL DEFAULT 7 AFTER id, ADD INDEX (a)",
        "INSERT INTO s.p (id, a, qty) VALUES (3, 'c', 4294967295)", "UPDATE s.p SET qty = qty + 1 WHERE id = 1",
        "ALTER TABLE s.p DROP COLUMN gone", "ALTER TABLE s.p RENAME COLUMN a TO label",
        "ALTER TABLE s.p CHANGE COLUMN label title VARCHAR(40) NULL", "INSERT INTO s.p VALUES (4, 9, 'a much longer title')",
        "TRUNCATE TABLE s.p", "INSERT INTO s.p VALUES (5, 1, 'after')"}) {
    ASSERT_TRUE(db_->execute(sql)) << sql;
  }
  EXPECT_TRUE(converges(std::chrono::seconds(60), {{"SELECT id, qty, title FROM s.p ORDER BY id",
                                                    "SELECT id, qty, title FROM p ORDER BY id"}}))
      << binaryLogs().substr(0, 20000);
  // ADD COLUMN goes last (PostgreSQL has no AFTER); INT UNSIGNED is a bigint.
  EXPECT_EQ(target("SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 'p' ORDER BY "
                   "ordinal_position"),
            "id|integer|\ntitle|character varying|\nqty|bigint|\n");
  EXPECT_EQ(binary_.stop(), 0) << binary_.logTail();
}

}  // namespace
}  // namespace canal::forwarder
