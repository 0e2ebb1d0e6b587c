#include "forwarder/sql/sql_sink.h"

#include <algorithm>
#include <future>
#include <optional>
#include <set>

#include "forwarder/sql/sql_ddl.h"
#include "forwarder/sql/sql_statements.h"
#include "forwarder/sql/sql_target.h"
#include "publish/table_pattern.h"

namespace canal::forwarder {
using client::Result;
using client::Status;

namespace {

// One connection of the sink and its row in the position table (the sink's name; lane i > 0 of
// a parallel apply: name#i), applying the rows its SqlLane takes.
class Lane {
 public:
  // `plan`: config.mappings made ready, for this lane's thread alone.
  Lane(const std::string& name, const SqlSinkConfig& config, const SqlSink::Logger& log, SqlLane lane, SqlPlan plan)
      : name_(name),
        row_(lane.index == 0 ? name : name + "#" + std::to_string(lane.index)),
        config_(config),
        log_(log),
        lane_(lane),
        plan_(std::move(plan)) {}

  Status connect() {
    if (target_) return Status::ok();
    auto target = connectSqlTarget(config_, name_);
    if (!target) return target.status();
    target_ = std::move(*target);
    stages_.clear();
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
                                       target_->dialect().escape(row_) + "'");
    if (!version) return failed(version.status());
    applied_ = *version ? std::stoll(**version) : 0;
    return Status::ok();
  }

  const SqlCounters& stats() const { return counters_; }
  std::int64_t applied() const { return applied_; }
  const SqlDialect& dialect() const { return target_->dialect(); }

  // The rows of `changes` this lane takes and has not applied, in one transaction with its
  // position (the newest change's).
  Status applyRows(const std::vector<const Change*>& all, std::int64_t batchId) {
    if (Status s = connect(); !s) return s;
    std::vector<const Change*> changes;
    for (const Change* c : all) {
      if (c->version() > applied_) changes.push_back(c);
      else ++counters_.skipped;
    }
    std::int64_t newest = applied_;
    for (const Change* c : changes) newest = std::max(newest, c->version());
    auto batch = sqlStatements(plan_, changes, target_->dialect(), config_.batchRows, lane_);
    if (!batch) return batch.status();
    if (batch->statements.empty()) return Status::ok();  // nothing of this lane's: nothing to record
    Status s = transaction(batch->statements, newest, batchId, nullptr, &batch->copies);
    if (!s && s.code() == kSinkFatal && !config_.deadLetterTable.empty() && target_) {
      // A row the target refuses: the batch again, a row per statement, each refused one set
      // aside in the dead-letter table in the same transaction.
      auto rows = sqlStatements(plan_, changes, target_->dialect(), 1, lane_);
      if (!rows) return rows.status();
      s = transaction(rows->statements, newest, batchId, &rows->origins);
    }
    if (!s) return s;
    counters_.rows += batch->rows;
    return Status::ok();
  }

  // The target tables of `changes` not created yet in this run, created when missing (on one
  // connection, before any applies the rows).
  Status createTables(const std::vector<const Change*>& changes, const SqlPlan& plan) {
    if (Status s = connect(); !s) return s;
    for (const Change* c : changes) {
      if (c->isDdl || c->rowChange.rowdatas_size() == 0) continue;
      const auto mi = plan.mappingOf(c->qualifiedName());
      if (!mi) continue;
      const SqlMapping& m = config_.mappings[*mi];
      const std::string target = sqlTarget(m, *c, config_.postgres);
      if (created_.count(target)) continue;
      auto create = createTableStatement(m, *c, config_.postgres);
      if (!create) return create.status();
      if (Status s = target_->execute(*create); !s) return failed(s);
      created_.insert(target);
    }
    return Status::ok();
  }

  // PostgreSQL changes tables inside a transaction: with the position. MariaDB commits around
  // each DDL statement: they run first (written to pass when repeated), then the position.
  Status applyDdl(const std::vector<std::string>& statements, std::int64_t version, std::int64_t batchId) {
    if (Status s = connect(); !s) return s;
    for (const std::string& statement : statements) log_("sql " + name_ + ": " + statement);
    if (config_.postgres) return transaction(statements, version, batchId);
    for (const std::string& statement : statements) {
      if (Status s = target_->execute(statement); !s) return failed(s);
    }
    counters_.statements += statements.size();
    return transaction({}, version, batchId);
  }

 private:
  std::string positionTable() const { return sqlName(config_.positionTable, config_.postgres); }

