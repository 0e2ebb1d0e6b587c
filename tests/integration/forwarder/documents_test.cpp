// Documents built from three tables (orders with their customer's name and their items as a
// nested array) against a real MariaDB, canal-server and the Elasticsearch test server: the
// first sync creates index and alias; while a writer inserts, updates (join keys included) and
// deletes across the three tables, the running forwarder keeps the documents current and a
// reindex is killed with -9 mid-load, then killed in the swap, then finished by the next run.
// The alias is never seen on an incomplete index, and at the end the documents behind it equal
// the join computed in SQL.

#include <nlohmann/json.hpp>

#include <random>
#include <variant>

#include "forwarder/forwarder_config.h"
#include "forwarder/reindex.h"
#include "forwarder_fixture.h"
#include "tests/support/elasticsearch_server.h"

namespace canal::forwarder {
namespace {

using namespace std::chrono_literals;
using Json = nlohmann::json;

constexpr int kCustomers = 100;
constexpr int kOrders = 1500;  // never deleted: every index on the alias holds at least these

class DocumentsTest : public ReindexFixture {
 protected:
  void SetUp() override {
    ReindexFixture::SetUp();
    if (HasFatalFailure()) return;
    ASSERT_TRUE(es_.start());
    ASSERT_TRUE(db_->execute("CREATE TABLE s.customers (id INT PRIMARY KEY, name VARCHAR(40))"));
    ASSERT_TRUE(db_->execute("CREATE TABLE s.orders (id INT PRIMARY KEY, customer_id INT, status VARCHAR(10), "
                             "total DECIMAL(10,2), KEY (customer_id))"));
    ASSERT_TRUE(db_->execute("CREATE TABLE s.order_items (id INT PRIMARY KEY, order_id INT, sku VARCHAR(20), "
                             "qty INT, KEY (order_id))"));
    std::string customers = "INSERT INTO s.customers VALUES ";
    for (int i = 1; i <= kCustomers; ++i) customers += (i > 1 ? "," : "") + row({i, "'c" + std::to_string(i) + "'"});
    ASSERT_TRUE(db_->execute(customers));
    std::mt19937 random(11);
    std::string orders = "INSERT INTO s.orders VALUES ";
    std::string items = "INSERT INTO s.order_items VALUES ";
    for (int i = 1; i <= kOrders; ++i) {
      const std::string customer = random() % 10 == 0 ? "NULL" : std::to_string(1 + random() % kCustomers);
      orders += (i > 1 ? "," : "") + row({i, customer, "'new'", std::to_string(random() % 10000) + ".25"});
      for (unsigned k = random() % 4; k > 0; --k) {
        if (nextItem_ > 1) items += ",";
        const int item = nextItem_++;
        items += row({item, std::to_string(i), "'s" + std::to_string(random() % 50) + "'", std::to_string(1 + random() % 9)});
      }
    }
    for (const std::string* sql : {&orders, &items}) {
      const Status s = db_->execute(*sql);
      ASSERT_TRUE(s) << s.toString();
    }
    writeYaml(0);
  }

  static std::string row(std::initializer_list<std::variant<int, std::string>> values) {
    std::string out = "(";
    for (const auto& v : values) {
      if (out.size() > 1) out += ",";
      out += std::holds_alternative<int>(v) ? std::to_string(std::get<int>(v)) : std::get<std::string>(v);
    }
    return out + ")";
  }

  void writeYaml(int rowsPerSecond) {
    writeBinaryConfig("source: {address: '" + server_->address() + "', batch_size: 200, poll_timeout_ms: 200}\n"
                      "progress_interval_ms: 1000\n"
                      "sinks:\n"
                      "  - type: elasticsearch\n"
                      "    elasticsearch:\n"
                      "      url: " + es_.url() + "\n"
                      "      database: {socket: " + db_->socketPath() + ", user: root}\n"
                      "      documents:\n"
                      "        - table: s.orders\n"
                      "          index: orders\n"
                      "          joins:\n"
                      "            - {table: s.customers, on: {customer_id: id}, include: [name], rename: {name: customer_name}}\n"
                      "            - {table: s.order_items, on: {id: order_id}, as: items, many: true, exclude: [order_id]}\n"
                      "      reindex:\n"
                      "        destination: reindex\n"
                      "        snapshot_url: " + snapshotUrl() + "\n"
                      "        snapshot_password: admin\n"
                      "        chunk_size: 300\n"
                      "        rows_per_second: " + std::to_string(rowsPerSecond) + "\n"
                      "        state_dir: " + (dir_->path() / "state").string() + "\n");
  }
  ForwarderConfig config() {
    auto c = loadForwarderConfig((dir_->path() / "forwarder.yml").string());
    EXPECT_TRUE(c.isOk()) << c.status().toString();
    ForwarderConfig out = c.isOk() ? *c : ForwarderConfig{};
    out.retryBackoff = 50ms;
    out.maxRetryBackoff = 400ms;
    return out;
  }

