#include "forwarder/sql/sql_sink.h"

#include <algorithm>

#include "forwarder/sql/sql_ddl.h"
#include "forwarder/sql/sql_statements.h"
#include "forwarder/sql/sql_target.h"
#include "publish/table_pattern.h"

namespace canal::forwarder {
using client::Result;
using client::Status;

class SqlSink::Impl {
 public:
  Impl(std::string name, SqlSinkConfig config, Logger log, publish::FirstMatch mapped)
      : name_(std::move(name)), config_(std::move(config)), log_(std::move(log)), mapped_(std::move(mapped)) {}

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
    if (!config_.deadLetterTable.empty()) {
      const std::string table = sqlName(config_.deadLetterTable, pg);
      if (Status s = target_->execute(
              "CREATE TABLE IF NOT EXISTS " + table + " (" +
              (pg ? "id BIGSERIAL PRIMARY KEY" : "id BIGINT AUTO_INCREMENT PRIMARY KEY") +
              ", sink VARCHAR(191) NOT NULL, source VARCHAR(512) NOT NULL, version BIGINT NOT NULL, " +
              (pg ? "statement TEXT NOT NULL, error TEXT NOT NULL, at TIMESTAMPTZ(3) NOT NULL DEFAULT now())"
                  : "statement LONGTEXT NOT NULL, error TEXT NOT NULL, at TIMESTAMP(3) NOT NULL DEFAULT "
                    "CURRENT_TIMESTAMP(3))"));
          !s) {
        return failed(s);
      }
    }
    auto version = target_->queryValue("SELECT version FROM " + positionTable() + " WHERE sink = '" +
                                       target_->dialect().escape(name_) + "'");
    if (!version) return failed(version.status());
    applied_ = *version ? std::stoll(**version) : 0;
    return Status::ok();
  }

  Status write(const std::vector<const Change*>& changes, std::int64_t batchId) {
    if (Status s = connect(); !s) return s;
    // Rows in runs between the DDL statements that change a copy, each run one transaction.
    std::vector<const Change*> run;
    for (const Change* c : changes) {
      if (c->version() <= applied_) {
        ++counters_.skipped;
        continue;
      }
      if (c->isDdl) {
        if (const auto mi = mapped_.of(c->qualifiedName())) {
          const SqlMapping& m = config_.mappings[*mi];
          auto ddl = ddlStatements(m, sqlTarget(m, *c, config_.postgres), *c, target_->dialect(), config_.ddl);
          if (!ddl || !ddl->empty()) {
            // The rows before it are applied either way: a stop is at the statement.
            if (Status s = applyRows(run, batchId); !s) return s;
            run.clear();
            if (!ddl) return ddl.status();
            if (Status s = applyDdl(*ddl, c->version(), batchId); !s) return s;
            continue;
          }
        }
      }
      run.push_back(c);
    }
    return applyRows(run, batchId);
  }

  std::string counters() const {
    return name_ + ": rows " + std::to_string(counters_.rows) + ", statements " + std::to_string(counters_.statements) +
           ", transactions " + std::to_string(counters_.transactions) + ", skipped " + std::to_string(counters_.skipped) +
           ", reconnects " + std::to_string(counters_.reconnects) + ", dead letters " +
           std::to_string(counters_.deadLetters);
  }
  const SqlCounters& stats() const { return counters_; }
  std::int64_t applied() const { return applied_; }

 private:
  std::string positionTable() const { return sqlName(config_.positionTable, config_.postgres); }

  // The statement that records `version` (in the transaction it goes in).
  std::string recordPosition(std::int64_t version, std::int64_t batchId) {
    const std::string values = "('" + target_->dialect().escape(name_) + "', " + std::to_string(version) + ", " +
                               std::to_string(batchId) + ")";
    return "INSERT INTO " + positionTable() + " (sink, version, batch) VALUES " + values +
           (config_.postgres
                ? " ON CONFLICT (sink) DO UPDATE SET version = EXCLUDED.version, batch = EXCLUDED.batch, updated = now()"
                : " ON DUPLICATE KEY UPDATE version = VALUES(version), batch = VALUES(batch)");
  }

