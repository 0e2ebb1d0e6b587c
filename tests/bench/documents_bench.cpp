// What documents built from several tables add to an update's latency: a real MariaDB with
// orders, customers and order items, canal-server, the forwarder in-process and the
// Elasticsearch test server. Each update is committed alone and timed until the document
// shows it; one run with a table mapping of orders (the document is the row), one with a
// document of orders + customer name + items (read back from the source). Reported: p50/p99
// per kind of update. The forwarder polls with a short timeout so the figures show the sink's
// own cost (with Canal's get semantics a get waits up to poll_timeout_ms for a full batch).
//   build/bench/canal_documents_bench [updates per kind]     (default 300)

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "forwarder/forwarder.h"
#include "tests/support/canal_server_process.h"
#include "tests/support/elasticsearch_server.h"
#include "tests/support/mariadb_server.h"
#include "tests/support/temp_dir.h"

namespace {

using namespace canal;
using Clock = std::chrono::steady_clock;
using Json = nlohmann::json;

constexpr int kOrders = 20000;
constexpr int kCustomers = 2000;  // about 10 orders each

int fail(const std::string& what) {
  std::fprintf(stderr, "documents_bench: %s\n", what.c_str());
  return 1;
}

struct Latencies {
  std::vector<double> us;
  std::string line(const std::string& what) {
    std::sort(us.begin(), us.end());
    const auto at = [&](double q) { return us.empty() ? 0.0 : us[std::min(us.size() - 1, static_cast<std::size_t>(q * us.size()))]; };
    char text[200];
    std::snprintf(text, sizeof text, "%-58s p50 %8.0f us   p99 %8.0f us   (%zu updates)", what.c_str(), at(0.5), at(0.99),
                  us.size());
    return text;
  }
};

// Commits `sql` and waits until `seen()`; the time between, in microseconds (the run ends when
// an update is not seen within 10 s).
template <typename Seen>
double timed(testing::MariaDbServer& db, const std::string& sql, Seen seen) {
  if (!db.execute(sql)) std::exit(fail("cannot run " + sql));
  const auto committed = Clock::now();
  while (!seen()) {
    if (Clock::now() - committed > std::chrono::seconds(10)) std::exit(fail("not seen within 10 s: " + sql));
    std::this_thread::sleep_for(std::chrono::microseconds(50));
  }
  return std::chrono::duration<double, std::micro>(Clock::now() - committed).count();
}

bool field(const testing::ElasticsearchServer& es, const std::string& index, const std::string& id,
           const std::function<bool(const Json&)>& test) {
  const auto d = es.document(index, id);
  return d && test(Json::parse(d->source));
}

}  // namespace