  // The statement that records `version` (in the transaction it goes in).
  std::string recordPosition(std::int64_t version, std::int64_t batchId) {
    const std::string values = "('" + target_->dialect().escape(row_) + "', " + std::to_string(version) + ", " +
                               std::to_string(batchId) + ")";
    return "INSERT INTO " + positionTable() + " (sink, version, batch) VALUES " + values +
           (config_.postgres
                ? " ON CONFLICT (sink) DO UPDATE SET version = EXCLUDED.version, batch = EXCLUDED.batch, updated = now()"
                : " ON DUPLICATE KEY UPDATE version = VALUES(version), batch = VALUES(batch)");
  }

  // `statements`, then the position `version`, in one transaction. With `origins` (the change
  // of each statement), a statement the target refuses is rolled back to its savepoint and kept
  // in the dead-letter table instead. With `copies`, a statement's rows are copied in before it
  // (its staging table made first, outside the transaction, once per connection).
  Status transaction(const std::vector<std::string>& statements, std::int64_t version, std::int64_t batchId,
                     const std::vector<std::string>* origins = nullptr,
                     const std::vector<std::optional<SqlCopy>>* copies = nullptr) {
    if (copies) {
      for (const auto& copy : *copies) {
        if (!copy || stages_.count(copy->stage)) continue;
        if (Status s = target_->execute(copy->create); !s) return failed(s);
        stages_.insert(copy->stage);
      }
    }
    if (Status s = target_->execute(config_.postgres ? "BEGIN" : "START TRANSACTION"); !s) return failed(s);
    std::uint64_t refused = 0;
    for (std::size_t i = 0; i < statements.size(); ++i) {
      if (origins) {
        if (Status s = target_->execute("SAVEPOINT canal_row"); !s) return rollback(s);
      }
      if (copies && (*copies)[i]) {
        if (Status s = target_->copyIn((*copies)[i]->copy, (*copies)[i]->data); !s) return rollback(s);
      }
      const Status applied = target_->execute(statements[i]);
      if (applied) continue;
      if (!origins || applied.code() != kSinkFatal) return rollback(applied);
      if (Status s = target_->execute("ROLLBACK TO SAVEPOINT canal_row"); !s) return rollback(s);
      if (Status s = deadLetter((*origins)[i], statements[i], applied, version); !s) return rollback(s);
      ++refused;
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
    counters_.deadLetters += refused;
    return Status::ok();
  }

  Status deadLetter(const std::string& origin, const std::string& statement, const Status& error, std::int64_t version) {
    const auto quoted = [&](const std::string& text) { return "'" + target_->dialect().escape(text) + "'"; };
    log_("sql " + name_ + ": a row of " + origin + " refused, kept in " + config_.deadLetterTable + ": " + error.message());
    return target_->execute("INSERT INTO " + sqlName(config_.deadLetterTable, config_.postgres) +
                            " (sink, source, version, statement, error) VALUES (" + quoted(name_) + ", " +
                            quoted(origin) + ", " + std::to_string(version) + ", " + quoted(statement) + ", " +
                            quoted(error.message()) + ")");
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

  const std::string& name_;
  const std::string row_;  // its row in the position table
  const SqlSinkConfig& config_;
  const SqlSink::Logger& log_;
  const SqlLane lane_;
  const SqlPlan plan_;
  std::set<std::string> created_;  // target tables made sure of in this run (create_tables)
  std::unique_ptr<SqlTarget> target_;
  std::set<std::string> stages_;  // the staging tables made on target_'s connection
  std::int64_t applied_ = 0;
  SqlCounters counters_;
};

}  // namespace

class SqlSink::Impl {
 public:
  // The coordinator and a lane per connection, each with the mappings made ready for its thread.
  static Result<std::unique_ptr<Impl>> create(std::string name, SqlSinkConfig config, Logger log) {
    std::unique_ptr<Impl> impl(new Impl(std::move(name), std::move(config), std::move(log)));
    auto plan = SqlPlan::create(impl->config_.mappings);
    if (!plan) return Status(plan.status().code(), "sql.mappings: " + plan.status().message());
    impl->plan_.emplace(std::move(*plan));
    const auto count = static_cast<std::size_t>(std::max(1, impl->config_.parallel));
    for (std::size_t i = 0; i < count; ++i) {
      auto lanePlan = SqlPlan::create(impl->config_.mappings);
      if (!lanePlan) return lanePlan.status();
      impl->lanes_.push_back(std::make_unique<Lane>(impl->name_, impl->config_, impl->log_, SqlLane{i, count},
                                                    std::move(*lanePlan)));
    }
    return impl;
  }

