#include "server/convert/change.h"

#include <algorithm>

#include "server/binlog/column_type.h"
#include "server/common/sql_cursor.h"

namespace canal::convert {
namespace {

using binlog::ColumnDef;

QueryClass tableStatement(ChangeType type, std::optional<std::string> schema, std::string table,
                          std::string_view defaultDatabase) {
  QueryClass q;
  q.type = type;
  q.schema = schema ? std::move(schema) : std::optional<std::string>(std::string(defaultDatabase));
  q.table = std::move(table);
  return q;
}

std::optional<QueryClass> classifyAlterTable(SqlCursor& t, std::string_view defaultDatabase) {
  std::optional<std::string> schema;
  std::string table;
  if (!t.name(schema, table)) return QueryClass{};
  ChangeType type = ChangeType::kAlter;
  if (t.accept("ADD")) {
    if (t.accept("CONSTRAINT")) {
      const std::string maybeName = t.peek();
      if (!SqlCursor::equalsIgnoreCase(maybeName, "UNIQUE") && !SqlCursor::equalsIgnoreCase(maybeName, "PRIMARY") &&
          !SqlCursor::equalsIgnoreCase(maybeName, "FOREIGN") && !SqlCursor::equalsIgnoreCase(maybeName, "CHECK")) {
        t.next();
      }
    }
    if (t.accept("INDEX") || t.accept("KEY") || t.accept("UNIQUE") || t.accept("FULLTEXT") || t.accept("SPATIAL")) {
      type = ChangeType::kCindex;
    }
  } else if (t.accept("DROP")) {
    if (t.accept("INDEX") || t.accept("KEY") || t.accept("CONSTRAINT") || t.accept("FOREIGN")) type = ChangeType::kDindex;
  } else if (t.accept("RENAME")) {
    if (!t.accept("COLUMN") && !t.accept("INDEX") && !t.accept("KEY")) {
      if (!t.accept("TO")) t.accept("AS");
      std::optional<std::string> newSchema;
      std::string newTable;
      if (t.name(newSchema, newTable)) return tableStatement(ChangeType::kRename, newSchema, newTable, defaultDatabase);
    }
  }
  return tableStatement(type, schema, table, defaultDatabase);
}

}  // namespace

std::string_view changeTypeName(ChangeType type) {
  switch (type) {
    case ChangeType::kInsert: return "INSERT";
    case ChangeType::kUpdate: return "UPDATE";
    case ChangeType::kDelete: return "DELETE";
    case ChangeType::kCreate: return "CREATE";
    case ChangeType::kAlter: return "ALTER";
    case ChangeType::kErase: return "ERASE";
    case ChangeType::kQuery: return "QUERY";
    case ChangeType::kTruncate: return "TRUNCATE";
    case ChangeType::kRename: return "RENAME";
    case ChangeType::kCindex: return "CINDEX";
    case ChangeType::kDindex: return "DINDEX";
    case ChangeType::kGtid: return "GTID";
    case ChangeType::kXaCommit: return "XACOMMIT";
    case ChangeType::kXaRollback: return "XAROLLBACK";
    case ChangeType::kMHeartbeat: return "MHEARTBEAT";
  }
  return "QUERY";
}

void setHeader(ChangeEntry& entry, const binlog::RawEvent& event, std::string_view logfileName) {
  entry.logfileName = std::string(logfileName);
  entry.logfileOffset = event.offset;
  entry.serverId = event.header.serverId;
  entry.executeTime = std::int64_t{event.header.timestamp} * 1000;
  entry.eventLength = event.header.eventSize;
}

void ChangeEntry::reset() {
  kind = EntryKind::kRowData;
  threadId = 0;
  transactionId.clear();
  logfileName.clear();
  logfileOffset = 0;
  serverId = 0;
  executeTime = 0;
  eventLength = 0;
  schema.reset();
  table.reset();
  gtid.clear();
  currentGtid.clear();
  currentGtidSn.clear();
  currentGtidLct.clear();
  props.clear();
  snapshot = false;
  snapshotWatermark.clear();
  type = ChangeType::kQuery;
  isDdl = false;
  isDdlSet = true;
  sql.clear();
  ddlSchema.clear();
  tableId = 0;
  columns.reset();
  // rows keep their allocations: convertRows sizes them, other entries clear them.
}

std::shared_ptr<const ColumnInfos> columnInfos(const binlog::TableMapEvent& table, const schema::TableSchema* schema) {
  auto infos = std::make_shared<ColumnInfos>(table.columns.size());
  for (std::size_t i = 0; i < table.columns.size(); ++i) {
    (*infos)[i].name = table.columnName(i);
    (*infos)[i].mysqlType = schema && i < schema->columns.size() ? schema->columns[i].columnType
                                                                 : mysqlTypeFromBinlog(table.columns[i]);
    (*infos)[i].isKey = table.columns[i].isPrimaryKey;
  }
  return infos;
}

namespace {

// Renders the present cells of `image` into `out`, reusing its elements' allocations.
Status fillImage(const binlog::TableMapEvent& table, const ColumnInfos& infos, const binlog::RowImage& image,
                 const binlog::RowImage* beforeImage, const RenderOptions& options, std::vector<ChangeColumn>& out,
                 const std::string& where) {
  std::size_t n = 0;
  for (const auto& cell : image.cells) n += cell.present;
  out.resize(n);
  std::size_t k = 0;
  for (std::size_t i = 0; i < image.cells.size(); ++i) {
    const binlog::Cell& cell = image.cells[i];
    if (!cell.present) continue;
    ChangeColumn& col = out[k++];
    col.index = static_cast<std::uint32_t>(i);
    col.info = &infos[i];
    col.updated = false;
    const binlog::Cell* before = beforeImage && i < beforeImage->cells.size() ? &beforeImage->cells[i] : nullptr;
    CANAL_RETURN_IF_ERROR(renderCell(table, i, cell, before, options, col.text, where));
  }
  return Status::ok();
}

}  // namespace

Status convertRows(const binlog::RowsEvent& event, const binlog::TableMapEvent& table,
                   std::shared_ptr<const ColumnInfos> columns, const RenderOptions& options, ChangeEntry& entry,
                   const std::string& where) {
  entry.schema = table.database;
  entry.table = table.table;
  entry.tableId = event.tableId;
  entry.isDdl = false;
  entry.sql.clear();
  entry.type = event.kind == binlog::RowsKind::kInsert   ? ChangeType::kInsert
               : event.kind == binlog::RowsKind::kUpdate ? ChangeType::kUpdate
                                                         : ChangeType::kDelete;
  entry.columns = std::move(columns);
  const ColumnInfos& infos = *entry.columns;

  binlog::RowReader reader(event, table, where);
  binlog::Row row;
  std::size_t count = 0;
  for (;;) {
    auto more = reader.next(row);
    if (!more) return more.status();
    if (!*more) break;
    if (count == entry.rows.size()) entry.rows.emplace_back();
    ChangeRow& change = entry.rows[count++];
    CANAL_RETURN_IF_ERROR(fillImage(table, infos, row.before, nullptr, options, change.before, where));
    CANAL_RETURN_IF_ERROR(
        fillImage(table, infos, row.after, row.before.empty() ? nullptr : &row.before, options, change.after, where));
    // updated: an after column differs from the before column of the same index (all of an INSERT's).
    std::size_t b = 0;
    for (auto& a : change.after) {
      while (b < change.before.size() && change.before[b].index < a.index) ++b;
      const bool paired = b < change.before.size() && change.before[b].index == a.index;
      a.updated = !paired || a.text.isNull != change.before[b].text.isNull ||
                  (!a.text.isNull && a.text.value != change.before[b].text.value);
    }
  }
  entry.rows.resize(count);
  return Status::ok();
}

std::optional<QueryClass> classifyQuery(std::string_view sql, std::string_view defaultDatabase) {
  SqlCursor t(sql);
  const std::string head = t.next();
  auto is = [&](std::string_view w) { return SqlCursor::equalsIgnoreCase(head, w); };
  std::optional<std::string> schema;
  std::string table;

  if (is("CREATE")) {
    if (t.accept("OR")) t.accept("REPLACE");
    t.accept("TEMPORARY");
    if (t.accept("TABLE")) {
      if (t.accept("IF")) { t.accept("NOT"); t.accept("EXISTS"); }
      if (!t.name(schema, table)) return QueryClass{};
      return tableStatement(ChangeType::kCreate, schema, table, defaultDatabase);
    }
    if (t.accept("DATABASE") || t.accept("SCHEMA")) {
      if (t.accept("IF")) { t.accept("NOT"); t.accept("EXISTS"); }
      QueryClass q;
      q.schema = t.next();
      return q;
    }
    if (!t.accept("UNIQUE") && !t.accept("FULLTEXT")) t.accept("SPATIAL");
    if (t.accept("INDEX")) {
      while (!t.peek().empty() && !t.accept("ON")) t.next();  // index name, USING ...
      if (!t.name(schema, table)) return QueryClass{};
      return tableStatement(ChangeType::kCindex, schema, table, defaultDatabase);
    }
    return std::nullopt;  // VIEW, TRIGGER, FUNCTION, PROCEDURE, USER, EVENT, ...
  }
  if (is("ALTER")) {
    t.accept("ONLINE");
    t.accept("IGNORE");
    if (t.accept("TABLE")) return classifyAlterTable(t, defaultDatabase);
    if (t.accept("DATABASE") || t.accept("SCHEMA")) {
      QueryClass q;
      q.schema = t.next();
      return q;
    }
    return std::nullopt;
  }
  if (is("DROP")) {
    t.accept("TEMPORARY");
    if (t.accept("TABLE")) {
      if (t.accept("IF")) t.accept("EXISTS");
      if (!t.name(schema, table)) return QueryClass{};
      return tableStatement(ChangeType::kErase, schema, table, defaultDatabase);
    }
    if (t.accept("INDEX")) {
      t.next();
      if (!t.accept("ON") || !t.name(schema, table)) return QueryClass{};
      return tableStatement(ChangeType::kDindex, schema, table, defaultDatabase);
    }
    if (t.accept("DATABASE") || t.accept("SCHEMA")) {
      if (t.accept("IF")) t.accept("EXISTS");
      QueryClass q;
      q.schema = t.next();
      return q;
    }
    return std::nullopt;
  }
  if (is("TRUNCATE")) {
    t.accept("TABLE");
    if (!t.name(schema, table)) return QueryClass{};
    return tableStatement(ChangeType::kTruncate, schema, table, defaultDatabase);
  }
  if (is("RENAME")) {
    if (!t.accept("TABLE")) return std::nullopt;  // RENAME USER
    std::optional<std::string> oldSchema;
    std::string oldTable;
    if (!t.name(oldSchema, oldTable) || !t.accept("TO") || !t.name(schema, table)) return QueryClass{};
    return tableStatement(ChangeType::kRename, schema, table, defaultDatabase);
  }
  if (is("INSERT") || is("REPLACE") || is("UPDATE") || is("DELETE")) {
    const ChangeType type = is("UPDATE") ? ChangeType::kUpdate : is("DELETE") ? ChangeType::kDelete : ChangeType::kInsert;
    for (const char* modifier : {"LOW_PRIORITY", "DELAYED", "HIGH_PRIORITY", "QUICK", "IGNORE"}) t.accept(modifier);
    if (type == ChangeType::kDelete) t.accept("FROM"); else t.accept("INTO");
    QueryClass q;
    q.type = type;
    q.isDdl = false;
    if (t.name(schema, table)) {
      q.schema = schema ? *schema : std::string(defaultDatabase);
      q.table = table;
    }
    return q;
  }
  if (is("XA")) {
    QueryClass q;
    if (t.accept("COMMIT")) q.type = ChangeType::kXaCommit;
    else if (t.accept("ROLLBACK")) q.type = ChangeType::kXaRollback;
    else return std::nullopt;  // START / END / PREPARE frame the transaction
    q.isDdl = false;
    q.schema = "";
    q.table = "";
    return q;
  }
  static constexpr std::string_view kSilent[] = {
      "BEGIN", "COMMIT", "ROLLBACK", "START", "SAVEPOINT", "RELEASE", "SET", "GRANT", "REVOKE", "FLUSH", "USE",
      "ANALYZE", "OPTIMIZE", "REPAIR", "CHECK", "LOCK", "UNLOCK", "INSTALL", "UNINSTALL", "CALL", "DO", "RESET",
      "PURGE", "CHANGE", "KILL", "SHOW", "SELECT", "LOAD"};
  for (const auto w : kSilent) {
    if (is(w)) return std::nullopt;
  }
  return QueryClass{};
}

std::string mysqlTypeFromBinlog(const ColumnDef& c) {
  using namespace binlog;
  const std::string unsignedSuffix = c.isUnsigned.value_or(false) ? " unsigned" : "";
  auto withFsp = [&](const char* name) {
    return c.fsp ? std::string(name) + "(" + std::to_string(c.fsp) + ")" : std::string(name);
  };
  auto members = [&](const char* name) {
    std::string s = name;
    if (c.members.empty()) return s;
    s.push_back('(');
    for (std::size_t i = 0; i < c.members.size(); ++i) {
      if (i) s.push_back(',');
      s.push_back('\'');
      for (const char ch : c.members[i]) {
        if (ch == '\'') s.push_back('\'');
        s.push_back(ch);
      }
      s.push_back('\'');
    }
    s.push_back(')');
    return s;
  };
  const bool binary = isBinaryColumn(c);
  switch (c.realType) {
    case kTypeTiny: return "tinyint" + unsignedSuffix;
    case kTypeShort: return "smallint" + unsignedSuffix;
    case kTypeInt24: return "mediumint" + unsignedSuffix;
    case kTypeLong: return "int" + unsignedSuffix;
    case kTypeLonglong: return "bigint" + unsignedSuffix;
    case kTypeFloat: return "float" + unsignedSuffix;
    case kTypeDouble: return "double" + unsignedSuffix;
    case kTypeNewDecimal:
      return "decimal(" + std::to_string(c.precision) + "," + std::to_string(c.scale) + ")" + unsignedSuffix;
    case kTypeBit: return "bit(" + std::to_string(c.bits) + ")";
    case kTypeYear: return "year";
    case kTypeDate: case kTypeNewDate: return "date";
    case kTypeTime: case kTypeTime2: return withFsp("time");
    case kTypeDatetime: case kTypeDatetime2: return withFsp("datetime");
    case kTypeTimestamp: case kTypeTimestamp2: return withFsp("timestamp");
    case kTypeVarchar: case kTypeVarString: return binary ? "varbinary" : "varchar";
    case kTypeString: return binary ? "binary" : "char";
    case kTypeBlob: case kTypeTinyBlob: case kTypeMediumBlob: case kTypeLongBlob: {
      if (c.declared == DeclaredType::kJson) return "json";
      static constexpr const char* kPrefix[] = {"", "tiny", "", "medium", "long"};
      const char* prefix = c.lengthBytes <= 4 ? kPrefix[c.lengthBytes] : "";
      return std::string(prefix) + (c.collation && !binary ? "text" : "blob");
    }
    case kTypeEnum: return members("enum");
    case kTypeSet: return members("set");
    case kTypeJson: return "json";
    case kTypeGeometry: {
      static constexpr const char* kNames[] = {"geometry", "point", "linestring", "polygon", "multipoint",
                                               "multilinestring", "multipolygon", "geometrycollection"};
      return c.geometryType && *c.geometryType < 8 ? kNames[*c.geometryType] : "geometry";
    }
    case kTypeVector:
      return c.vectorDimension ? "vector(" + std::to_string(*c.vectorDimension) + ")" : "vector";
    default: return std::string(columnTypeName(c.realType));
  }
}

}  // namespace canal::convert
