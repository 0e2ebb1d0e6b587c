#include "server/convert/binlog_changes.h"

#include <spdlog/spdlog.h>

#include <cctype>
#include <cstring>

#include "server/binlog/event_decoder.h"
#include "server/binlog/event_type.h"
#include "server/binlog/column_value.h"
#include "server/binlog/rows_event.h"
#include "server/common/byte_reader.h"
#include "server/common/java_number.h"
#include "server/common/logging.h"
#include "server/common/sql_cursor.h"
#include "server/schema/schema_history.h"

namespace canal::convert {
namespace {

bool endsWithIgnoreCase(std::string_view text, std::string_view suffix) {
  while (!text.empty() && (std::isspace(static_cast<unsigned char>(text.back())) || text.back() == ';')) {
    text.remove_suffix(1);
  }
  return text.size() >= suffix.size() && SqlCursor::equalsIgnoreCase(text.substr(text.size() - suffix.size()), suffix);
}

bool startsWithIgnoreCase(std::string_view text, std::string_view prefix) {
  return text.size() >= prefix.size() && SqlCursor::equalsIgnoreCase(text.substr(0, prefix.size()), prefix);
}

// Canal's text for a USER_VAR event: SET @name := value, strings quoted as they are.
std::string userVarQuery(const binlog::UserVarEvent& v) {
  std::string q = "SET @" + v.name + " := ";
  if (v.isNull) return q + "NULL";
  switch (v.valueType) {
    case 0: return q + "'" + v.value + "'";
    case 1: {
      double d = 0;
      if (v.value.size() == sizeof d) std::memcpy(&d, v.value.data(), sizeof d);
      appendJavaDouble(q, d);
      return q;
    }
    case 2:
      if (v.value.size() == 4) return q + std::to_string(binlog::readUnsignedLe(v.value));
      return q + std::to_string(binlog::readSignedLe(v.value));
    case 4:
      if (v.value.size() >= 2 &&
          binlog::appendDecimal(q, std::string_view(v.value).substr(2), static_cast<std::uint8_t>(v.value[0]),
                                static_cast<std::uint8_t>(v.value[1]), binlog::DecimalStyle::kCanal)) {
        return q;
      }
      return q + "NULL";
    default: return q + "NULL";
  }
}

}  // namespace

BinlogChangeReader::BinlogChangeReader(std::string_view data, std::string fileName, RenderOptions options,
                                       binlog::EventStreamOptions streamOptions)
    : fileName_(std::move(fileName)), stream_(data, fileName_, streamOptions), assembler_(options) {
  const auto slash = fileName_.find_last_of('/');
  if (slash != std::string::npos) fileName_ = fileName_.substr(slash + 1);
}

Result<bool> BinlogChangeReader::next(ChangeEntry& out) {
  binlog::RawEvent event;
  for (;;) {
    const binlog::EventStream& stream = inner_ ? *inner_ : stream_;
    auto more = inner_ ? inner_->next(event) : stream_.next(event);
    if (!more) return more.status();
    if (!*more) {
      if (!inner_) return false;
      inner_.reset();
      continue;
    }
    // Inner events carry no position of their own: they take the payload event's.
    if (inner_) event.offset = payloadOffset_;
    const std::string where = stream.where(event.offset);
    auto produced = assembler_.handle(event, stream.format(), fileName_, where, out);
    if (!produced) return produced.status();
    if (*produced) return true;
    if (auto payload = assembler_.takePayload()) {
      payload_ = std::move(*payload);
      payloadOffset_ = event.offset;
      inner_.emplace(binlog::EventStream::forPayload(payload_, where + " payload", stream_.format()));
    }
  }
}

std::optional<std::string> ChangeAssembler::takePayload() {
  std::optional<std::string> p = std::move(payload_);
  payload_.reset();
  return p;
}

Status ChangeAssembler::handleEach(const binlog::RawEvent& event, const binlog::FormatDescription& format,
                                   std::string_view file, const std::string& where, ChangeEntry& out,
                                   const std::function<Status()>& emit) {
  auto produced = handle(event, format, file, where, out);
  if (!produced) return produced.status();
  if (*produced) return emit();
  auto payload = takePayload();
  if (!payload) return Status::ok();
  binlog::EventStream inner = binlog::EventStream::forPayload(*payload, where + " payload", format);
  binlog::RawEvent ie;
  for (;;) {
    auto more = inner.next(ie);
    if (!more) return more.status();
    if (!*more) return Status::ok();
    ie.offset = event.offset;
    auto p = handle(ie, format, file, where, out);
    if (!p) return p.status();
    if (*p) CANAL_RETURN_IF_ERROR(emit());
  }
}

Status ChangeAssembler::setGtidMode(std::string_view executed) {
  gtidMode_ = true;
  currentGtid_.clear();
  currentGtidSn_.clear();
  currentGtidLct_.clear();
  return gtids_.start(executed);
}

Status ChangeAssembler::noteGtid(const binlog::RawEvent& event, const binlog::FormatDescription& format,
                                 const std::string& where) {
  auto body = binlog::decodeEventBody(event, format, where);
  if (!body) return body.status();
  if (const auto* g = std::get_if<binlog::GtidEvent>(&*body)) {
    if (g->anonymous) return Status::ok();
    gtids_.note(*g);
    currentGtid_ = g->gtid();
    currentGtidSn_ = std::to_string(g->sequenceNumber.value_or(0));
    currentGtidLct_ = std::to_string(g->lastCommitted.value_or(0));
    return Status::ok();
  }
  if (const auto* g = std::get_if<binlog::MariaGtidEvent>(&*body)) gtids_.note(*g, event.header.serverId);
  return Status::ok();
}

void ChangeAssembler::parkRows(ChangeEntry& out) {
  if (out.rows.size() > spareRows_.size()) std::swap(out.rows, spareRows_);
  out.rows.clear();
}

void ChangeAssembler::takeRows(ChangeEntry& out) {
  if (spareRows_.size() > out.rows.size()) std::swap(out.rows, spareRows_);
}

void ChangeAssembler::startEntry(ChangeEntry& out, const binlog::RawEvent& event, std::string_view file) {
  out.reset();
  parkRows(out);
  setHeader(out, event, file);
  stampGtid(out);
}

void ChangeAssembler::stampGtid(ChangeEntry& out) const {
  if (!gtidMode_) return;
  out.gtid = gtids_.executedWithPending();
  out.currentGtid = currentGtid_;
  out.currentGtidSn = currentGtidSn_;
  out.currentGtidLct = currentGtidLct_;
}

Result<bool> ChangeAssembler::contextEntry(const binlog::RawEvent& event, const binlog::FormatDescription& format,
                                           std::string_view file, const std::string& where, ChangeEntry& out) {
  auto body = binlog::decodeEventBody(event, format, where);
  if (!body) return body.status();
  out.reset();
  parkRows(out);
  setHeader(out, event, file);
  out.type = ChangeType::kQuery;
  out.isDdlSet = false;
  out.schema = "";
  out.table = "";
  if (const auto* q = std::get_if<binlog::RowsQueryEvent>(&*body)) {
    out.sql = q->query;
    if (event.header.type == binlog::kRowsQueryLogEvent) {
      // The table as Canal's SQL parser finds it, without a default database; none if unknown.
      const auto kind = classifyQuery(out.sql, "");
      out.table = kind ? kind->table : std::nullopt;
    }
  } else if (const auto* v = std::get_if<binlog::UserVarEvent>(&*body)) {
    out.sql = userVarQuery(*v);
  } else if (const auto* i = std::get_if<binlog::IntvarEvent>(&*body)) {
    out.sql = "SET INSERT_ID = " + std::to_string(static_cast<std::int64_t>(i->value));
  } else if (const auto* r = std::get_if<binlog::RandEvent>(&*body)) {
    out.sql = "SET SESSION rand_seed1 = " + std::to_string(static_cast<std::int64_t>(r->seed1)) +
              " , rand_seed2 = " + std::to_string(static_cast<std::int64_t>(r->seed2));
  } else {
    return false;
  }
  ++stats_.entries;
  return true;
}

void ChangeAssembler::dropFilteredColumns(const Table& table, ChangeEntry& out) const {
  const auto dropped = [&](const ChangeColumn& c) {
    return !table.columnFilter->keepsColumn(table.map->database, table.map->table, c.name());
  };
  for (ChangeRow& row : out.rows) {
    std::erase_if(row.before, dropped);
    std::erase_if(row.after, dropped);
  }
}

Result<bool> ChangeAssembler::handle(const binlog::RawEvent& event, const binlog::FormatDescription& format,
                                     std::string_view file, const std::string& where, ChangeEntry& out) {
  ++stats_.events;
  const std::uint8_t type = event.header.type;
  if (!binlog::isKnownEventType(type)) {
    ++stats_.unknownEvents;
    return false;
  }
  if (gtidMode_ && (type == binlog::kGtidLogEvent || type == binlog::kGtidTaggedLogEvent ||
                    type == binlog::kMariaGtidEvent)) {
    CANAL_RETURN_IF_ERROR(noteGtid(event, format, where));
    return false;
  }
  if (contextEntries_ && (type == binlog::kRowsQueryLogEvent || type == binlog::kMariaAnnotateRowsEvent ||
                          type == binlog::kUserVarEvent || type == binlog::kIntvarEvent || type == binlog::kRandEvent)) {
    return contextEntry(event, format, file, where, out);
  }
  if (type == binlog::kTableMapEvent) {
    // A transaction of its own carries a TABLE_MAP each time; while the table's id, definition and
    // our filters are the same, its bytes are too, and what was made of them is reused.
    {
      ByteReader id(event.body);
      const auto known = tables_.find(format.postHeaderLength(binlog::kTableMapEvent) == 6 ? id.u32() : id.u48());
      if (!id.failed() && known != tables_.end() && !known->second.body.empty() && known->second.body == event.body &&
          known->second.filter == filter_.get()) {
        return false;
      }
    }
    // The names first: a table the filter rejects is neither decoded nor looked up.
    auto head = binlog::decodeTableMapHeader(event.body, format, where);
    if (!head) return head.status();
    const auto skip = [&](bool remember) {
      Table skipped;
      skipped.skipped = true;
      if (remember) {
        skipped.body = std::string(event.body);
        skipped.filter = filter_.get();
      }
      tables_[head->tableId] = std::move(skipped);
      return false;
    };
    if (filter_ && !filter_->accepts(head->database, head->table)) return skip(true);
    const std::string name = head->database + "." + head->table;
    auto table = binlog::decodeTableMap(event.body, format, where);
    if (!table) {
      if (!skipUnknownTables_) {
        return Status::corruption(table.status().where(),
                                  "table " + name + ": " + table.status().message() +
                                      " (the destination retries here; canal.instance.filter.table.error = true "
                                      "skips the table's rows, or exclude it with canal.instance.filter.black.regex)");
      }
      ++stats_.undecodableTables;
      moduleLogger("convert")->warn("{}: the TABLE_MAP of {} cannot be read ({}); its rows are skipped "
                                    "(canal.instance.filter.table.error = true)",
                                    where, name, table.status().message());
      return skip(true);  // quietly while the same TABLE_MAP comes again
    }
    std::shared_ptr<const schema::TableSchema> definition;
    if (schemas_) {
      const schema::SchemaPosition at{std::string(file), event.header.logPos};
      auto found = schemas_->table(table->database, table->table, &at);
      if (!table->hasNames) {
        if (!found && skipUnknownTables_ && found.status().code() == StatusCode::kNotFound) {
          ++stats_.unknownTables;
          return skip(false);
        }
        if (!found) return found.status().withContext("table definition for the TABLE_MAP at " + where);
        definition = *found;
        CANAL_RETURN_IF_ERROR(schema::applySchema(*table, *definition, where));
      } else if (found && schema::applyDeclaredTypes(*table, **found)) {
        // Full metadata names the columns but not what only the declared type says (MariaDB's
        // JSON, UUID, INET4/6) nor the type as the definition spells it (Canal's mysqlType).
        definition = *found;
      }
    }
    auto map = std::make_shared<const binlog::TableMapEvent>(std::move(table).value());
    auto columns = columnInfos(*map, definition.get());
    const std::uint64_t id = map->tableId;
    std::shared_ptr<const TableFilter> columnFilter;
    if (filter_ && filter_->filtersColumns()) {
      for (const ColumnInfo& c : *columns) {
        if (!filter_->keepsColumn(map->database, map->table, c.name)) columnFilter = filter_;
      }
    }
    tables_[id] = Table{std::move(map), std::move(columns), std::move(columnFilter), false, std::string(event.body),
                        filter_.get()};
    return false;
  }
  if (binlog::isRowsEvent(type)) {
    auto rows = binlog::RowsEvent::decode(event, format, where);
    if (!rows) return rows.status();
    const auto it = tables_.find(rows->tableId);
    if (it == tables_.end()) {
      return Status::corruption(where, "rows event for table id " + std::to_string(rows->tableId) +
                                           " has no TABLE_MAP before it");
    }
    if (it->second.skipped) {
      ++stats_.filteredEvents;
      return false;
    }
    out.reset();
    takeRows(out);
    setHeader(out, event, file);
    stampGtid(out);
    CANAL_RETURN_IF_ERROR(convertRows(*rows, *it->second.map, it->second.columns, options_, out, where));
    if (it->second.columnFilter) dropFilteredColumns(it->second, out);
    stats_.rows += out.rows.size();
    ++stats_.entries;
    return true;
  }
  if (type == binlog::kXidEvent) {
    if (!transactionEntries_) return false;
    auto xid = binlog::decodeXid(event.body, where);
    if (!xid) return xid.status();
    startEntry(out, event, file);
    out.kind = EntryKind::kTransactionEnd;
    out.transactionId = std::to_string(xid->xid);
    return true;
  }
  if (type != binlog::kQueryEvent && type != binlog::kMariaQueryCompressedEvent &&
      type != binlog::kTransactionPayloadEvent) {
    return false;
  }
  auto body = binlog::decodeEventBody(event, format, where);
  if (!body) return body.status();
  if (auto* payload = std::get_if<binlog::TransactionPayloadEvent>(&*body)) {
    payload_ = std::move(payload->payload);
    return false;
  }
  const auto& query = std::get<binlog::QueryEvent>(*body);
  // XA statements, matched at the start of the text as Canal does; XA_XID is the rest of it.
  static constexpr std::string_view kXa[] = {"XA START", "XA END", "XA COMMIT", "XA ROLLBACK"};
  for (std::size_t i = 0; i < std::size(kXa); ++i) {
    if (!startsWithIgnoreCase(query.query, kXa[i])) continue;
    if (i < 2 && !transactionEntries_) return false;
    startEntry(out, event, file);
    out.props = {{"XA_TYPE", std::string(kXa[i])}, {"XA_XID", query.query.substr(kXa[i].size())}};
    if (i == 0) {
      out.kind = EntryKind::kTransactionBegin;
      out.threadId = query.threadId;
    } else if (i == 1) {
      out.kind = EntryKind::kTransactionEnd;
      out.transactionId = "0";
    } else {
      out.type = i == 2 ? ChangeType::kXaCommit : ChangeType::kXaRollback;
      out.isDdlSet = false;
      out.schema = "";
      out.table = "";
      out.sql = query.query;
      ++stats_.entries;
    }
    return true;
  }
  const bool begin = endsWithIgnoreCase(query.query, "BEGIN");
  if (begin || endsWithIgnoreCase(query.query, "COMMIT")) {
    if (!transactionEntries_) return false;
    startEntry(out, event, file);
    out.kind = begin ? EntryKind::kTransactionBegin : EntryKind::kTransactionEnd;
    if (begin) out.threadId = query.threadId;
    else out.transactionId = "0";
    return true;
  }
  const auto kind = classifyQuery(query.query, query.database);
  if (!kind) return false;
  startEntry(out, event, file);
  out.type = kind->type;
  out.isDdl = kind->isDdl;
  out.schema = kind->schema;
  out.table = kind->table;
  out.sql = query.query;
  out.ddlSchema = query.database;
  if (schemas_ && out.isDdl) {
    const schema::SchemaPosition at{std::string(file), event.header.logPos};
    CANAL_RETURN_IF_ERROR(schemas_->applyDdl(query.query, query.database, &at).withContext(where));
  }
  if (out.isDdl) {  // a definition may have changed under an unchanged TABLE_MAP
    for (auto& [id, table] : tables_) table.body.clear();
  }
  if (filter_ && out.isDdl && out.type != ChangeType::kQuery && out.table &&
      !filter_->accepts(out.schema.value_or(""), *out.table)) {
    return false;
  }
  ++stats_.entries;
  return true;
}

}  // namespace canal::convert