  // The documents as SQL computes them: id -> document.
  std::map<std::string, Json> sqlJoin() {
    std::map<std::string, Json> out;
    auto orders = db_->query(
        "SELECT o.id, JSON_OBJECT('id', o.id, 'customer_id', o.customer_id, 'status', o.status, 'total', o.total, "
        "'customer_name', c.name) FROM s.orders o LEFT JOIN s.customers c ON c.id = o.customer_id");
    auto items = db_->query(
        "SELECT order_id, JSON_ARRAYAGG(JSON_OBJECT('id', id, 'sku', sku, 'qty', qty) ORDER BY id) "
        "FROM s.order_items WHERE order_id IS NOT NULL GROUP BY order_id");
    EXPECT_TRUE(orders.isOk() && items.isOk());
    if (!orders.isOk() || !items.isOk()) return out;
    for (const auto& r : *orders) {
      Json doc = Json::parse(*r[1]);
      doc["items"] = Json::array();
      out[*r[0]] = std::move(doc);
    }
    for (const auto& r : *items) {
      if (const auto it = out.find(*r[0]); it != out.end()) it->second["items"] = Json::parse(*r[1]);
    }
    return out;
  }
  std::map<std::string, Json> documents(const std::string& index) const {
    std::map<std::string, Json> out;
    for (const auto& [id, d] : es_.documents(index)) out[id] = Json::parse(d.source);
    return out;
  }
  // The first differences between the SQL join and the documents behind the alias.
  std::string differences(const std::map<std::string, Json>& expected, const std::map<std::string, Json>& docs) {
    std::string out;
    int shown = 0;
    for (const auto& [id, doc] : expected) {
      const auto it = docs.find(id);
      if ((it == docs.end() || it->second != doc) && shown++ < 5) {
        out += id + ": sql " + doc.dump() + "\n    index " + (it == docs.end() ? "missing" : it->second.dump()) + "\n";
      }
    }
    for (const auto& [id, doc] : docs) {
      if (!expected.count(id) && shown++ < 10) out += id + ": in the index only: " + doc.dump() + "\n";
    }
    return out + std::to_string(expected.size()) + " rows, " + std::to_string(docs.size()) + " documents\n";
  }

  void exec(const std::string& sql) {
    const Status s = db_->execute(sql);
    if (!s && failed_++ < 3) ADD_FAILURE() << s.toString();
  }

  // Random inserts, updates (join keys too) and deletes across the three tables.
  void write(std::mt19937& random) {
    const auto pick = [&](int n) { return std::to_string(1 + random() % n); };
    const int orders = nextOrder_ - 1;
    switch (random() % 12) {
      case 0: {  // a new order with items
        const int id = nextOrder_++;
        exec("INSERT INTO s.orders VALUES " + row({id, pick(kCustomers), "'new'", "1.50"}));
        exec("INSERT INTO s.order_items VALUES " + row({nextItem_++, std::to_string(id), "'n'", "1"}));
        break;
      }
      case 1:
        exec("UPDATE s.orders SET status = 'paid', total = total + 1 WHERE id = " + pick(orders));
        break;
      case 2:  // the order's customer changes (the one-to-one join's key)
        exec("UPDATE s.orders SET customer_id = " + pick(kCustomers + 10) + " WHERE id = " + pick(orders));
        break;
      case 3:
        exec("INSERT INTO s.order_items VALUES " + row({nextItem_++, pick(orders), "'x'", "2"}));
        break;
      case 4:
        exec("UPDATE s.order_items SET qty = qty + 1 WHERE id = " + pick(nextItem_ - 1));
        break;
      case 5:  // an item moves to another order (the nested join's key)
        exec("UPDATE s.order_items SET order_id = " + pick(orders) + " WHERE id = " + pick(nextItem_ - 1));
        break;
      case 6:
        exec("DELETE FROM s.order_items WHERE id = " + pick(nextItem_ - 1));
        break;
      case 7:
        exec("UPDATE s.customers SET name = CONCAT(name, '+') WHERE id = " + pick(kCustomers + 10));
        break;
      case 8:  // a customer comes or goes (ids above kCustomers)
        if (random() % 2) {
          exec("INSERT IGNORE INTO s.customers VALUES (" + std::to_string(kCustomers + 1 + random() % 10) +
                             ", 'late')");
        } else {
          exec("DELETE FROM s.customers WHERE id = " + std::to_string(kCustomers + 1 + random() % 10));
        }
        break;
      case 9:  // a customer's key changes: its orders lose the name, another id gains it
        exec("UPDATE IGNORE s.customers SET id = " + std::to_string(kCustomers + 1 + random() % 10) +
                           " WHERE id = " + std::to_string(kCustomers + 1 + random() % 10));
        break;
      case 10:  // an order inserted here goes (with its items, in one transaction)
        if (nextOrder_ > kOrders + 1) {
          const std::string id = std::to_string(kOrders + 1 + random() % (nextOrder_ - kOrders - 1));
          exec("BEGIN; DELETE FROM s.order_items WHERE order_id = " + id + "; DELETE FROM s.orders WHERE id = " +
                             id + "; COMMIT");
        }
        break;
      default:  // several tables in one transaction
        exec("BEGIN; UPDATE s.orders SET status = 'sent' WHERE id = " + pick(orders) +
                           "; UPDATE s.order_items SET sku = 'y' WHERE id = " + pick(nextItem_ - 1) + "; COMMIT");
    }
  }