  // `statements`, then the position `version`, in one transaction.
  Status transaction(const std::vector<std::string>& statements, std::int64_t version, std::int64_t batchId) {
    if (Status s = target_->execute(config_.postgres ? "BEGIN" : "START TRANSACTION"); !s) return failed(s);
    for (const std::string& statement : statements) {
      if (Status s = target_->execute(statement); !s) return rollback(s);
    }
    if (Status s = target_->execute(recordPosition(version, batchId)); !s) return rollback(s);
    if (Status s = target_->execute("COMMIT"); !s) {
      // Committed or not, the position read at the next connect says which.
      target_.reset();
      return s;
    }
    applied_ = version;
    ++counters_.transactions;
    counters_.statements += statements.size();
    return Status::ok();
  }

  Status applyRows(const std::vector<const Change*>& changes, std::int64_t batchId) {
    std::int64_t newest = applied_;
    for (const Change* c : changes) newest = std::max(newest, c->version());
    auto batch = sqlStatements(config_.mappings, changes, target_->dialect(), config_.batchRows);
    if (!batch) return batch.status();
    if (batch->statements.empty()) return Status::ok();  // nothing of this sink's tables: nothing to record
    Status s = transaction(batch->statements, newest, batchId);
    if (!s && s.code() == kSinkFatal && !config_.deadLetterTable.empty() && target_) {
      // A row the target refuses: the batch again, a row per statement, each refused one set
      // aside in the dead-letter table in the same transaction.
      auto rows = sqlStatements(config_.mappings, changes, target_->dialect(), 1);
      if (!rows) return rows.status();
      s = rowByRow(*rows, newest, batchId);
    }
    if (!s) return s;
    counters_.rows += batch->rows;
    return Status::ok();
  }

  Status rowByRow(const SqlBatch& rows, std::int64_t version, std::int64_t batchId) {
    if (Status s = target_->execute(config_.postgres ? "BEGIN" : "START TRANSACTION"); !s) return failed(s);
    std::uint64_t refused = 0;
    for (std::size_t i = 0; i < rows.statements.size(); ++i) {
      if (Status s = target_->execute("SAVEPOINT canal_row"); !s) return rollback(s);
      const Status applied = target_->execute(rows.statements[i]);
      if (applied) continue;
      if (applied.code() != kSinkFatal) return rollback(applied);
      if (Status s = target_->execute("ROLLBACK TO SAVEPOINT canal_row"); !s) return rollback(s);
      const auto quoted = [&](const std::string& text) { return "'" + target_->dialect().escape(text) + "'"; };
      if (Status s = target_->execute("INSERT INTO " + sqlName(config_.deadLetterTable, config_.postgres) +
                                      " (sink, source, version, statement, error) VALUES (" + quoted(name_) + ", " +
                                      quoted(rows.origins[i]) + ", " + std::to_string(version) + ", " +
                                      quoted(rows.statements[i]) + ", " + quoted(applied.message()) + ")");
          !s) {
        return rollback(s);
      }
      ++refused;
      log_("sql " + name_ + ": a row of " + rows.origins[i] + " refused, kept in " + config_.deadLetterTable + ": " +
           applied.message());
    }
    if (Status s = target_->execute(recordPosition(version, batchId)); !s) return rollback(s);
    if (Status s = target_->execute("COMMIT"); !s) {
      target_.reset();
      return s;
    }
    applied_ = version;
    ++counters_.transactions;
    counters_.statements += rows.statements.size();
    counters_.deadLetters += refused;
    return Status::ok();
  }

  // PostgreSQL changes tables inside a transaction: with the position. MariaDB commits around
  // each DDL statement: they run first (written to pass when repeated), then the position.
  Status applyDdl(const std::vector<std::string>& statements, std::int64_t version, std::int64_t batchId) {
    for (const std::string& statement : statements) log_("sql " + name_ + ": " + statement);
    if (config_.postgres) return transaction(statements, version, batchId);
    for (const std::string& statement : statements) {
      if (Status s = target_->execute(statement); !s) return failed(s);
    }
    counters_.statements += statements.size();
    return transaction({}, version, batchId);
  }

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
  const publish::FirstMatch mapped_;
  std::unique_ptr<SqlTarget> target_;
  std::int64_t applied_ = 0;
  SqlCounters counters_;
};

Result<std::unique_ptr<SqlSink>> SqlSink::create(std::string name, const SqlSinkConfig& config, Logger log) {
  auto mapped = publish::FirstMatch::create(publish::tableExpressions(config.mappings));
  if (!mapped) return Status(mapped.status().code(), "sql.mappings: " + mapped.status().message());
  auto impl = std::make_unique<Impl>(name, config, std::move(log), std::move(*mapped));
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
