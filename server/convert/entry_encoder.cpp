#include "server/convert/entry_encoder.h"

#include "canal/protocol/entry_protocol.pb.h"

namespace canal::convert {
namespace {

namespace pb = canal::protocol::entry;

template <typename Message>
void addPair(Message& m, const std::string& key, const std::string& value) {
  pb::Pair* p = m.add_props();
  p->set_key(key);
  p->set_value(value);
}

template <typename Message>
void addProps(Message& m, const ChangeEntry& e) {
  for (const auto& [key, value] : e.props) addPair(m, key, value);
}

void fillHeader(const ChangeEntry& e, pb::Header& h) {
  h.set_version(1);
  h.set_logfilename(e.logfileName);
  h.set_logfileoffset(static_cast<std::int64_t>(e.logfileOffset));
  h.set_serverid(e.serverId);
  h.set_serverencode("UTF-8");
  h.set_executetime(e.executeTime);
  h.set_sourcetype(pb::MYSQL);
  if (e.kind != EntryKind::kRowData) {
    h.set_schemaname("");
    h.set_tablename("");
  } else {
    if (e.schema) h.set_schemaname(*e.schema);
    if (e.table) h.set_tablename(*e.table);
  }
  h.set_eventlength(e.eventLength);
  if (e.kind == EntryKind::kRowData) h.set_eventtype(static_cast<pb::EventType>(e.type));
  if (!e.currentGtid.empty()) addPair(h, "curtGtid", e.currentGtid);
  if (!e.currentGtidSn.empty()) addPair(h, "curtGtidSn", e.currentGtidSn);
  if (!e.currentGtidLct.empty()) addPair(h, "curtGtidLct", e.currentGtidLct);
  if (e.kind == EntryKind::kRowData && e.columns && !e.rows.empty()) {
    addPair(h, "rowsCount", std::to_string(e.rows.size()));
  }
  if (!e.gtid.empty()) h.set_gtid(e.gtid);
}

void fillColumns(const std::vector<ChangeColumn>& columns, google::protobuf::RepeatedPtrField<pb::Column>& out) {
  for (const ChangeColumn& c : columns) {
    pb::Column* col = out.Add();
    col->set_index(static_cast<std::int32_t>(c.index));
    col->set_sqltype(c.text.sqlType);
    col->set_name(c.name());
    col->set_iskey(c.isKey());
    col->set_updated(c.updated);
    col->set_isnull(c.text.isNull);
    if (!c.text.isNull) col->set_value(c.text.value);
    col->set_mysqltype(c.mysqlType());
  }
}

}  // namespace

struct EntryEncoder::Messages {
  pb::Entry entry;
  pb::RowChange rowChange;
  pb::TransactionBegin begin;
  pb::TransactionEnd end;
  std::string storeValue;
};

EntryEncoder::EntryEncoder() : messages_(std::make_unique<Messages>()) {}
EntryEncoder::~EntryEncoder() = default;

void EntryEncoder::encode(const ChangeEntry& e, std::string& out) {
  Messages& m = *messages_;
  m.entry.Clear();
  m.storeValue.clear();
  fillHeader(e, *m.entry.mutable_header());
  m.entry.set_entrytype(static_cast<pb::EntryType>(e.kind));
  if (e.kind == EntryKind::kTransactionBegin) {
    m.begin.Clear();
    m.begin.set_threadid(static_cast<std::int64_t>(e.threadId));
    addProps(m.begin, e);
    m.begin.SerializeToString(&m.storeValue);
  } else if (e.kind == EntryKind::kTransactionEnd) {
    m.end.Clear();
    m.end.set_transactionid(e.transactionId);
    addProps(m.end, e);
    m.end.SerializeToString(&m.storeValue);
  } else {
    pb::RowChange& rc = m.rowChange;
    rc.Clear();
    const bool rowsEvent = e.columns != nullptr;
    if (rowsEvent) rc.set_tableid(static_cast<std::int64_t>(e.tableId));
    rc.set_eventtype(static_cast<pb::EventType>(e.type));
    if (e.isDdlSet) rc.set_isddl(e.isDdl);
    if (!rowsEvent) {
      rc.set_sql(e.sql);
      if (!e.ddlSchema.empty()) rc.set_ddlschemaname(e.ddlSchema);
    }
    addProps(rc, e);
    for (const ChangeRow& row : e.rows) {
      pb::RowData* data = rc.add_rowdatas();
      fillColumns(row.before, *data->mutable_beforecolumns());
      fillColumns(row.after, *data->mutable_aftercolumns());
    }
    rc.SerializeToString(&m.storeValue);
  }
  m.entry.set_storevalue(m.storeValue);
  out.clear();
  m.entry.SerializeToString(&out);
}

}  // namespace canal::convert