  Status connect() {
    for (auto& lane : lanes_) {
      if (Status s = lane->connect(); !s) return s;
    }
    return Status::ok();
  }

  Status write(const std::vector<const Change*>& changes, std::int64_t batchId) {
    if (Status s = connect(); !s) return s;
    // Rows in runs between the DDL statements that change a copy, each run one transaction per
    // lane; a DDL after every lane applied the rows before it, on lane 0 (whose position says
    // whether it was).
    std::vector<const Change*> run;
    for (const Change* c : changes) {
      if (c->isDdl && c->version() > lanes_[0]->applied()) {
        if (const auto mi = plan_->mappingOf(c->qualifiedName())) {
          const SqlMapping& m = config_.mappings[*mi];
          auto ddl = ddlStatements(m, sqlTarget(m, *c, config_.postgres), *c, lanes_[0]->dialect(), config_.ddl);
          if (!ddl || !ddl->empty()) {
            // The rows before it are applied either way: a stop is at the statement.
            if (Status s = applyRows(run, batchId); !s) return s;
            run.clear();
            if (!ddl) return ddl.status();
            if (Status s = lanes_[0]->applyDdl(*ddl, c->version(), batchId); !s) return s;
            continue;
          }
        }
      }
      run.push_back(c);
    }
    return applyRows(run, batchId);
  }

  std::string counters() const {
    const SqlCounters c = stats();
    return name_ + ": rows " + std::to_string(c.rows) + ", statements " + std::to_string(c.statements) +
           ", transactions " + std::to_string(c.transactions) + ", skipped " + std::to_string(c.skipped) +
           ", reconnects " + std::to_string(c.reconnects) + ", dead letters " + std::to_string(c.deadLetters);
  }
  SqlCounters stats() const {
    SqlCounters sum;
    for (const auto& lane : lanes_) {
      const SqlCounters& c = lane->stats();
      sum.rows += c.rows;
      sum.statements += c.statements;
      sum.transactions += c.transactions;
      sum.skipped += c.skipped;
      sum.reconnects += c.reconnects;
      sum.deadLetters += c.deadLetters;
    }
    return sum;
  }
  std::int64_t applied() const {
    std::int64_t least = lanes_[0]->applied();
    for (const auto& lane : lanes_) least = std::min(least, lane->applied());
    return least;
  }

 private:
  // Every lane its rows, at once; the first fatal failure, else the first one.
  Status applyRows(const std::vector<const Change*>& changes, std::int64_t batchId) {
    if (config_.createTables) {
      if (Status s = lanes_[0]->createTables(changes, *plan_); !s) return s;
    }
    if (lanes_.size() == 1) return lanes_[0]->applyRows(changes, batchId);
    std::vector<std::future<Status>> applied;
    for (auto& lane : lanes_) {
      applied.push_back(std::async(std::launch::async, [&lane, &changes, batchId] { return lane->applyRows(changes, batchId); }));
    }
    Status failed;
    for (auto& f : applied) {
      const Status s = f.get();
      if (!s && (failed || s.code() == kSinkFatal)) failed = s;
    }
    return failed;
  }

  const std::string name_;
  const SqlSinkConfig config_;
  const Logger log_;
  Impl(std::string name, SqlSinkConfig config, Logger log)
      : name_(std::move(name)), config_(std::move(config)), log_(std::move(log)) {}

  std::optional<SqlPlan> plan_;  // the coordinator's (DDL, create_tables)
  std::vector<std::unique_ptr<Lane>> lanes_;
};

Result<std::unique_ptr<SqlSink>> SqlSink::create(std::string name, const SqlSinkConfig& config, Logger log) {
  auto impl = Impl::create(name, config, std::move(log));
  if (!impl) return impl.status();
  return std::unique_ptr<SqlSink>(new SqlSink(std::move(name), std::move(*impl)));
}

SqlSink::SqlSink(std::string name, std::unique_ptr<Impl> impl) : name_(std::move(name)), impl_(std::move(impl)) {}
SqlSink::~SqlSink() = default;

Status SqlSink::write(const std::vector<const Change*>& changes, std::int64_t batchId) {
  return impl_->write(changes, batchId);
}
Status SqlSink::connect() { return impl_->connect(); }
std::string SqlSink::counters() const { return impl_->counters(); }
SqlCounters SqlSink::stats() const { return impl_->stats(); }
std::int64_t SqlSink::applied() const { return impl_->applied(); }

}  // namespace canal::forwarder