  testing::ElasticsearchServer es_;
  int nextOrder_ = kOrders + 1;
  std::atomic<int> failed_{0};  // statements the server refused
  int nextItem_ = 1;
};

TEST_F(DocumentsTest, JoinedDocumentsEqualTheSqlJoinThroughAReindexKilledInTheLoadAndInTheSwap) {
  // The first sync: index and alias created, the documents the join.
  std::vector<std::string> lines;
  const auto collect = [&](const std::string& l) { lines.push_back(l); };
  ASSERT_TRUE(reindex(config(), "orders", collect).isOk()) << joinLines(lines);
  const auto first = es_.aliasTargets("orders");
  ASSERT_EQ(first.size(), 1u);
  {
    const auto expected = sqlJoin();
    const auto docs = documents("orders");
    ASSERT_EQ(docs, expected) << differences(expected, docs);
  }

  // The running forwarder keeps the alias's documents current while the writer goes on.
  startForwarder(config());
  std::atomic<bool> writing{true};
  std::atomic<int> statements{0};
  std::thread writer([&] {
    std::mt19937 random(5);
    while (writing) {
      write(random);
      ++statements;
      std::this_thread::sleep_for(1ms);
    }
  });
  AliasWatch watch(es_, "orders");
  const auto stopThreads = [&] {
    writing = false;
    if (writer.joinable()) writer.join();
    watch.stop();
  };

  // Killed mid-load: the alias stays.
  writeYaml(500);
  ASSERT_TRUE(startReindexBinary("orders"));
  ASSERT_TRUE(testing::waitUntil(60s, [&] { return lastBinaryLog().find("snapshot of") != std::string::npos; }))
      << binaryLogs();
  binary_.kill();
  EXPECT_EQ(es_.aliasTargets("orders"), first);

  // Killed in the swap: the alias moved, the process never learnt it.
  writeYaml(0);
  es_.holdAliasReplies(true);
  ASSERT_TRUE(startReindexBinary("orders"));
  const bool held = testing::waitUntil(120s, [&] { return es_.heldAliasReplies() == 1; });
  binary_.kill();
  es_.holdAliasReplies(false);
  ASSERT_TRUE(held) << binaryLogs();
  EXPECT_NE(binaryLogs().find("stopped before the swap; dropping"), std::string::npos) << binaryLogs();
  const auto swapped = es_.aliasTargets("orders");
  ASSERT_EQ(swapped.size(), 1u);
  EXPECT_NE(swapped, first);

  // The next run finishes it: follows the changes up to the swap, then drops the old index.
  ASSERT_TRUE(startReindexBinary("orders"));
  ASSERT_EQ(binary_.wait(std::chrono::minutes(2)), 0) << binaryLogs();
  EXPECT_NE(lastBinaryLog().find("had moved the alias; finishing it"), std::string::npos) << lastBinaryLog();
  EXPECT_EQ(es_.aliasTargets("orders"), swapped);
  EXPECT_EQ(es_.indexNames(), swapped) << "the old and the half-built index are gone";

  // The running forwarder writes through the alias into the new index: a few more batches of
  // changes before the writer stops.
  const auto batches = forwarder_->counters().batches;
  EXPECT_TRUE(testing::waitUntil(60s, [&] { return forwarder_->counters().batches >= batches + 5; })) << logText();
  stopThreads();
  EXPECT_EQ(watch.seen(), (std::set<std::string>{first[0], swapped[0]}));
  EXPECT_GE(watch.smallest(), static_cast<std::size_t>(kOrders)) << "the alias was seen on an incomplete index";
  EXPECT_GT(statements.load(), 100);

  // Quiet: once the running forwarder caught up, the documents behind the alias are the join.
  const auto expected = sqlJoin();
  const bool equal = testing::waitUntil(60s, [&] { return documents("orders") == expected; });
  EXPECT_TRUE(equal) << differences(expected, documents("orders")) << logText();
  EXPECT_TRUE(es_.violations().empty()) << joinLines(es_.violations());
  stopForwarder();  // its last progress line has the sink's counters
  EXPECT_NE(logText().find("documents built from the source"), std::string::npos) << logText();
}

}  // namespace
}  // namespace canal::forwarder
