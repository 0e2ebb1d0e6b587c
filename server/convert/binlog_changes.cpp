#include "server/convert/binlog_changes.h"

#include <cctype>

#include "server/binlog/event_decoder.h"
#include "server/binlog/event_type.h"
#include "server/binlog/rows_event.h"
#include "server/schema/schema_history.h"

namespace canal::convert {
namespace {

bool endsWithIgnoreCase(std::string_view text, std::string_view suffix) {
  while (!text.empty() && (std::isspace(static_cast<unsigned char>(text.back())) || text.back() == ';')) {
    text.remove_suffix(1);
  }
  if (text.size() < suffix.size()) return false;
  text = text.substr(text.size() - suffix.size());
  for (std::size_t i = 0; i < suffix.size(); ++i) {
    if (std::toupper(static_cast<unsigned char>(text[i])) != suffix[i]) return false;
  }
  return true;
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
  if (type == binlog::kTableMapEvent) {
    auto table = binlog::decodeTableMap(event.body, format, where);
    if (!table) return table.status();
    if (filter_ && !filter_->accepts(table->database, table->table)) {
      Table skipped;
      skipped.skipped = true;
      tables_[table->tableId] = std::move(skipped);
      return false;
    }
    std::shared_ptr<const schema::TableSchema> definition;
    if (schemas_ && !table->hasNames) {
      const schema::SchemaPosition at{std::string(file), event.header.logPos};
      auto found = schemas_->table(table->database, table->table, &at);
      if (!found && skipUnknownTables_ && found.status().code() == StatusCode::kNotFound) {
        ++stats_.unknownTables;
        Table skipped;
        skipped.skipped = true;
        tables_[table->tableId] = std::move(skipped);
        return false;
      }
      if (!found) return found.status().withContext("table definition for the TABLE_MAP at " + where);
      definition = *found;
      CANAL_RETURN_IF_ERROR(schema::applySchema(*table, *definition, where));
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
    tables_[id] = Table{std::move(map), std::move(columns), std::move(columnFilter), false};
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
    setHeader(out, event, file);
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
    out.reset();
    out.rows.clear();
    setHeader(out, event, file);
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
  const bool begin = endsWithIgnoreCase(query.query, "BEGIN");
  if (begin || endsWithIgnoreCase(query.query, "COMMIT")) {
    if (!transactionEntries_) return false;
    out.reset();
    out.rows.clear();
    setHeader(out, event, file);
    out.kind = begin ? EntryKind::kTransactionBegin : EntryKind::kTransactionEnd;
    if (begin) out.threadId = query.threadId;
    else out.transactionId = "0";
    return true;
  }
  const auto kind = classifyQuery(query.query, query.database);
  if (!kind) return false;
  out.reset();
  out.rows.clear();
  setHeader(out, event, file);
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
  if (filter_ && out.isDdl && out.type != ChangeType::kQuery && out.table &&
      !filter_->accepts(out.schema.value_or(""), *out.table)) {
    return false;
  }
  ++stats_.entries;
  return true;
}

}  // namespace canal::convert
