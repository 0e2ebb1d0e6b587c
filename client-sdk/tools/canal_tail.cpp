// canal-tail: follows a Canal destination and prints one FlatMessage JSON line per row-change
// or DDL entry on stdout; progress and lag on stderr. Acks each batch once it is printed. It
// keeps going through server restarts, HA takeovers and a server not up yet (saying on stderr
// what it waits for), and exits on what retrying cannot fix, on --idle-exit / --max-rows, or
// within a second of SIGINT/SIGTERM.

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>
#include <thread>

#include "canal/client/canal_connector.h"
#include "canal/client/flat_message.h"

namespace {

volatile std::sig_atomic_t stopSignal = 0;
std::atomic<bool> finished{false};  // main is done: the signal watch leaves the exit to it
extern "C" void onSignal(int sig) { stopSignal = sig; }

int usage(const char* error = nullptr) {
  if (error) std::cerr << "canal-tail: " << error << "\n";
  std::cerr << "usage: canal-tail [--address HOST:PORT[,HOST:PORT...] | --zk HOSTS] --destination NAME [options]\n"
               "  --address HOST:PORT   the canal server (default 127.0.0.1:11111); several, comma-separated:\n"
               "                        a cluster, the next one taking over when the current one fails\n"
               "  --zk HOSTS            ZooKeeper (zk1:2181,zk2:2181): follow the server running the\n"
               "                        destination (/otter/canal/destinations/NAME/running), across failovers\n"
               "  --destination NAME    the destination to follow (default example)\n"
               "  --user U --password P canal.user / clear-text canal.passwd of the server\n"
               "  --filter REGEX        subscribe filter, e.g. 'shop\\..*' (replaces the destination's)\n"
               "  --batch-size N        entries per get (default 1000)\n"
               "  --no-ack              do not ack (the entries stay in the server for the next client)\n"
               "  --idle-exit SECONDS   exit once nothing arrived for this long\n"
               "  --max-rows N          exit after printing N row changes (a DDL counts as one)\n"
               "  --statements          also print the QUERY entries that carry a row change's SQL\n"
               "                        (MariaDB ANNOTATE_ROWS, MySQL ROWS_QUERY, USER_VAR/INTVAR/RAND)\n"
               "  --quiet               no progress lines on stderr\n";
  return 64;
}

// Whether trying again can help: a server or ZooKeeper not reachable (yet), a destination not
// running there (yet: a takeover, a server starting; Canal says the same of a destination the
// server does not have), a batch out of sequence. Not: a refused login, a refused filter, a bad
// address.
bool retryable(const canal::client::Status& s) {
  using canal::client::Status;
  if (s.code() == Status::kInvalidArgument) return false;
  if (!s.isServerError()) return true;
  return s.message().find("should start first") != std::string::npos;
}

// "mysql-bin.000003:4711"
std::string positionOf(const canal::protocol::entry::Entry& entry) {
  return entry.header().logfilename() + ":" + std::to_string(entry.header().logfileoffset());
}

std::int64_t nowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

int main(int argc, char** argv) {
  std::string address = "127.0.0.1:11111";
  std::string zk;
  std::string destination = "example";
  std::string user, password, filter;
  int batchSize = 1000;
  bool ack = true;
  bool quiet = false;
  bool statements = false;
  long idleExit = 0;
  long long maxRows = 0;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    const auto next = [&]() -> const char* { return i + 1 < argc ? argv[++i] : nullptr; };
    const char* v = nullptr;
    if (arg == "--address" && (v = next())) address = v;
    else if (arg == "--destination" && (v = next())) destination = v;
    else if (arg == "--user" && (v = next())) user = v;
    else if (arg == "--password" && (v = next())) password = v;
    else if (arg == "--filter" && (v = next())) filter = v;
    else if (arg == "--batch-size" && (v = next())) batchSize = std::atoi(v);
    else if (arg == "--idle-exit" && (v = next())) idleExit = std::atol(v);
    else if (arg == "--max-rows" && (v = next())) maxRows = std::atoll(v);
    else if (arg == "--no-ack") ack = false;
    else if (arg == "--quiet") quiet = true;
    else if (arg == "--statements") statements = true;
    else if (arg == "--zk" && (v = next())) zk = v;
    else if (arg == "-h" || arg == "--help") return usage();
    else return usage(("unknown or incomplete option " + arg).c_str());
  }
  if (batchSize <= 0) return usage("--batch-size must be positive");