int main(int argc, char** argv) {
  const int updates = argc > 1 ? std::stoi(argv[1]) : 300;
  auto started = testing::MariaDbServer::start({});
  if (!started) return fail(started.status().toString());
  testing::MariaDbServer& db = **started;
  if (!db.execute("CREATE DATABASE s; CREATE TABLE s.customers (id INT PRIMARY KEY, name VARCHAR(40)); "
                  "CREATE TABLE s.orders (id INT PRIMARY KEY, customer_id INT, status VARCHAR(20), total DECIMAL(10,2), "
                  "KEY (customer_id)); CREATE TABLE s.order_items (id INT PRIMARY KEY, order_id INT, sku VARCHAR(20), "
                  "qty INT, KEY (order_id))")) {
    return fail("tables");
  }
  for (int c = 1; c <= kCustomers; c += 1000) {
    std::string sql = "INSERT INTO s.customers VALUES ";
    for (int i = c; i < c + 1000; ++i) sql += (i > c ? "," : "") + ("(" + std::to_string(i) + ",'c" + std::to_string(i) + "')");
    if (!db.execute(sql)) return fail("customers");
  }
  for (int o = 1; o <= kOrders; o += 1000) {
    std::string orders = "INSERT INTO s.orders VALUES ";
    std::string items = "INSERT INTO s.order_items VALUES ";
    for (int i = o; i < o + 1000; ++i) {
      orders += (i > o ? "," : "") + ("(" + std::to_string(i) + "," + std::to_string(1 + i % kCustomers) + ",'new',9.99)");
      for (int k = 0; k < 3; ++k) {
        items += (i > o || k > 0 ? "," : "") +
                 ("(" + std::to_string(i * 3 + k) + "," + std::to_string(i) + ",'sku" + std::to_string(k) + "',1)");
      }
    }
    if (!db.execute(orders) || !db.execute(items)) return fail("orders");
  }
  auto end = db.binlogEnd();
  if (!end) return fail(end.status().toString());

  testing::TempDir dir("canal-documents-bench");
  testing::CanalServerProcess server(CANAL_SERVER_BINARY, dir.path(), "memory-instance.xml", db.port(), "", end->file,
                                     std::to_string(end->position));
  if (!server.start()) return fail("canal-server");
  testing::ElasticsearchServer es;
  if (!es.start()) return fail("elasticsearch test server");
  // canal-server answers on its HTTP port once its destinations run.
  if (!server.waitServing(std::chrono::seconds(30))) return fail("canal-server did not start: " + server.logTail());

  forwarder::ForwarderConfig config;
  config.source.address = server.address();
  config.source.batchSize = 1000;
  config.source.pollTimeout = std::chrono::milliseconds(1);
  config.progressInterval = std::chrono::hours(1);
  forwarder::SinkConfig sink;
  sink.name = "es";
  sink.kind = forwarder::SinkConfig::Kind::kElasticsearch;
  sink.elasticsearch.url = es.url();
  sink.elasticsearch.database.socket = db.socketPath();
  sink.elasticsearch.database.user = "root";

  const auto run = [&](const forwarder::SinkConfig& s, const std::function<void()>& measure) {
    forwarder::ForwarderConfig c = config;
    c.sinks = {s};
    auto f = forwarder::Forwarder::create(c, [](const std::string& line) { std::fprintf(stderr, "%s\n", line.c_str()); });
    if (!f) return fail(f.status().toString());
    std::thread thread([&] { (void)(*f)->run(); });
    measure();
    (*f)->stop();
    thread.join();
    return 0;
  };

  std::printf("documents_bench: %d orders, %d customers, %d items; %d updates of each kind, one at a time\n", kOrders,
              kCustomers, kOrders * 3, updates);
  // A table mapping: the order row is the document.
  forwarder::SinkConfig table = sink;
  forwarder::IndexMapping m;
  m.table = "s.orders";
  m.index = "flat";
  table.elasticsearch.mappings = {m};
  Latencies flat;
  if (int rc = run(table, [&] {
        for (int i = 0; i < updates; ++i) {
          const std::string id = std::to_string(1 + (i * 7919) % kOrders), value = "t" + std::to_string(i);
          flat.us.push_back(timed(db, "UPDATE s.orders SET status = '" + value + "' WHERE id = " + id,
                                  [&] { return field(es, "flat", id, [&](const Json& j) { return j["status"] == value; }); }));
        }
      })) {
    return rc;
  }

  forwarder::SinkConfig documents = sink;
  forwarder::DocumentMapping d;
  d.table = "s.orders";
  d.index = "orders";
  forwarder::DocumentJoin customer;
  customer.table = "s.customers";
  customer.on = {{"customer_id", "id"}};
  customer.include = {"name"};
  customer.rename = {{"name", "customer_name"}};
  forwarder::DocumentJoin items;
  items.table = "s.order_items";
  items.on = {{"id", "order_id"}};
  items.as = "items";
  items.many = true;
  d.joins = {customer, items};
  documents.elasticsearch.documents = {d};
  Latencies main, item, renamed;
  if (int rc = run(documents, [&] {
        for (int i = 0; i < updates; ++i) {
          const int order = 1 + (i * 7919) % kOrders;
          const std::string id = std::to_string(order), value = "d" + std::to_string(i);
          main.us.push_back(timed(db, "UPDATE s.orders SET status = '" + value + "' WHERE id = " + id,
                                  [&] { return field(es, "orders", id, [&](const Json& j) { return j["status"] == value; }); }));
          item.us.push_back(timed(db, "UPDATE s.order_items SET qty = " + std::to_string(100 + i) + " WHERE id = " +
                                          std::to_string(order * 3 + 1),
                                  [&] {
                                    return field(es, "orders", id, [&](const Json& j) {
                                      return j["items"].size() == 3 && j["items"][1]["qty"] == 100 + i;
                                    });
                                  }));
          // A customer's name is in each of its orders' documents (kOrders / kCustomers of them).
          const int c = 1 + i % kCustomers;
          const std::string name = "n" + std::to_string(i);
          renamed.us.push_back(timed(db, "UPDATE s.customers SET name = '" + name + "' WHERE id = " + std::to_string(c), [&] {
            for (int o = c - 1; o <= kOrders; o += kCustomers) {  // orders of customer c: 1 + o % kCustomers
              if (o >= 1 && !field(es, "orders", std::to_string(o), [&](const Json& j) { return j["customer_name"] == name; })) {
                return false;
              }
            }
            return true;
          }));
        }
      })) {
    return rc;
  }
  std::printf("%s\n", flat.line("table mapping: UPDATE of an order").c_str());
  std::printf("%s\n", main.line("document (order + customer + items): UPDATE of the order").c_str());
  std::printf("%s\n", item.line("document: UPDATE of one of its items").c_str());
  std::printf("%s\n",
              renamed.line("document: UPDATE of a customer (" + std::to_string(kOrders / kCustomers) + " documents)").c_str());
  return 0;
}
