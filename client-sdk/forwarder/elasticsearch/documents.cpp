#include "forwarder/elasticsearch/documents.h"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <numeric>
#include <optional>
#include <set>

#include "forwarder/elasticsearch/es_values.h"
#include "forwarder/row_image.h"
#include "forwarder/sink.h"  // kSinkFatal

namespace canal::forwarder {
namespace {

using client::Result;
using client::Status;
using Json = nlohmann::ordered_json;
using Key = std::vector<std::string>;
using SourceRow = std::vector<std::optional<std::string>>;

constexpr std::size_t kKeysPerQuery = 500;

// The values of `columns` in `image`; nullopt when one is missing or NULL (NULL joins nothing).
std::optional<Key> valuesOf(const Image& image, const std::vector<std::string>& columns) {
  Key out;
  for (const auto& name : columns) {
    const eb::Column* c = columnOf(image, name);
    if (!c || c->isnull()) return std::nullopt;
    out.push_back(c->value());
  }
  return out;
}

std::optional<Key> valuesOf(const SourceRow& row, const std::vector<std::size_t>& indexes) {
  Key out;
  for (std::size_t i : indexes) {
    if (!row[i]) return std::nullopt;
    out.push_back(*row[i]);
  }
  return out;
}

// The positions of `columns` in `rows`; an error naming the first missing one.
Result<std::vector<std::size_t>> indexesOf(const SourceRows& rows, const std::vector<std::string>& columns,
                                          const std::string& table) {
  std::vector<std::size_t> out;
  for (const auto& name : columns) {
    const auto i = rows.columnIndex(name);
    if (!i) return Status(kSinkFatal, "elasticsearch documents: " + table + " has no column '" + name + "'");
    out.push_back(*i);
  }
  return out;
}

std::string documentId(const Key& key) {
  std::string id;
  for (std::size_t i = 0; i < key.size(); ++i) id += (i ? "_" : "") + key[i];
  return id;
}

// SELECT of every row whose `query.where` columns hold one of `keys`, a few hundred keys a query.
Result<SourceRows> selectAll(RowSource& source, RowQuery query, const std::set<Key>& keys) {
  SourceRows all;
  auto next = keys.begin();
  do {
    query.keys.clear();
    while (next != keys.end() && query.keys.size() < kKeysPerQuery) query.keys.push_back(*next++);
    auto part = source.select(query);
    if (!part) return part.status();
    if (all.columns.empty()) {
      all.columns = std::move(part->columns);
      all.types = std::move(part->types);
    }
    for (auto& row : part->rows) all.rows.push_back(std::move(row));
  } while (next != keys.end());
  return all;
}

// The selected columns of `row` as fields of `into`.
void addFields(Json& into, const SourceRows& rows, const SourceRow* row, const FieldSelection& fields,
               const std::map<std::string, FieldType>& types) {
  for (std::size_t i = 0; i < rows.columns.size(); ++i) {
    const std::string& name = rows.columns[i];
    if (!fields.selected(name)) continue;
    const auto typed = types.find(name);
    const FieldType type = typed == types.end() || typed->second == FieldType::kAuto ? rows.types[i] : typed->second;
    into[fields.fieldOf(name)] = row && (*row)[i] ? typedValue(*(*row)[i], type) : Json(nullptr);
  }
}


// Where each id column sits among a join's main table columns, when the join is on exactly
// the id columns (its rows name their documents directly); empty otherwise.
std::vector<std::size_t> directJoin(const std::vector<std::string>& id, const std::vector<std::string>& mainColumns) {
  std::vector<std::size_t> out;
  if (id.size() != mainColumns.size()) return {};
  for (const auto& column : id) {
    std::size_t i = 0;
    while (i < mainColumns.size() && mainColumns[i] != column) ++i;
    if (i == mainColumns.size()) return {};
    out.push_back(i);
  }
  return out;
}

}  // namespace

struct DocumentBuilder::Plan {
  std::set<Key> keys;                        // main keys whose documents are built again
  std::map<Key, std::string> routingBefore;  // a main row's routing before its change
  std::vector<std::set<Key>> lookups;        // per join: joined values whose documents a query finds
  const Change* last = nullptr;              // the newest change behind the plan
};

DocumentBuilder::DocumentBuilder(std::vector<DocumentMapping> documents, RowSource& source)
    : documents_(std::move(documents)), source_(source) {
  const auto split = [](const std::string& qualified) {
    const auto dot = qualified.find('.');
    return Table{qualified.substr(0, dot), qualified.substr(dot + 1)};
  };
  for (const auto& d : documents_) {
    mains_.push_back(split(d.table));
    auto& joins = joins_.emplace_back();
    for (const auto& j : d.joins) {
      Join& join = joins.emplace_back();
      join.table = split(j.table);
      for (const auto& [mainColumn, joinedColumn] : j.on) {
        join.mainColumns.push_back(mainColumn);
        join.joinedColumns.push_back(joinedColumn);
      }
    }
  }
}

Result<std::vector<std::string>> DocumentBuilder::keyOf(const Table& table, const std::vector<std::string>& configured) {
  if (!configured.empty()) return configured;
  const std::string name = table.database + "." + table.name;
  if (const auto known = primaryKeys_.find(name); known != primaryKeys_.end()) return known->second;
  auto key = source_.primaryKey(table.database, table.name);
  if (!key) return key.status();
  primaryKeys_[name] = *key;
  return *key;
}

Status DocumentBuilder::collect(const std::vector<const Change*>& changes, std::vector<Plan>& plans) {
  for (std::size_t m = 0; m < documents_.size(); ++m) {
    const DocumentMapping& d = documents_[m];
    const Table& main = mains_[m];
    Plan& plan = plans[m];
    plan.lookups.resize(d.joins.size());
    auto id = keyOf(main, d.id);
    if (!id) return id.status();
    if (id->empty()) {
      return Status(kSinkFatal, "elasticsearch documents: " + d.table + " has no primary key; set id in its document");
    }
    std::vector<std::vector<std::size_t>> direct;  // per join, see directJoin
    for (const Join& join : joins_[m]) direct.push_back(directJoin(*id, join.mainColumns));
    for (const Change* c : changes) {
      if (!carriesRows(*c)) continue;
      if (c->database == main.database && c->table == main.name) {
        for (const auto& row : c->rowChange.rowdatas()) {
          const auto before = valuesOf(row.beforecolumns(), *id);
          if (before) plan.keys.insert(*before);
          if (const auto after = valuesOf(row.aftercolumns(), *id)) plan.keys.insert(*after);
          if (before && !d.routing.empty()) {
            if (const eb::Column* r = columnOf(row.beforecolumns(), d.routing); r && !r->isnull()) {
              plan.routingBefore.emplace(*before, r->value());
            }
          }
        }
        plan.last = c;
      }
      for (std::size_t j = 0; j < d.joins.size(); ++j) {
        const Join& join = joins_[m][j];
        if (c->database != join.table.database || c->table != join.table.name) continue;
        for (const auto& row : c->rowChange.rowdatas()) {
          for (const Image* image : {&row.beforecolumns(), &row.aftercolumns()}) {
            const auto values = valuesOf(*image, join.joinedColumns);
            if (!values) continue;
            if (direct[j].empty()) {
              plan.lookups[j].insert(*values);
              continue;
            }
            Key key;
            for (std::size_t i : direct[j]) key.push_back((*values)[i]);
            plan.keys.insert(std::move(key));
          }
        }
        plan.last = c;
      }
    }
  }
  return Status::ok();
}

Status DocumentBuilder::build(std::size_t m, Plan& plan, std::int64_t version, std::vector<BulkAction>& out) {
  const DocumentMapping& d = documents_[m];
  const Table& main = mains_[m];
  auto id = keyOf(main, d.id);
  if (!id) return id.status();
  // Documents found through a joined row's values.
  for (std::size_t j = 0; j < d.joins.size(); ++j) {
    if (plan.lookups[j].empty()) continue;
    auto found = selectAll(source_, RowQuery{main.database, main.name, *id, joins_[m][j].mainColumns, {}, {}},
                           plan.lookups[j]);
    if (!found) return found.status();
    std::vector<std::size_t> idIndexes(id->size());
    std::iota(idIndexes.begin(), idIndexes.end(), 0);  // the query's columns are the id columns
    for (const auto& row : found->rows) {
      if (auto key = valuesOf(row, idIndexes)) plan.keys.insert(std::move(*key));
    }
  }
  if (plan.keys.empty()) return Status::ok();

  auto mainRows = selectAll(source_, RowQuery{main.database, main.name, {}, *id, {}, {}}, plan.keys);
  if (!mainRows) return mainRows.status();
  auto idIndexes = indexesOf(*mainRows, *id, d.table);
  if (!idIndexes) return idIndexes.status();
  std::map<Key, std::size_t> byKey;
  for (std::size_t r = 0; r < mainRows->rows.size(); ++r) {
    if (auto key = valuesOf(mainRows->rows[r], *idIndexes)) byKey.emplace(std::move(*key), r);
  }
  std::optional<std::size_t> routingIndex;
  if (!d.routing.empty()) {
    auto r = indexesOf(*mainRows, {d.routing}, d.table);
    if (!r) return r.status();
    routingIndex = (*r)[0];
  }

  // Each join's rows, grouped by their join columns' values.
  struct Joined {
    std::vector<std::size_t> mainIndexes;  // the join's main table columns in the main rows
    SourceRows rows;
    std::map<Key, std::vector<std::size_t>> byValues;
  };
  std::vector<Joined> joined(d.joins.size());
  for (std::size_t j = 0; j < d.joins.size(); ++j) {
    const DocumentJoin& join = d.joins[j];
    const Join& columns = joins_[m][j];
    auto mainIndexes = indexesOf(*mainRows, columns.mainColumns, d.table);
    if (!mainIndexes) return mainIndexes.status();
    joined[j].mainIndexes = *mainIndexes;
    std::set<Key> values;
    for (const auto& [key, r] : byKey) {
      if (auto v = valuesOf(mainRows->rows[r], *mainIndexes)) values.insert(std::move(*v));
    }
    auto order = join.orderBy;
    if (order.empty()) {
      auto pk = keyOf(columns.table, {});
      if (!pk) return pk.status();
      order = *pk;
    }
    auto rows = selectAll(
        source_, RowQuery{columns.table.database, columns.table.name, {}, columns.joinedColumns, {}, order}, values);
    if (!rows) return rows.status();
    auto joinedIndexes = indexesOf(*rows, columns.joinedColumns, join.table);
    if (!joinedIndexes) return joinedIndexes.status();
    for (std::size_t r = 0; r < rows->rows.size(); ++r) {
      if (auto v = valuesOf(rows->rows[r], *joinedIndexes)) joined[j].byValues[std::move(*v)].push_back(r);
    }
    joined[j].rows = std::move(*rows);
  }

  for (const Key& key : plan.keys) {
    BulkAction a;
    a.index = d.index;
    a.id = documentId(key);
    a.version = version;
    a.change = plan.last;
    const auto before = plan.routingBefore.find(key);
    const auto found = byKey.find(key);
    if (found == byKey.end()) {
      // The main row is gone. With routing, the delete needs the row's routing: a document whose
      // main row this batch did not delete went with that row's own change, in its batch.
      if (routingIndex && before == plan.routingBefore.end()) continue;
      a.kind = BulkAction::Kind::kDelete;
      if (before != plan.routingBefore.end()) a.routing = before->second;
      out.push_back(std::move(a));
      continue;
    }
    const SourceRow& row = mainRows->rows[found->second];
    if (routingIndex) {
      a.routing = row[*routingIndex].value_or("");
      if (before != plan.routingBefore.end() && before->second != a.routing) {
        BulkAction moved = a;  // the document lived on another shard
        moved.kind = BulkAction::Kind::kDelete;
        moved.routing = before->second;
        out.push_back(std::move(moved));
      }
    }
    Json doc = Json::object();
    addFields(doc, *mainRows, &row, FieldSelection{d.include, d.exclude, d.rename}, d.types);
    for (std::size_t j = 0; j < d.joins.size(); ++j) {
      const DocumentJoin& join = d.joins[j];
      const FieldSelection fields{join.include, join.exclude, join.rename};
      const std::vector<std::size_t>* matches = nullptr;
      if (const auto v = valuesOf(row, joined[j].mainIndexes)) {
        if (const auto g = joined[j].byValues.find(*v); g != joined[j].byValues.end()) matches = &g->second;
      }
      const SourceRows& rows = joined[j].rows;
      if (join.many) {
        Json items = Json::array();
        if (matches) {
          for (std::size_t r : *matches) {
            Json item = Json::object();
            addFields(item, rows, &rows.rows[r], fields, join.types);
            items.push_back(std::move(item));
          }
        }
        doc[join.as] = std::move(items);
        continue;
      }
      const SourceRow* first = matches ? &rows.rows[matches->front()] : nullptr;
      if (join.as.empty()) {
        addFields(doc, rows, first, fields, join.types);
      } else if (first) {
        Json object = Json::object();
        addFields(object, rows, first, fields, join.types);
        doc[join.as] = std::move(object);
      } else {
        doc[join.as] = nullptr;
      }
    }
    a.kind = BulkAction::Kind::kIndex;
    a.source = doc.dump(-1, ' ', false, Json::error_handler_t::replace);
    out.push_back(std::move(a));
  }
  return Status::ok();
}

Result<std::vector<BulkAction>> DocumentBuilder::actions(const std::vector<const Change*>& changes) {
  std::vector<BulkAction> out;
  std::vector<Plan> plans(documents_.size());
  if (Status s = collect(changes, plans); !s) return s;
  std::int64_t newest = -1;
  for (const Plan& p : plans) {
    if (p.last && (!p.keys.empty() || std::any_of(p.lookups.begin(), p.lookups.end(), [](const auto& l) {
          return !l.empty();
        }))) {
      newest = std::max(newest, p.last->position());
    }
  }
  if (newest < 0) return out;
  auto version = source_.beginRead(newest);
  if (!version) return version.status();
  for (std::size_t m = 0; m < plans.size(); ++m) {
    if (Status s = build(m, plans[m], *version, out); !s) {
      source_.endRead();
      return s;
    }
  }
  source_.endRead();
  return out;
}

}  // namespace canal::forwarder
