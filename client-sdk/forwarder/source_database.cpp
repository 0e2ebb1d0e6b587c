#include "forwarder/source_database.h"

#include <mysql.h>

#include <algorithm>
#include <chrono>
#include <thread>

#include "forwarder/change.h"      // binlogFileIndex
#include "forwarder/mariadb_login.h"
#include "forwarder/sink.h"  // kSinkFatal, kSinkRetry

namespace canal::forwarder {
namespace {

using client::Result;
using client::Status;

std::string quoteName(const std::string& name) {
  std::string out = "`";
  for (char c : name) {
    if (c == '`') out += '`';
    out += c;
  }
  return out + "`";
}

std::string nameList(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ",") + quoteName(n);
  return out;
}

FieldType autoFieldType(const MYSQL_FIELD& f) {
  switch (f.type) {
    case MYSQL_TYPE_TINY:
    case MYSQL_TYPE_SHORT:
    case MYSQL_TYPE_LONG:
    case MYSQL_TYPE_INT24:
    case MYSQL_TYPE_LONGLONG:
    case MYSQL_TYPE_FLOAT:
    case MYSQL_TYPE_DOUBLE:
    case MYSQL_TYPE_DECIMAL:
    case MYSQL_TYPE_NEWDECIMAL:
    case MYSQL_TYPE_YEAR:
      return FieldType::kNumber;
    case MYSQL_TYPE_DATE:
    case MYSQL_TYPE_NEWDATE:
    case MYSQL_TYPE_DATETIME:
    case MYSQL_TYPE_TIMESTAMP:
      return FieldType::kDate;
    case MYSQL_TYPE_JSON:
      return FieldType::kJson;
    default:
      break;
  }
  // MariaDB's JSON is LONGTEXT with the format named in the extended metadata.
  MARIADB_CONST_STRING format{};
  if (mariadb_field_attr(&format, &f, MARIADB_FIELD_ATTR_FORMAT_NAME) == 0 && format.length == 4 &&
      std::string(format.str, format.length) == "json") {
    return FieldType::kJson;
  }
  return FieldType::kString;
}

class MariaDbSource final : public RowSource {
 public:
  explicit MariaDbSource(DatabaseConfig config) : config_(std::move(config)) {}
  ~MariaDbSource() override { close(); }

  Status connect() {
    if (mysql_) return Status::ok();
    unsigned code = 0;
    std::string error;
    mysql_ = openMariaDb({config_.host, config_.port, config_.socket, config_.user, config_.password, "", config_.timeout},
                         &code, &error);
    if (!mysql_) {
      // A refused login does not get better by retrying.
      return Status(code == 1045 ? kSinkFatal : kSinkRetry, "source database " + peer() + ": connecting as '" +
                                                                config_.user + "': error " + std::to_string(code) +
                                                                ": " + error);
    }
    // A consistent snapshot needs REPEATABLE READ.
    return execute("SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ");
  }

