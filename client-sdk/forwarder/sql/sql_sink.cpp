#include "forwarder/sql/sql_sink.h"

#include <algorithm>

#include "forwarder/mariadb_login.h"
#include "forwarder/sql/sql_statements.h"
#include "publish/table_pattern.h"

namespace canal::forwarder {
namespace {

using client::Result;
using client::Status;

// Errors worth trying again: the link (client errors 2000-2999), a deadlock, a lock wait timeout,
// a server going away or shutting down.
bool passing(unsigned code) {
  return (code >= 2000 && code < 3000) || code == 1205 || code == 1213 || code == 1053 || code == 1927 || code == 0;
}

}  // namespace

class SqlSink::Impl {
 public:
  Impl(std::string name, SqlSinkConfig config, Logger log)
      : name_(std::move(name)), config_(std::move(config)), log_(std::move(log)) {}
  ~Impl() { close(); }

  Status connect() {
    if (mysql_) return Status::ok();
    unsigned code = 0;
    std::string error;
    mysql_ = openMariaDb({config_.host, config_.port, config_.unixSocket, config_.user, config_.password,
                          config_.database, config_.timeout},
                         &code, &error);
    if (!mysql_) {
      // A refused login or an unknown database: retrying cannot fix it.
      return Status(code == 1045 || code == 1044 || code == 1049 ? kSinkFatal : kSinkRetry,
                    "sql " + name_ + ": connecting to " + where() + " as '" + config_.user + "': error " +
                        std::to_string(code) + ": " + error);
    }
    // Values as the source holds them: zero dates and an explicit 0 in an AUTO_INCREMENT column kept.
    if (Status s = execute("SET SESSION sql_mode = 'NO_AUTO_VALUE_ON_ZERO'"); !s) return s;
    if (Status s = execute("CREATE TABLE IF NOT EXISTS " + sqlName(config_.positionTable) +
                           " (sink VARCHAR(191) NOT NULL PRIMARY KEY, version BIGINT NOT NULL, batch BIGINT NOT NULL, "
                           "updated TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3))");
        !s) {
      return s;
    }
    auto version = readPosition();
    if (!version) return version.status();
    applied_ = *version;
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
    auto batch = sqlStatements(config_.mappings, fresh,
                               [this](std::string_view text) { return escape(text); }, config_.batchRows);
    if (!batch) return batch.status();
    if (batch->statements.empty()) return Status::ok();  // nothing of this sink's tables: nothing to record
    if (Status s = execute("START TRANSACTION"); !s) return s;
    for (const std::string& statement : batch->statements) {
      if (Status s = execute(statement); !s) return rollback(s);
    }
    if (Status s = execute("INSERT INTO " + sqlName(config_.positionTable) + " (sink, version, batch) VALUES ('" +
                           escape(name_) + "', " + std::to_string(newest) + ", " + std::to_string(batchId) +
                           ") ON DUPLICATE KEY UPDATE version = VALUES(version), batch = VALUES(batch)");
        !s) {
      return rollback(s);
    }
    if (Status s = execute("COMMIT"); !s) {
      // Committed or not, the position read at the next connect says which.
      close();
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
  std::string where() const {
    return config_.unixSocket.empty() ? config_.host + ":" + std::to_string(config_.port) : config_.unixSocket;
  }

  std::string escape(std::string_view text) {
    std::string out(text.size() * 2 + 1, '\0');
    const auto n = mysql_real_escape_string(mysql_, out.data(), text.data(), static_cast<unsigned long>(text.size()));
    out.resize(n);
    return out;
  }

  Status execute(const std::string& sql) {
    if (mysql_real_query(mysql_, sql.data(), static_cast<unsigned long>(sql.size())) == 0) {
      if (MYSQL_RES* r = mysql_store_result(mysql_)) mysql_free_result(r);
      return Status::ok();
    }
    const unsigned code = mysql_errno(mysql_);
    const std::string message = "sql " + name_ + " (" + where() + "): error " + std::to_string(code) + ": " +
                                mysql_error(mysql_) + " in: " + sql.substr(0, 300) + (sql.size() > 300 ? "..." : "");
    if (passing(code)) {
      close();
      ++counters_.reconnects;
      return Status(kSinkRetry, message);
    }
    return Status(kSinkFatal, message);
  }

  Status rollback(Status why) {
    if (mysql_) (void)mysql_real_query(mysql_, "ROLLBACK", 8);
    return why;
  }

  Result<std::int64_t> readPosition() {
    const std::string sql = "SELECT version FROM " + sqlName(config_.positionTable) + " WHERE sink = '" + escape(name_) + "'";
    if (mysql_real_query(mysql_, sql.data(), static_cast<unsigned long>(sql.size())) != 0) {
      const std::string message = "sql " + name_ + ": " + mysql_error(mysql_) + " in: " + sql;
      close();
      return Status(kSinkRetry, message);
    }
    MYSQL_RES* r = mysql_store_result(mysql_);
    std::int64_t version = 0;
    if (r) {
      if (MYSQL_ROW row = mysql_fetch_row(r); row && row[0]) version = std::stoll(row[0]);
      mysql_free_result(r);
    }
    return version;
  }

  void close() {
    if (mysql_) mysql_close(mysql_);
    mysql_ = nullptr;
  }

  const std::string name_;
  const SqlSinkConfig config_;
  const Logger log_;
  MYSQL* mysql_ = nullptr;
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
