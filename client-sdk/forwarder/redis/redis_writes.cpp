#include "forwarder/redis/redis_writes.h"

#include <nlohmann/json.hpp>

#include "canal/client/flat_message.h"
#include "forwarder/row_image.h"
#include "forwarder/sink.h"
#include "publish/table_pattern.h"

namespace canal::forwarder {

RedisVersion RedisVersion::of(const Change& change, std::int64_t row) {
  constexpr int kEntryBits = client::kStreamSequenceEntryBits;
  if (change.sequence > 0) {
    return RedisVersion{(std::int64_t{1} << 31) + (change.sequence >> kEntryBits),
                        change.sequence & ((std::int64_t{1} << kEntryBits) - 1), row};
  }
  return RedisVersion{binlogFileIndex(change.logfileName), change.logfileOffset, row};
}
namespace {

using client::Status;

// Fills the fields and index sets of `w` from `image`.
void describe(RedisWrite& w, const Image& image, const RedisMapping& m, const Change& c) {
  const FieldSelection selection{m.include, m.exclude, m.rename};
  for (const auto& column : image) {
    if (!selection.selected(column.name())) continue;
    w.fields.emplace_back(selection.fieldOf(column.name()),
                          column.isnull() ? std::nullopt : std::optional<std::string>(column.value()));
  }
  for (const RedisMapping::Index& index : m.indexes) {
    const eb::Column* column = columnOf(image, index.column);
    if (!column) {
      w.indexSets.emplace_back(std::nullopt);
    } else if (column->isnull()) {
      w.indexSets.emplace_back("");
    } else {
      w.indexSets.emplace_back(
          expandPattern(index.key, {{"database", c.database}, {"table", c.table}, {"value", column->value()}}));
    }
  }
}

}  // namespace

client::Result<std::vector<RedisWrite>> redisWrites(const std::vector<RedisMapping>& mappings,
                                                    const std::vector<const Change*>& changes) {
  auto mapped = publish::FirstMatch::create(publish::tableExpressions(mappings));
  if (!mapped) return mapped.status();
  std::vector<RedisWrite> out;
  for (const Change* c : changes) {
    if (!carriesRows(*c)) continue;
    const auto mi = mapped->of(c->qualifiedName());
    if (!mi) continue;
    const RedisMapping& m = mappings[*mi];
    const auto keyOf = [&](const std::string& pk) {
      return expandPattern(m.key, {{"database", c->database}, {"table", c->table}, {"pk", pk}});
    };
    std::int64_t ordinal = 0;
    for (const auto& row : c->rowChange.rowdatas()) {
      RedisWrite w;
      w.value = m.value;
      w.version = RedisVersion::of(*c, ordinal++);
      w.change = c;
      const auto pk = rowIdOf(row, c->type, m.id, ":");
      if (!pk) {
        return Status(kSinkFatal, "redis: a row of " + c->where() +
                                      " has no key (no key columns, or an id column missing); set id in the "
                                      "mapping of " + m.table);
      }
      w.member = *pk;
      w.key = keyOf(*pk);
      if (c->type == eb::DELETE) {
        w.kind = RedisWrite::Kind::kDelete;
        out.push_back(std::move(w));
        continue;
      }
      if (c->type == eb::UPDATE) {
        const auto oldPk = idOf(row.beforecolumns(), m.id, ":");
        if (oldPk && *oldPk != *pk) {  // the key changed: the old key goes
          RedisWrite gone = w;
          gone.kind = RedisWrite::Kind::kDelete;
          gone.member = *oldPk;
          gone.key = keyOf(*oldPk);
          out.push_back(std::move(gone));
        }
        if (!sameColumns(row.beforecolumns(), row.aftercolumns())) w.kind = RedisWrite::Kind::kMerge;
      }
      describe(w, imageOf(row, c->type), m, *c);
      out.push_back(std::move(w));
    }
  }
  return out;
}

std::string redisJsonOf(const RedisWrite& w) {
  nlohmann::ordered_json doc = nlohmann::ordered_json::object();
  for (const auto& [field, value] : w.fields) {
    doc[field] = value ? nlohmann::ordered_json(*value) : nlohmann::ordered_json(nullptr);
  }
  return doc.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

}  // namespace canal::forwarder
