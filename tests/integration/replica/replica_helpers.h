#pragma once

// What the replica tests against real MariaDB servers share: the replication account, a dump
// opened on it, its rows read to a commit, a server logging full row metadata, and a collector
// of the rows a ReplicaStream delivers.

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <functional>
#include <mutex>
#include <thread>

#include "server/binlog/event_type.h"
#include "server/convert/binlog_changes.h"
#include "server/replica/binlog_dump.h"
#include "server/replica/replica_stream.h"
#include "server/replica/start_position.h"
#include "server/schema/schema_cache.h"
#include "server/schema/schema_history.h"
#include "tests/support/mariadb_server.h"
#include "tests/support/mariadb_test.h"
#include "tests/support/process.h"
#include "tests/support/temp_dir.h"

namespace canal::replica {

using testing::MariaDbServer;

inline mysql::ConnectOptions replicaAccount(const MariaDbServer& db) {
  mysql::ConnectOptions o;
  o.host = db.host();
  o.port = db.port();
  o.user = db.options().replicaUser;
  o.password = db.options().replicaPassword;
  return o;
}

inline std::unique_ptr<BinlogDump> openDump(const MariaDbServer& db, const DumpStart& start) {
  auto connection = mysql::MysqlConnection::connect(replicaAccount(db));
  EXPECT_TRUE(connection.isOk()) << connection.status().toString();
  if (!connection.isOk()) return nullptr;
  DumpOptions options;
  options.slaveId = 4321;
  auto dump = BinlogDump::open(std::move(*connection), options, start);
  EXPECT_TRUE(dump.isOk()) << dump.status().toString();
  return dump.isOk() ? std::move(*dump) : nullptr;
}

struct Received {
  std::vector<convert::ChangeEntry> entries;
  std::string file;
  std::uint64_t lastCommit = 0;  // position after the last XID seen
};

// Reads until `rows` row images arrived and the transaction holding the last one committed.
inline Received receive(BinlogDump& dump, std::size_t rows) {
  Received r;
  convert::RenderOptions options;
  options.timeZone = convert::TimeZone::utc();
  convert::ChangeAssembler assembler(options);
  std::size_t seen = 0;
  while (true) {
    auto event = dump.next();
    EXPECT_TRUE(event.isOk()) << event.status().toString();
    if (!event.isOk()) return r;
    r.file = event->file;
    convert::ChangeEntry entry;
    auto produced = assembler.handle(event->raw, dump.format(), event->file, "dump", entry);
    EXPECT_TRUE(produced.isOk()) << produced.status().toString();
    if (produced.isOk() && *produced && !entry.rows.empty()) {
      seen += entry.rows.size();
      r.entries.push_back(std::move(entry));
    }
    if (event->raw.header.type == binlog::kXidEvent) {
      r.lastCommit = event->nextPosition;
      if (seen >= rows) return r;
    }
  }
}

// A MariaDB that logs full row metadata (names, signedness), with `ddl` run on it.
inline std::unique_ptr<MariaDbServer> startServer(const std::vector<std::string>& ddl) {
  testing::MariaDbOptions options;
  options.extraArgs.push_back("--binlog-row-metadata=FULL");
  auto started = MariaDbServer::start(options);
  EXPECT_TRUE(started.isOk()) << started.status().toString();
  if (!started.isOk()) return nullptr;
  for (const auto& sql : ddl) EXPECT_TRUE((*started)->execute(sql).isOk()) << sql;
  return std::move(*started);
}

// A connection to `db` as root, over its unix socket.
inline Result<std::unique_ptr<mysql::MysqlConnection>> connectAsRoot(const MariaDbServer& db) {
  mysql::ConnectOptions root;
  root.unixSocket = db.socketPath();
  root.user = "root";
  return mysql::MysqlConnection::connect(root);
}

// Collects the ids of inserted rows from a ReplicaStream on its own thread.
class Collector {
 public:
  explicit Collector(ReplicaStream& stream) : stream_(stream), thread_([this] { run(); }) {}
  ~Collector() {
    stream_.cancel();
    thread_.join();
  }
  std::vector<int> ids() {
    std::lock_guard<std::mutex> lock(mutex_);
    return ids_;
  }
  bool waitFor(std::size_t count, std::chrono::seconds limit) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
      if (ids().size() >= count) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
  }
  // Called after each rows entry with the number of ids so far.
  std::function<void(std::size_t)> onRows;
  Status error() {
    std::lock_guard<std::mutex> lock(mutex_);
    return error_;
  }

 private:
  void run() {
    convert::RenderOptions options;
    convert::ChangeAssembler assembler(options);
    convert::ChangeEntry entry;
    for (;;) {
      auto e = stream_.next();
      if (!e) {
        std::lock_guard<std::mutex> lock(mutex_);
        if (e.status().code() != StatusCode::kAborted) error_ = e.status();
        return;
      }
      auto produced = assembler.handle(e->raw, stream_.format(), e->file, "stream", entry);
      if (!produced || !*produced || entry.type != convert::ChangeType::kInsert) continue;
      std::size_t n = 0;
      {
        std::lock_guard<std::mutex> lock(mutex_);
        for (const auto& row : entry.rows) ids_.push_back(std::stoi(row.after[0].text.value));
        n = ids_.size();
      }
      if (onRows) onRows(n);
    }
  }

  ReplicaStream& stream_;
  std::mutex mutex_;
  std::vector<int> ids_;
  Status error_;
  std::thread thread_;
};

inline void expectEachOnce(const std::vector<int>& ids, int n) {
  std::vector<int> sorted = ids;
  std::sort(sorted.begin(), sorted.end());
  std::vector<int> want(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) want[static_cast<std::size_t>(i)] = i + 1;
  EXPECT_EQ(sorted, want);
  EXPECT_TRUE(std::is_sorted(ids.begin(), ids.end())) << "rows arrive in commit order";
}

}  // namespace canal::replica
