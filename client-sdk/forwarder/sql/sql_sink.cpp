#include "forwarder/sql/sql_sink.h"

#include <algorithm>

#include "forwarder/sql/sql_statements.h"
#include "forwarder/sql/sql_target.h"
#include "publish/table_pattern.h"

namespace canal::forwarder {
using client::Result;
using client::Status;

class SqlSink::Impl {
 public:
  Impl(std::string name, SqlSinkConfig config, Logger log)
      : name_(std::move(name)), config_(std::move(config)), log_(std::move(log)) {}

  Status connect() {
    if (target_) return Status::ok();
    auto target = connectSqlTarget(config_, name_);
    if (!target) return target.status();
    target_ = std::move(*target);
    const bool pg = config_.postgres;
    if (Status s = target_->execute("CREATE TABLE IF NOT EXISTS " + positionTable() +
                                    " (sink VARCHAR(191) NOT NULL PRIMARY KEY, version BIGINT NOT NULL, batch BIGINT "
                                    "NOT NULL, " +
                                    (pg ? "updated TIMESTAMPTZ(3) NOT NULL DEFAULT now())"
                                        : "updated TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE "
                                          "CURRENT_TIMESTAMP(3))"));
        !s) {
      return failed(s);
    }
    auto version = target_->queryValue("SELECT version FROM " + positionTable() + " WHERE sink = '" +
                                       target_->dialect().escape(name_) + "'");
    if (!version) return failed(version.status());
    applied_ = *version ? std::stoll(**version) : 0;
    return Status::ok();
  }

  Status write(const std::vector<const Change*>& changes, std::int64_t batchId) {
    if (Status s = connect(); !s) return s;
    std::vector<const Change*> fresh;
    std::int64_t newest = applied_;
    for (const Change* c : changes) {
      if (c->version() <= applied_) {
        ++counters_.skipped;
        continue;
      }
      fresh.push_back(c);
      newest = std::max(newest, c->version());
    }
    auto batch = sqlStatements(config_.mappings, fresh, target_->dialect(), config_.batchRows);
    if (!batch) return batch.status();
    if (batch->statements.empty()) return Status::ok();  // nothing of this sink's tables: nothing to record
    const bool pg = config_.postgres;
    if (Status s = target_->execute(pg ? "BEGIN" : "START TRANSACTION"); !s) return failed(s);
    for (const std::string& statement : batch->statements) {
      if (Status s = target_->execute(statement); !s) return rollback(s);
    }
    const std::string values = "('" + target_->dialect().escape(name_) + "', " + std::to_string(newest) + ", " +
                               std::to_string(batchId) + ")";
    if (Status s = target_->execute(
            "INSERT INTO " + positionTable() + " (sink, version, batch) VALUES " + values +
            (pg ? " ON CONFLICT (sink) DO UPDATE SET version = EXCLUDED.version, batch = EXCLUDED.batch, updated = now()"
                : " ON DUPLICATE KEY UPDATE version = VALUES(version), batch = VALUES(batch)"));
        !s) {
      return rollback(s);
    }
    if (Status s = target_->execute("COMMIT"); !s) {
      // Committed or not, the position read at the next connect says which.
      target_.reset();
      return s;
    }
    applied_ = newest;
    counters_.rows += batch->rows;
    counters_.statements += batch->statements.size();
    ++counters_.transactions;
    return Status::ok();
  }

  std::string counters() const {
    return name_ + ": rows " + std::to_string(counters_.rows) + ", statements " + std::to_string(counters_.statements) +
           ", transactions " + std::to_string(counters_.transactions) + ", skipped " + std::to_string(counters_.skipped) +
           ", reconnects " + std::to_string(counters_.reconnects);
  }
  const SqlCounters& stats() const { return counters_; }
  std::int64_t applied() const { return applied_; }

 private:
  std::string positionTable() const { return sqlName(config_.positionTable, config_.postgres); }

  // A failure that passes closes the connection: the next write opens a new one.
  Status failed(Status why) {
    if (why.code() == kSinkRetry) {
      target_.reset();
      ++counters_.reconnects;
    }
    return why;
  }

  Status rollback(Status why) {
    if (target_ && why.code() != kSinkRetry) static_cast<void>(target_->execute("ROLLBACK"));
    return failed(why);
  }

  const std::string name_;
  const SqlSinkConfig config_;
  const Logger log_;
  std::unique_ptr<SqlTarget> target_;
  std::int64_t applied_ = 0;
  SqlCounters counters_;
};

Result<std::unique_ptr<SqlSink>> SqlSink::create(std::string name, const SqlSinkConfig& config, Logger log) {
  if (auto mapped = publish::FirstMatch::create(publish::tableExpressions(config.mappings)); !mapped) {
    return Status(mapped.status().code(), "sql.mappings: " + mapped.status().message());
  }
  auto impl = std::make_unique<Impl>(name, config, std::move(log));
  return std::unique_ptr<SqlSink>(new SqlSink(std::move(name), std::move(impl)));
}

SqlSink::SqlSink(std::string name, std::unique_ptr<Impl> impl) : name_(std::move(name)), impl_(std::move(impl)) {}
SqlSink::~SqlSink() = default;

Status SqlSink::write(const std::vector<const Change*>& changes, std::int64_t batchId) {
  return impl_->write(changes, batchId);
}
Status SqlSink::connect() { return impl_->connect(); }
std::string SqlSink::counters() const { return impl_->counters(); }
const SqlCounters& SqlSink::stats() const { return impl_->stats(); }
std::int64_t SqlSink::applied() const { return impl_->applied(); }

}  // namespace canal::forwarder
