#pragma once

// A primary made of binlog files, for destination and pump tests without a database: each run
// replays the files' events in order as a dump would deliver them (the file name, where the next
// event starts, the file's FORMAT_DESCRIPTION first when a run starts inside a file), tracks
// transaction boundaries as the replica stream does, and then waits for more until cancelled.
// Table definitions come from fixed ones the test gives (binlogs with full row metadata need
// none). Thread contract: a run's next() from one thread, cancel() from any.

#include <atomic>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "server/instance/binlog_source.h"
#include "server/schema/table_schema.h"

namespace canal::testing {

// Definitions from a map; DDL statements are recorded and change nothing.
class FixedTableDefinitions final : public schema::TableDefinitions {
 public:
  void add(schema::TableSchema table);
  Result<std::shared_ptr<const schema::TableSchema>> table(const std::string& database, const std::string& table,
                                                           const schema::SchemaPosition* at = nullptr) override;
  Status applyDdl(const std::string& sql, const std::string& database, const schema::SchemaPosition* at = nullptr) override;
  std::vector<std::string> ddls() const;

 private:
  mutable std::mutex mutex_;
  std::map<schema::TableKey, std::shared_ptr<const schema::TableSchema>> tables_;
  std::vector<std::string> ddls_;
};

class FileBinlogSource final : public instance::BinlogSource {
 public:
  struct File {
    std::string name;   // as the primary names it: "mysql-bin.000001"
    std::string bytes;  // the whole file, magic included
  };
  FileBinlogSource(std::vector<File> files, std::shared_ptr<FixedTableDefinitions> definitions);

  std::string primary() const override { return "files:3306"; }
  // From the first file's start, or right after `from` (a transaction boundary in one of them).
  Result<std::unique_ptr<instance::BinlogRun>> open(const std::optional<CommitPosition>& from) override;

  // Where each run opened so far started ("file:position").
  std::vector<std::string> starts() const;
  // True while a run waits for more after the last file's last event: the pump, which asks for
  // the next event only once it has handled the one before, has stored everything.
  bool readToTheEnd() const { return *atEnd_; }

 private:
  const std::shared_ptr<const std::vector<File>> files_;
  const std::shared_ptr<FixedTableDefinitions> definitions_;
  mutable std::mutex mutex_;
  std::vector<std::string> starts_;
  std::shared_ptr<std::atomic<bool>> atEnd_ = std::make_shared<std::atomic<bool>>(false);
};

}  // namespace canal::testing