  Result<std::int64_t> beginRead(std::int64_t position) override {
    if (Status s = connect(); !s) return s;
    const auto deadline = std::chrono::steady_clock::now() + config_.catchUpTimeout;
    for (;;) {
      if (Status s = execute("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY"); !s) return s;
      inRead_ = true;
      auto at = readPosition();
      if (!at) return at.status();
      if (*at >= position) return *at;
      endRead();
      if (std::chrono::steady_clock::now() > deadline) {
        return Status(kSinkRetry, "source database " + peer() + ": its reads have not reached the batch's binlog "
                                  "position after " + std::to_string(config_.catchUpTimeout.count()) +
                                  " ms (is it the primary canal-server reads?)");
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }

  Result<SourceRows> select(const RowQuery& q) override {
    SourceRows out;
    std::string sql = "SELECT " + (q.columns.empty() ? std::string("*") : nameList(q.columns)) + " FROM " +
                      quoteName(q.database) + "." + quoteName(q.table);
    if (q.keys.empty()) {
      sql += " LIMIT 0";  // the columns only
    } else {
      sql += " WHERE ";
      sql += q.where.size() == 1 ? quoteName(q.where[0]) : "(" + nameList(q.where) + ")";
      sql += " IN (";
      for (std::size_t k = 0; k < q.keys.size(); ++k) {
        if (k > 0) sql += ',';
        if (q.where.size() > 1) sql += '(';
        for (std::size_t i = 0; i < q.keys[k].size(); ++i) sql += (i ? "," : "") + literal(q.keys[k][i]);
        if (q.where.size() > 1) sql += ')';
      }
      sql += ")";
      if (!q.orderBy.empty()) sql += " ORDER BY " + nameList(q.orderBy);
    }
    if (mysql_real_query(mysql_, sql.data(), sql.size()) != 0) return failure("SELECT from " + q.database + "." + q.table);
    MYSQL_RES* r = mysql_use_result(mysql_);
    if (!r) return failure("SELECT from " + q.database + "." + q.table);
    const unsigned n = mysql_num_fields(r);
    const MYSQL_FIELD* fields = mysql_fetch_fields(r);
    for (unsigned i = 0; i < n; ++i) {
      out.columns.emplace_back(fields[i].name);
      out.types.push_back(autoFieldType(fields[i]));
    }
    while (MYSQL_ROW row = mysql_fetch_row(r)) {
      const unsigned long* lengths = mysql_fetch_lengths(r);
      auto& values = out.rows.emplace_back();
      values.reserve(n);
      for (unsigned i = 0; i < n; ++i) {
        if (row[i]) {
          values.emplace_back(std::string(row[i], lengths[i]));
        } else {
          values.emplace_back(std::nullopt);
        }
      }
    }
    const bool failed = mysql_errno(mysql_) != 0;
    mysql_free_result(r);
    if (failed) return failure("reading rows of " + q.database + "." + q.table);
    return out;
  }

  void endRead() override {
    if (!inRead_ || !mysql_) return;
    inRead_ = false;
    if (mysql_real_query(mysql_, "ROLLBACK", 8) != 0) close();  // a read changed nothing
  }

  Result<std::vector<std::string>> primaryKey(const std::string& database, const std::string& table) override {
    if (Status s = connect(); !s) return s;
    const std::string sql = "SHOW KEYS FROM " + quoteName(database) + "." + quoteName(table) +
                            " WHERE Key_name = 'PRIMARY'";
    if (mysql_real_query(mysql_, sql.data(), sql.size()) != 0) return failure(sql);
    MYSQL_RES* r = mysql_store_result(mysql_);
    if (!r) return failure(sql);
    std::vector<std::pair<int, std::string>> parts;
    const unsigned n = mysql_num_fields(r);
    const MYSQL_FIELD* fields = mysql_fetch_fields(r);
    int seqColumn = -1, nameColumn = -1;
    for (unsigned i = 0; i < n; ++i) {
      const std::string name = fields[i].name;
      if (name == "Seq_in_index") seqColumn = static_cast<int>(i);
      if (name == "Column_name") nameColumn = static_cast<int>(i);
    }
    while (MYSQL_ROW row = mysql_fetch_row(r)) {
      if (seqColumn >= 0 && nameColumn >= 0 && row[seqColumn] && row[nameColumn]) {
        parts.emplace_back(std::atoi(row[seqColumn]), row[nameColumn]);
      }
    }
    mysql_free_result(r);
    std::sort(parts.begin(), parts.end());
    std::vector<std::string> out;
    for (auto& [seq, name] : parts) out.push_back(std::move(name));
    return out;
  }

 private:
  std::string peer() const {
    return config_.socket.empty() ? config_.host + ":" + std::to_string(config_.port) : config_.socket;
  }

  void close() {
    if (mysql_) mysql_close(mysql_);
    mysql_ = nullptr;
    inRead_ = false;
  }

  // The error of the last statement; the connection is dropped when it is the link that failed.
  Status failure(const std::string& what) {
    const unsigned code = mysql_errno(mysql_);
    const std::string message =
        "source database " + peer() + ": " + what + ": error " + std::to_string(code) + ": " + mysql_error(mysql_);
    const bool link = code >= 2000 && code < 3000;
    if (link) close();
    // Lost links, deadlocks and lock waits pass; a missing table or column does not.
    const bool transient = link || code == 1205 || code == 1213 || code == 1927 || code == 1053;
    return Status(transient ? kSinkRetry : kSinkFatal, message);
  }

  Status execute(const std::string& sql) {
    if (mysql_real_query(mysql_, sql.data(), sql.size()) != 0) return failure(sql);
    if (MYSQL_RES* r = mysql_store_result(mysql_)) mysql_free_result(r);
    return Status::ok();
  }

  std::string literal(const std::string& value) {
    std::string out(value.size() * 2 + 3, '\0');
    out[0] = '\'';
    const unsigned long n = mysql_real_escape_string(mysql_, out.data() + 1, value.data(), value.size());
    out.resize(n + 1);
    return out + "'";
  }

  // The binlog position the open snapshot was taken at.
  Result<std::int64_t> readPosition() {
    const std::string sql = "SHOW STATUS LIKE 'binlog_snapshot_%'";
    if (mysql_real_query(mysql_, sql.data(), sql.size()) != 0) return failure(sql);
    MYSQL_RES* r = mysql_store_result(mysql_);
    if (!r) return failure(sql);
    std::string file;
    std::int64_t offset = -1;
    while (MYSQL_ROW row = mysql_fetch_row(r)) {
      if (!row[0] || !row[1]) continue;
      const std::string name = row[0];
      if (name == "Binlog_snapshot_file") file = row[1];
      if (name == "Binlog_snapshot_position") offset = std::atoll(row[1]);
    }
    mysql_free_result(r);
    if (file.empty() || offset < 0) {
      return Status(kSinkFatal, "source database " + peer() +
                                    ": no binlog_snapshot_file/binlog_snapshot_position (a MariaDB server with the "
                                    "binary log on is needed to version documents read from it)");
    }
    return (binlogFileIndex(file) << 32) | (offset & 0xffffffffLL);
  }

  DatabaseConfig config_;
  MYSQL* mysql_ = nullptr;
  bool inRead_ = false;
};

}  // namespace

std::optional<std::size_t> SourceRows::columnIndex(const std::string& name) const {
  for (std::size_t i = 0; i < columns.size(); ++i) {
    if (columns[i] == name) return i;
  }
  return std::nullopt;
}

client::Result<std::unique_ptr<RowSource>> connectSource(const DatabaseConfig& config) {
  auto source = std::make_unique<MariaDbSource>(config);
  if (Status s = source->connect(); !s && s.code() == kSinkFatal) return s;
  return std::unique_ptr<RowSource>(std::move(source));
}

}  // namespace canal::forwarder