  std::signal(SIGINT, onSignal);
  std::signal(SIGTERM, onSignal);
  std::signal(SIGPIPE, SIG_IGN);
  // Whatever the connector waits for (a server that does not answer, ZooKeeper that is down), a
  // signal ends canal-tail within a second: what was printed is flushed, what was not acked
  // comes again to the next client.
  std::thread([] {
    while (!stopSignal) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    for (int i = 0; i < 14 && !finished; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    if (finished) return;
    std::fflush(stdout);
    std::_Exit(0);
  }).detach();

  long long rows = 0, entries = 0;
  auto lastData = std::chrono::steady_clock::now();
  auto lastReport = lastData;
  std::string lastPosition;
  canal::client::RowChangeReader change;  // each entry's RowChange, read in place
  std::string line;                       // each FlatMessage line, its storage reused
  std::int64_t lastExecuteTime = 0;
  int exitCode = 0;
  bool connected = false;
  std::string waitingFor;  // the reason last said on stderr while waiting
  auto lastSaid = std::chrono::steady_clock::time_point{};
  // Says why canal-tail waits, when the reason changes and every 10 s.
  const auto say = [&](const std::string& why) {
    const auto now = std::chrono::steady_clock::now();
    if (why != waitingFor || now - lastSaid > std::chrono::seconds(10)) {
      std::cerr << "canal-tail: waiting: " << why << "\n";
      waitingFor = why;
      lastSaid = now;
    }
  };
  auto backoff = std::chrono::milliseconds(100);
  // Waits before the next attempt, saying why; false when a signal came meanwhile.
  const auto waitAfter = [&](const std::string& why) {
    say(why);
    for (auto slept = std::chrono::milliseconds(0); slept < backoff && !stopSignal; slept += std::chrono::milliseconds(50)) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    backoff = std::min(backoff * 2, std::chrono::milliseconds(500));
    return !stopSignal;
  };

  canal::client::ConnectorOptions options;
  // A lost server is retried by the loop below (every 100 ms, then at most every 500 ms, saying
  // why), so a restarted server is followed within half a second of being up.
  options.retries = 0;
  // Following ZooKeeper, the connector itself looks for the server running the destination (at
  // once when the running node changes) for as long as it takes; it says why it waits.
  options.onFailoverWait = [&](const canal::client::Status& why) { say(why.message()); };
  std::unique_ptr<canal::client::CanalConnector> connector;
  if (!zk.empty()) {
    connector = canal::client::newClusterConnector(canal::client::ClusterSource::zooKeeper(zk), destination, user,
                                                   password, options);
    address = "the server ZooKeeper " + zk + " names";
  } else if (address.find(',') != std::string::npos) {
    connector = canal::client::newClusterConnector(canal::client::ClusterSource::list(address), destination, user,
                                                   password, options);
  } else {
    connector = canal::client::newSingleConnector(address, destination, user, password, options);
  }

  while (!stopSignal) {
    if (!connected) {
      auto s = connector->connect();
      if (s) s = connector->subscribe(filter);
      if (!s) {
        connector->disconnect();
        if (!retryable(s)) {
          std::cerr << "canal-tail: " << address << ", destination " << destination << ": " << s.message() << "\n";
          exitCode = 1;
          break;
        }
        if (!waitAfter(address + ", destination " + destination + ": " + s.message())) break;
        continue;
      }
      connected = true;
      backoff = std::chrono::milliseconds(100);
      if (!quiet) std::cerr << "canal-tail: following " << destination << " on " << address << "\n";
      waitingFor.clear();
    }
    // A get waits for a full batch or its timeout: rows of a quiet table are printed within
    // 100 ms; a busy stream fills batches first.
    auto message = connector->getWithoutAck(batchSize, std::chrono::milliseconds(100));
    if (!message) {
      if (!retryable(message.status())) {
        std::cerr << "canal-tail: get: " << message.status().message() << "\n";
        exitCode = 1;
        break;
      }
      // A lost server, a takeover, a batch out of sequence: connect again; the batches not acked
      // come again (and are printed again).
      std::cerr << "canal-tail: get: " << message.status().message() << "; connecting again\n";
      connector->disconnect();
      connected = false;
      continue;
    }
    const auto now = std::chrono::steady_clock::now();
    bool done = false;
    for (const auto& entry : message->entries()) {
      ++entries;
      lastExecuteTime = entry.header().executetime();
      if (entry.entrytype() != canal::protocol::entry::ROWDATA) continue;  // BEGIN/END have no FlatMessage
      if (!change.parse(entry.storevalue())) {
        std::cerr << "canal-tail: entry at " << positionOf(entry) << " has a RowChange that does not parse\n";
        continue;
      }
      // A row change's SQL (isDdl not set, type QUERY) is context, not a change.
      if (!statements && !change.isDdl() && change.eventType() == canal::protocol::entry::QUERY) continue;
      line.clear();
      canal::client::appendFlatMessage(line, entry, change, message->id(), nowMs());
      for (const auto& p : entry.header().props()) {
        // A row read from the table, not the binlog: said in the line (not a FlatMessage field).
        if (p.key() == "snapshot" && p.value() == "true" && !line.empty() && line.back() == '}') {
          line.insert(line.size() - 1, ",\"snapshot\":true");
        }
      }
      line.push_back('\n');
      std::fwrite(line.data(), 1, line.size(), stdout);
      rows += change.rows() > 0 ? change.rows() : 1;
      if (maxRows > 0 && rows >= maxRows) done = true;
    }
    if (!message->entries().empty()) lastPosition = positionOf(message->entries().back());
    std::fflush(stdout);
    if (!message->empty()) lastData = now;
    if (ack) {
      if (auto s = connector->ack(message->id()); !s) {
        if (!retryable(s)) {
          std::cerr << "canal-tail: ack " << message->id() << ": " << s.message() << "\n";
          exitCode = 1;
          break;
        }
        std::cerr << "canal-tail: ack " << message->id() << ": " << s.message() << "; connecting again\n";
        connector->disconnect();
        connected = false;
        continue;
      }
    }
    if (!quiet && (now - lastReport > std::chrono::seconds(5) || done)) {
      lastReport = now;
      std::cerr << "canal-tail: " << entries << " entries, " << rows << " rows";
      if (!lastPosition.empty()) {
        std::cerr << ", at " << lastPosition << ", lag " << (nowMs() - lastExecuteTime) / 1000.0 << " s";
      }
      std::cerr << "\n";
    }
    if (done) break;
    if (idleExit > 0 && now - lastData > std::chrono::seconds(idleExit)) {
      if (!quiet) std::cerr << "canal-tail: nothing new for " << idleExit << " s, exiting\n";
      break;
    }
  }
  std::fflush(stdout);
  // Closing may wait on what is down (a ZooKeeper ensemble that does not answer): after a signal
  // the watchdog above ends the process if this takes too long.
  connector->disconnect();
  connector.reset();
  finished = true;
  return exitCode;
}
