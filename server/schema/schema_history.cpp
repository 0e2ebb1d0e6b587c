#include "server/schema/schema_history.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>

#include <nlohmann/json.hpp>

#include "server/common/durable_file.h"
#include "server/common/position.h"

namespace canal::schema {
namespace {

using nlohmann::json;

json tableJson(const TableSchema& t) {
  json columns = json::array();
  for (const auto& c : t.columns) {
    columns.push_back({{"name", c.name},
                       {"type", c.columnType},
                       {"dataType", c.dataType},
                       {"unsigned", c.isUnsigned},
                       {"binary", c.isBinary},
                       {"key", c.isPrimaryKey},
                       {"members", c.members}});
  }
  return {{"database", t.database}, {"table", t.table}, {"columns", std::move(columns)}};
}

TableSchema tableFromJson(const json& j) {
  TableSchema t;
  t.database = j.at("database").get<std::string>();
  t.table = j.at("table").get<std::string>();
  for (const auto& c : j.at("columns")) {
    ColumnSchema col;
    col.name = c.at("name").get<std::string>();
    col.columnType = c.at("type").get<std::string>();
    col.dataType = c.at("dataType").get<std::string>();
    col.isUnsigned = c.at("unsigned").get<bool>();
    col.isBinary = c.at("binary").get<bool>();
    col.isPrimaryKey = c.at("key").get<bool>();
    col.members = c.at("members").get<std::vector<std::string>>();
    t.columns.push_back(std::move(col));
  }
  return t;
}

json header(const SchemaPosition& at, const char* kind) {
  return {{"file", at.file}, {"pos", at.position}, {"kind", kind}};
}

}  // namespace

bool atOrBefore(const SchemaPosition& a, const SchemaPosition& b) {
  return compareBinlogPoints(a.file, a.position, b.file, b.position) <= 0;
}

Result<SchemaHistory> SchemaHistory::open(std::string path) {
  SchemaHistory history(std::move(path));
  std::ifstream in(history.path_, std::ios::binary);
  if (!in) {
    if (errno != ENOENT) return Status::ioError("cannot read schema history " + history.path_ + ": " + std::strerror(errno));
    return history;
  }
  std::string line;
  std::size_t lineNo = 0;
  bool torn = false;
  while (std::getline(in, line)) {
    ++lineNo;
    json j = json::parse(line, nullptr, false);
    if (j.is_discarded() || !j.is_object() || !j.contains("file") || !j.contains("pos") || !j.contains("kind")) {
      if (in.eof()) {  // the last line has no newline: an append cut short by a crash, never counted
        torn = true;
        break;
      }
      return Status::corruption(history.path_ + ":" + std::to_string(lineNo), "schema history record does not parse");
    }
    Record r;
    r.at.file = j["file"].get<std::string>();
    r.at.position = j["pos"].get<std::uint64_t>();
    r.line = std::move(line);
    history.records_.push_back(std::move(r));
  }
  if (torn) CANAL_RETURN_IF_ERROR(history.rewrite());
  return history;
}

Status SchemaHistory::append(Record record) {
  const int fd = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) return Status::ioError("cannot open schema history " + path_ + ": " + std::strerror(errno));
  const Status s = writeAllAndSync(fd, record.line + "\n", path_);
  ::close(fd);
  if (s.isOk()) records_.push_back(std::move(record));
  return s;
}

Status SchemaHistory::rewrite() {
  std::string data;
  for (const auto& r : records_) data += r.line + "\n";
  return replaceFileDurably(path_, data);
}

Status SchemaHistory::appendSnapshot(const SchemaPosition& at, const TableSet& tables) {
  json j = header(at, "snapshot");
  j["tables"] = json::array();
  for (const auto& [key, table] : tables) j["tables"].push_back(tableJson(table));
  return append(Record{at, j.dump()});
}

Status SchemaHistory::appendTable(const SchemaPosition& at, const TableSchema& table) {
  json j = header(at, "table");
  j["table"] = tableJson(table);
  return append(Record{at, j.dump()});
}

Status SchemaHistory::appendDdl(const SchemaPosition& at, const std::string& database, const std::string& sql) {
  json j = header(at, "ddl");
  j["database"] = database;
  j["sql"] = sql;
  return append(Record{at, j.dump()});
}

Result<TableSet> SchemaHistory::restore(const SchemaPosition& at, TypeSpelling spelling) {
  std::size_t keep = 0;
  while (keep < records_.size() && atOrBefore(records_[keep].at, at)) ++keep;
  TableSet tables;
  for (std::size_t i = 0; i < keep; ++i) {
    const std::string where = path_ + ":" + std::to_string(i + 1);
    try {
      const json j = json::parse(records_[i].line);
      const std::string kind = j.at("kind").get<std::string>();
      if (kind == "snapshot") {
        tables.clear();
        for (const auto& t : j.at("tables")) {
          TableSchema table = tableFromJson(t);
          tables[{table.database, table.table}] = std::move(table);
        }
      } else if (kind == "table") {
        TableSchema table = tableFromJson(j.at("table"));
        tables[{table.database, table.table}] = std::move(table);
      } else if (kind == "ddl") {
        const DdlEffect effect = applyDdl(tables, j.at("sql").get<std::string>(), j.at("database").get<std::string>(), spelling);
        if (!effect.understood) forgetUnknown(tables, effect, j.at("database").get<std::string>());
      } else {
        return Status::corruption(where, "unknown schema history record kind '" + kind + "'");
      }
    } catch (const json::exception& e) {
      return Status::corruption(where, std::string("schema history record: ") + e.what());
    }
  }
  if (keep < records_.size()) {
    records_.resize(keep);
    CANAL_RETURN_IF_ERROR(rewrite());
  }
  return tables;
}

}  // namespace canal::schema
