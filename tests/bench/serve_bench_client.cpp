// The client side of tests/bench/run_serve_bench.py: an SDK consumer of canal-server.
//
//   canal_serve_bench_client drain ADDRESS DESTINATION ROWS [BATCH] [CLIENT_ID]
//     Connects (retrying while the server starts), subscribes, then getWithoutAck(BATCH) and
//     ack until ROWS row changes arrived. Every entry is parsed to its RowChange and the `id`
//     column is summed (after image, before image for DELETE), so the rows are checked, not just
//     counted; each batch is parsed between its get and its ack, as Canal's example client
//     does, the way CANAL_BENCH_READ says: `views` (the default: Message::rowChangeViews, in
//     place), `objects` (Message::rowChanges, protobuf objects) or `plain` (a new RowChange per
//     entry, the way Canal's example client is written). Prints one JSON line: rows, idsum,
//     entries, bytes, seconds since the process started, and its own CPU seconds.
//
//   canal_serve_bench_client stall ADDRESS DESTINATION
//     Takes one batch, prints "stalled" and then neither reads nor acks until it is killed.
//
//   canal_serve_bench_client latency ADDRESS DESTINATION DB_HOST:PORT USER PASSWORD SAMPLES PAUSE_US
//     One thread inserts single-row autocommit transactions into benchlat.t (created here) with
//     PAUSE_US between them; this thread reads them through canal-server with waiting gets of
//     one entry each (canal.instance.memory.batch.mode = ITEMSIZE on the server).
//     Latency of a row: from the INSERT's return (the COMMIT acknowledged) to the moment its
//     RowChange is parsed at the client. Prints one JSON line with p50/p99/p999/max in µs.

#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <optional>
#include <charconv>
#include <cstdlib>
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "canal/client/canal_connector.h"
#include "canal/client/row_change_reader.h"
#include "server/mysql/mysql_connection.h"

