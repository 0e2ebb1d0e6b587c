#pragma once

// Keeps tables of a MariaDB/MySQL or PostgreSQL database (forwarder/sql/sql_target.h) equal to
// source tables, exactly once: a batch's rows are applied in one transaction together with the
// sink's position (the last change's version, forwarder/change.h) in the target's position
// table, and on start the sink reads that position and leaves out every change at or before
// it. A kill -9 at any point repeats nothing and loses nothing, and the user's tables need no
// version column.
// Statements: forwarder/sql/sql_statements.h. The target unreachable, a deadlock or a lock wait
// timeout: kSinkRetry (rolled back, written again); a refused statement (an unknown table or
// column, a value the column cannot hold): kSinkFatal naming it, or, with a dead-letter table,
// the batch applied again a row at a time and each refused row kept there with its error, in the
// batch's transaction. With `parallel` > 1 the rows go over that many connections by key, each
// with its own position row. Thread contract: one thread.

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "forwarder/forwarder_config.h"
#include "forwarder/sink.h"

namespace canal::forwarder {

struct SqlCounters {
  std::uint64_t rows = 0;          // row images applied
  std::uint64_t statements = 0;
  std::uint64_t transactions = 0;
  std::uint64_t skipped = 0;       // changes at or before the recorded position (applied before), per connection
  std::uint64_t reconnects = 0;
  std::uint64_t deadLetters = 0;   // rows the target refused, kept in dead_letter_table
};

class SqlSink final : public Sink {
 public:
  using Logger = std::function<void(const std::string&)>;
  static client::Result<std::unique_ptr<SqlSink>> create(std::string name, const SqlSinkConfig& config, Logger log);
  ~SqlSink() override;

  const std::string& name() const override { return name_; }
  client::Status write(const std::vector<const Change*>& changes, std::int64_t batchId) override;
  // Connects as a write would: the login, the position table (created when missing), the
  // position recorded there.
  client::Status connect();
  std::string counters() const override;
  SqlCounters stats() const;  // summed over the lanes
  // The position recorded in the target (0: none yet; with lanes, the least of theirs).
  std::int64_t applied() const;

 private:
  class Impl;
  SqlSink(std::string name, std::unique_ptr<Impl> impl);
  std::string name_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace canal::forwarder