namespace {

namespace pb = canal::protocol::entry;
using Clock = std::chrono::steady_clock;

const Clock::time_point kProcessStart = Clock::now();

double cpuSeconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

int fail(const std::string& what) {
  std::fprintf(stderr, "serve_bench_client: %s\n", what.c_str());
  return 1;
}

std::string optionsUsed;  // the ConnectorOptions of the run, printed with its figures

// Connects and subscribes, retrying for up to a minute while the server comes up.
std::unique_ptr<canal::client::CanalConnector> open(const std::string& address, const std::string& destination,
                                                    std::int16_t clientId) {
  const auto deadline = Clock::now() + std::chrono::seconds(60);
  // The SDK's defaults, as docs/sdk.md's consumer loop keeps them, unless the environment says:
  // CANAL_BENCH_CONFIRM_ACKS=1 (ack() waits for the server's confirmation), CANAL_BENCH_PREFETCH
  // (GETs ahead of the client; 0: Canal's strict sequence).
  canal::client::ConnectorOptions options;
  options.clientId = clientId;
  if (std::getenv("CANAL_BENCH_CONFIRM_ACKS")) options.confirmAcks = true;
  if (const char* prefetch = std::getenv("CANAL_BENCH_PREFETCH")) options.prefetch = std::atoi(prefetch);
  optionsUsed = "prefetch " + std::to_string(options.prefetch) + ", confirmAcks " +
                (options.confirmAcks ? "true" : "false") + ", checkSequence " + (options.checkSequence ? "true" : "false");
  while (Clock::now() < deadline) {
    auto c = canal::client::newSingleConnector(address, destination, "", "", options);
    if (c->connect() && c->subscribe()) return c;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return nullptr;
}

std::int64_t idOf(const pb::RowData& row, pb::EventType type) {
  const auto& columns = type == pb::DELETE ? row.beforecolumns() : row.aftercolumns();
  for (const auto& c : columns) {
    if (c.name() != "id") continue;
    std::int64_t v = 0;
    std::from_chars(c.value().data(), c.value().data() + c.value().size(), v);
    return v;
  }
  return 0;
}

// What a consumer does with a batch: read every entry's RowChange, count the rows and sum their
// ids, in one of the ways Tally::Read names.
struct Tally {
  enum class Read { kViews, kObjects, kPlain } read = Read::kViews;
  std::uint64_t rows = 0, entries = 0, bytes = 0, batches = 0;
  std::int64_t idsum = 0;

  void count(const pb::RowChange& change) {
    if (change.isddl()) return;
    for (const auto& row : change.rowdatas()) {
      ++rows;
      idsum += idOf(row, change.eventtype());
    }
  }
  void count(const canal::client::RowChangeReader& change) {
    if (change.isDdl()) return;
    for (std::size_t r = 0; r < change.rows(); ++r) {
      ++rows;
      const auto columns = change.eventType() == pb::DELETE ? change.before(r) : change.after(r);
      if (const auto* id = columns.find("id")) {
        std::int64_t v = 0;
        std::from_chars(id->value.data(), id->value.data() + id->value.size(), v);
        idsum += v;
      }
    }
  }
  bool add(const canal::client::Message& m) {
    ++batches;
    for (const std::string& raw : m.rawEntries()) bytes += raw.size();
    entries += m.entries().size();
    switch (read) {
      case Read::kViews: {
        auto changes = m.rowChangeViews();
        for (const auto& [entry, change] : changes) count(change);
        return changes.ok();
      }
      case Read::kObjects: {
        auto changes = m.rowChanges();
        for (const auto& [entry, change] : changes) count(change);
        return changes.ok();
      }
      case Read::kPlain:
        for (const pb::Entry& e : m.entries()) {
          if (e.entrytype() != pb::ROWDATA) continue;
          pb::RowChange change;
          if (!change.ParseFromString(e.storevalue())) return false;
          count(change);
        }
        return true;
    }
    return false;
  }
};

int drain(int argc, char** argv) {
  if (argc < 5) return fail("drain ADDRESS DESTINATION ROWS [BATCH] [CLIENT_ID]");
  const std::uint64_t want = std::stoull(argv[4]);
  const int batch = argc > 5 ? std::stoi(argv[5]) : 1000;
  const auto clientId = static_cast<std::int16_t>(argc > 6 ? std::stoi(argv[6]) : 1001);
  auto connector = open(argv[2], argv[3], clientId);
  if (!connector) return fail(std::string("cannot connect to ") + argv[2]);
  Tally tally;
  if (const char* read = std::getenv("CANAL_BENCH_READ")) {
    const std::string_view r = read;
    if (r == "objects") {
      tally.read = Tally::Read::kObjects;
    } else if (r == "plain") {
      tally.read = Tally::Read::kPlain;
    } else if (r != "views") {
      return fail("CANAL_BENCH_READ: views, objects or plain");
    }
  }
  double firstBatch = 0;
  Clock::duration waiting{};  // inside getWithoutAck
  // A get waits up to 10 ms for a full batch: a backlog comes in full batches, and the last,
  // partial one is not held back for long.
  const auto get = [&]() -> canal::client::Result<canal::client::Message> {
    const auto asked = Clock::now();
    auto m = connector->getWithoutAck(batch, std::chrono::milliseconds(10));
    waiting += Clock::now() - asked;
    if (m && !m->empty() && firstBatch == 0) {
      firstBatch = std::chrono::duration<double>(Clock::now() - kProcessStart).count();
    }
    return m;
  };
  while (tally.rows < want) {
    auto m = get();
    if (!m) return fail(m.status().toString());
    if (m->empty()) continue;
    if (!tally.add(*m)) return fail("a RowChange does not parse");
    if (auto s = connector->ack(m->id()); !s) return fail(s.toString());
  }
  const double seconds = std::chrono::duration<double>(Clock::now() - kProcessStart).count();
  std::printf("{\"rows\": %llu, \"idsum\": %lld, \"entries\": %llu, \"bytes\": %llu, \"batches\": %llu, "
              "\"first_batch_s\": %.4f, \"get_wait_s\": %.4f, \"seconds\": %.4f, \"cpu_s\": %.3f, \"options\": \"%s\"}\n",
              static_cast<unsigned long long>(tally.rows), static_cast<long long>(tally.idsum),
              static_cast<unsigned long long>(tally.entries), static_cast<unsigned long long>(tally.bytes),
              static_cast<unsigned long long>(tally.batches), firstBatch, std::chrono::duration<double>(waiting).count(),
              seconds, cpuSeconds(), optionsUsed.c_str());
  connector->disconnect();
  return 0;
}

int stall(int argc, char** argv) {
  if (argc < 4) return fail("stall ADDRESS DESTINATION");
  auto connector = open(argv[2], argv[3], 1001);
  if (!connector) return fail(std::string("cannot connect to ") + argv[2]);
  auto m = connector->getWithoutAck(1000, std::chrono::milliseconds(10000));
  if (!m) return fail(m.status().toString());
  std::printf("stalled\n");
  std::fflush(stdout);
  for (;;) std::this_thread::sleep_for(std::chrono::hours(1));
}

int latency(int argc, char** argv) {
  if (argc < 9) return fail("latency ADDRESS DESTINATION DB_HOST:PORT USER PASSWORD SAMPLES PAUSE_US");
  const std::string db = argv[4];
  canal::mysql::ConnectOptions o;
  o.host = db.substr(0, db.rfind(':'));
  o.port = std::stoi(db.substr(db.rfind(':') + 1));
  o.user = argv[5];
  o.password = argv[6];
  const int samples = std::stoi(argv[7]);
  const auto pause = std::chrono::microseconds(std::stoi(argv[8]));
  const int warmup = 50;
  auto writer = canal::mysql::MysqlConnection::connect(o);
  if (!writer) return fail(writer.status().toString());
  if (auto s = (*writer)->execute("CREATE DATABASE IF NOT EXISTS benchlat"); !s) return fail(s.toString());
  if (auto s = (*writer)->execute("DROP TABLE IF EXISTS benchlat.t"); !s) return fail(s.toString());
  if (auto s = (*writer)->execute("CREATE TABLE benchlat.t (id BIGINT PRIMARY KEY, v VARCHAR(32), n INT)"); !s) {
    return fail(s.toString());
  }
  auto connector = open(argv[2], argv[3], 1001);
  if (!connector) return fail(std::string("cannot connect to ") + argv[2]);

  const int total = warmup + samples;
  std::vector<Clock::time_point> sent(total + 1), acked(total + 1), seen(total + 1);
  std::vector<std::atomic<bool>> done(total + 1);
  std::atomic<bool> writerFailed{false};
  std::thread insert([&] {
    for (int i = 1; i <= total; ++i) {
      sent[i] = Clock::now();
      const canal::Status s = (*writer)->execute("INSERT INTO benchlat.t VALUES (" + std::to_string(i) + ",'row-" +
                                          std::to_string(i) + "'," + std::to_string(i * 7) + ")");
      acked[i] = Clock::now();
      done[i].store(true, std::memory_order_release);
      if (!s) {
        std::fprintf(stderr, "serve_bench_client: %s\n", s.toString().c_str());
        writerFailed = true;
        return;
      }
      std::this_thread::sleep_for(pause);
    }
  });
  int received = 0;
  pb::RowChange change;
  const auto deadline = Clock::now() + std::chrono::seconds(60) + pause * total;
  while (received < total && !writerFailed && Clock::now() < deadline) {
    // One entry per get (the server runs in ITEMSIZE mode): a get returns as soon as an entry is
    // there, so the row comes with the second get of its transaction, after the BEGIN.
    auto m = connector->getWithoutAck(1, std::chrono::milliseconds(1000));
    if (!m) return fail(m.status().toString());
    if (m->empty()) continue;
    for (const pb::Entry& e : m->entries()) {
      if (e.entrytype() != pb::ROWDATA || e.header().schemaname() != "benchlat") continue;
      if (!change.ParseFromString(e.storevalue())) return fail("a RowChange does not parse");
      const auto now = Clock::now();
      for (const auto& row : change.rowdatas()) {
        const std::int64_t id = idOf(row, change.eventtype());
        if (id < 1 || id > total) continue;
        seen[id] = now;
        ++received;
      }
    }
    if (auto s = connector->ack(m->id()); !s) return fail(s.toString());
  }
  insert.join();
  if (received < total) return fail("only " + std::to_string(received) + " of " + std::to_string(total) + " rows came");
  std::vector<double> fromAck, fromSend, roundTrip;
  for (int i = warmup + 1; i <= total; ++i) {
    if (!done[i].load(std::memory_order_acquire)) continue;
    fromAck.push_back(std::chrono::duration<double, std::micro>(seen[i] - acked[i]).count());
    fromSend.push_back(std::chrono::duration<double, std::micro>(seen[i] - sent[i]).count());
    roundTrip.push_back(std::chrono::duration<double, std::micro>(acked[i] - sent[i]).count());
  }
  const auto pct = [](std::vector<double> v, double p) {
    std::sort(v.begin(), v.end());
    return v[std::min(v.size() - 1, static_cast<std::size_t>(p * static_cast<double>(v.size())))];
  };
  std::printf("{\"samples\": %zu, \"ack_p50_us\": %.0f, \"ack_p99_us\": %.0f, \"ack_p999_us\": %.0f, \"ack_max_us\": %.0f, "
              "\"send_p50_us\": %.0f, \"send_p99_us\": %.0f, \"insert_p50_us\": %.0f, \"insert_p99_us\": %.0f, "
              "\"cpu_s\": %.3f}\n",
              fromAck.size(), pct(fromAck, 0.5), pct(fromAck, 0.99), pct(fromAck, 0.999), pct(fromAck, 1.0),
              pct(fromSend, 0.5), pct(fromSend, 0.99), pct(roundTrip, 0.5), pct(roundTrip, 0.99), cpuSeconds());
  connector->disconnect();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "drain") return drain(argc, argv);
  if (mode == "latency") return latency(argc, argv);
  if (mode == "stall") return stall(argc, argv);
  return fail("usage: drain ADDRESS DESTINATION ROWS [BATCH] [CLIENT_ID] | latency ADDRESS DESTINATION DB_HOST:PORT "
              "USER PASSWORD SAMPLES PAUSE_US | stall ADDRESS DESTINATION");
}
