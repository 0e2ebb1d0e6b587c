#include "publish/canal_mq_router.h"

#include <algorithm>
#include <map>

#include "canal/client/flat_message.h"
#include "canal/protocol/canal_protocol.pb.h"

namespace canal::publish {
namespace {

namespace eb = canal::protocol::entry;
namespace cp = canal::protocol::packet;
using client::Result;
using client::Status;

std::string trimmed(std::string s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.erase(s.begin());
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.pop_back();
  return s;
}

// Canal's split of a setting: ',' read as ';', empty items dropped. Items are trimmed here (Canal
// keeps the spaces, and such an item then never matches).
std::vector<std::string> splitItems(std::string_view text) {
  std::vector<std::string> out;
  std::string item;
  for (const char c : text) {
    if (c == ',' || c == ';') {
      if (!trimmed(item).empty()) out.push_back(trimmed(item));
      item.clear();
    } else {
      item += c;
    }
  }
  if (!trimmed(item).empty()) out.push_back(trimmed(item));
  return out;
}

bool isWildcard(std::string_view expression) {
  return expression.find_first_of("*?+|(){}[]\\$^") != std::string_view::npos;
}

bool isTransactionBoundary(const eb::Entry& e) {
  return e.entrytype() == eb::TRANSACTIONBEGIN || e.entrytype() == eb::TRANSACTIONEND;
}

const google::protobuf::RepeatedPtrField<eb::Column>& image(const eb::RowData& row, eb::EventType type) {
  return type == eb::DELETE ? row.beforecolumns() : row.aftercolumns();
}

MessageOrigin originOf(const eb::Entry& e, const eb::RowChange* rc) {
  MessageOrigin o;
  o.database = e.header().schemaname();
  o.table = e.header().tablename();
  o.type = eb::EventType_Name(rc ? rc->eventtype() : e.header().eventtype());
  o.logfileName = e.header().logfilename();
  o.logfileOffset = e.header().logfileoffset();
  o.executeTime = e.header().executetime();
  o.sequence = static_cast<std::int64_t>(client::streamSequence(e.header()).value_or(0));
  return o;
}

// The entry a message's errors name: its first ROWDATA entry, else its first entry.
MessageOrigin originOf(const std::vector<const eb::Entry*>& entries) {
  for (const eb::Entry* e : entries) {
    if (e->entrytype() == eb::ROWDATA) return originOf(*e, nullptr);
  }
  return entries.empty() ? MessageOrigin{} : originOf(*entries.front(), nullptr);
}

struct Parsed {
  eb::Entry entry;
  std::string_view bytes;
  std::optional<eb::RowChange> rowChange;  // ROWDATA entries
};

}  // namespace

std::string MessageOrigin::where() const {
  std::string out = database + "." + table;
  if (!type.empty()) out += " " + type;
  return out + " at " + logfileName + ":" + std::to_string(logfileOffset);
}

std::string canalMessagesPacket(std::int64_t batchId, const std::vector<std::string_view>& entries, bool raw) {
  cp::Messages messages;
  if (raw) messages.set_batch_id(batchId);
  for (const std::string_view e : entries) messages.add_messages(e.data(), e.size());
  cp::Packet packet;
  if (!raw) packet.set_version(1);
  packet.set_type(cp::MESSAGES);
  packet.set_body(messages.SerializeAsString());
  return packet.SerializeAsString();
}

Result<CanalMqRouter> CanalMqRouter::create(CanalMqSettings settings) {
  auto hash = PartitionHash::parse(settings.partitionHash);
  if (!hash) return Status(hash.status().code(), "canal.mq.partitionHash: " + hash.status().message());
  CanalMqRouter router(std::move(settings), std::move(*hash));
  for (const std::string& item : splitItems(router.settings_.dynamicTopic)) {
    DynamicTopic d;
    std::string expression = item;
    if (const auto colon = item.find(':'); colon != std::string::npos) {
      d.topic = trimmed(item.substr(0, colon));
      expression = trimmed(item.substr(colon + 1));
    }
    auto pattern = TablePattern::create(expression);
    if (!pattern) return Status(pattern.status().code(), "canal.mq.dynamicTopic: " + pattern.status().message());
    d.pattern = std::move(*pattern);
    d.regex = isWildcard(expression);
    d.tableLevel = expression.find("\\.") != std::string::npos;
    router.dynamicTopics_.push_back(std::move(d));
  }
  for (const std::string& item : splitItems(router.settings_.dynamicTopicPartitionNum)) {
    const auto colon = item.rfind(':');
    if (colon == std::string::npos || colon == 0) continue;  // Canal skips such items
    auto pattern = TablePattern::create(item.substr(0, colon));
    if (!pattern) {
      return Status(pattern.status().code(), "canal.mq.dynamicTopicPartitionNum: " + pattern.status().message());
    }
    TopicPartitions t{std::move(*pattern), std::nullopt};
    const std::string count = item.substr(colon + 1);
    if (!count.empty() && std::all_of(count.begin(), count.end(), [](char c) { return c >= '0' && c <= '9'; }) &&
        count.size() < 10) {
      t.partitions = std::stoi(count);
    }
    router.topicPartitions_.push_back(std::move(t));
  }
  return router;
}

// Canal's matchTopics for one name ("schema.table" or "schema"): the first item that matches.
std::optional<std::string> CanalMqRouter::matchTopic(const std::string& name) const {
  const bool qualified = name.find('.') != std::string::npos;
  for (const DynamicTopic& d : dynamicTopics_) {
    bool matched = false;
    if (!d.regex) {
      matched = d.pattern.matches(name);
    } else if (qualified) {
      matched = d.tableLevel && d.pattern.matches(name);
    } else {
      matched = !d.tableLevel && d.pattern.matches(name);
    }
    if (matched) return d.topic.empty() ? lowerCase(name) : d.topic;
  }
  return std::nullopt;
}

std::optional<int> CanalMqRouter::partitionsOf(const std::string& topic) const {
  for (const TopicPartitions& t : topicPartitions_) {
    if (t.topic.matches(topic)) return t.partitions;
  }
  return settings_.partitionsNum;
}

Result<std::vector<MqMessage>> CanalMqRouter::route(std::int64_t batchId, const std::vector<std::string_view>& entries,
                                                    std::int64_t nowMs) const {
  std::vector<Parsed> parsed(entries.size());
  for (std::size_t i = 0; i < entries.size(); ++i) {
    Parsed& p = parsed[i];
    p.bytes = entries[i];
    if (!p.entry.ParseFromArray(entries[i].data(), static_cast<int>(entries[i].size()))) {
      return Status(Status::kProtocol, "entry " + std::to_string(i) + " of batch " + std::to_string(batchId) +
                                           " does not parse as a Canal Entry");
    }
    if (p.entry.entrytype() == eb::ROWDATA) {
      p.rowChange.emplace();
      if (!p.rowChange->ParseFromString(p.entry.storevalue())) {
        return Status(Status::kProtocol, "the RowChange of the entry at " + p.entry.header().logfilename() + ":" +
                                             std::to_string(p.entry.header().logfileoffset()) + " does not parse");
      }
    }
  }

  // Topics: one, or Canal's dynamic routing (which leaves out BEGIN/END).
  std::vector<std::pair<std::string, std::vector<const Parsed*>>> topics;
  const bool dynamic = !settings_.dynamicTopic.empty();
  if (!dynamic) {
    auto& all = topics.emplace_back(settings_.topic, std::vector<const Parsed*>{}).second;
    for (const Parsed& p : parsed) all.push_back(&p);
  } else {
    std::map<std::string, std::size_t> index;
    for (const Parsed& p : parsed) {
      if (isTransactionBoundary(p.entry)) continue;
      const std::string& schema = p.entry.header().schemaname();
      const std::string& table = p.entry.header().tablename();
      std::string topic = settings_.topic;
      if (!schema.empty() && !table.empty()) {
        if (auto t = matchTopic(schema + "." + table)) {
          topic = *t;
        } else if (auto s = matchTopic(schema)) {
          topic = *s;
        }
      }
      std::replace(topic.begin(), topic.end(), '.', '_');
      auto [it, added] = index.try_emplace(topic, topics.size());
      if (added) topics.emplace_back(topic, std::vector<const Parsed*>{});
      topics[it->second].second.push_back(&p);
    }
  }

  std::vector<MqMessage> out;
  const bool hashing = !hash_.empty();
  for (const auto& [topic, group] : topics) {
    const std::optional<int> counted = partitionsOf(topic);
    const int partitions = counted && *counted > 0 ? *counted : 1;
    if (!settings_.flatMessage) {
      if (!hashing) {
        // The batch whole: Canal's raw form when the store keeps raw entries and the batch was
        // not regrouped by topic; the builder form (BEGIN/END filtered as configured) otherwise.
        const bool raw = settings_.rawEntry && !dynamic;
        std::vector<std::string_view> bytes;
        std::vector<const eb::Entry*> carried;
        for (const Parsed* p : group) {
          if (!raw && settings_.filterTransactionEntry && isTransactionBoundary(p->entry)) continue;
          bytes.push_back(p->bytes);
          carried.push_back(&p->entry);
        }
        if (bytes.empty()) continue;
        out.push_back({topic, settings_.partition, "", canalMessagesPacket(batchId, bytes, raw), originOf(carried)});
        continue;
      }
      // Canal's messagePartition: entries regrouped per partition; hashing by key splits an
      // entry into one entry per row.
      std::vector<std::vector<std::string>> owned(static_cast<std::size_t>(partitions));
      std::vector<std::vector<const eb::Entry*>> carried(static_cast<std::size_t>(partitions));
      for (const Parsed* p : group) {
        if (isTransactionBoundary(p->entry)) continue;
        const eb::RowChange* rc = p->rowChange ? &*p->rowChange : nullptr;
        std::size_t target = 0;
        const PartitionRule* rule = nullptr;
        if (rc && !rc->isddl() && rc->rowdatas_size() > 0) {
          rule = hash_.ruleFor(p->entry.header().schemaname() + "." + p->entry.header().tablename());
        }
        if (rule && rule->by == PartitionRule::By::kTable) {
          target = static_cast<std::size_t>(canalPartition(javaStringHash(p->entry.header().tablename()), partitions));
        }
        if (!rule || rule->by == PartitionRule::By::kTable) {
          owned[target].emplace_back(p->bytes);
          carried[target].push_back(&p->entry);
          continue;
        }
        const std::string& database = p->entry.header().schemaname();
        eb::RowChange single = *rc;
        for (int r = 0; r < rc->rowdatas_size(); ++r) {
          const eb::RowData& row = rc->rowdatas(r);
          std::vector<std::optional<std::string>> values;
          for (const eb::Column& c : image(row, rc->eventtype())) {
            bool hashed = false;
            if (rule->by == PartitionRule::By::kPrimaryKey) {
              hashed = c.iskey();
            } else {
              for (const std::string& name : rule->columns) {
                if (lowerCase(name) == lowerCase(c.name())) hashed = true;
              }
            }
            if (hashed) values.emplace_back(c.value());
          }
          const auto partition =
              static_cast<std::size_t>(canalPartition(rowHash(database, values, settings_.databaseHash), partitions));
          single.clear_rowdatas();
          *single.add_rowdatas() = row;
          eb::Entry split = p->entry;
          split.set_storevalue(single.SerializeAsString());
          owned[partition].push_back(split.SerializeAsString());
          carried[partition].push_back(&p->entry);
        }
      }
      for (std::size_t i = 0; i < owned.size(); ++i) {
        if (owned[i].empty()) continue;
        const std::vector<std::string_view> views(owned[i].begin(), owned[i].end());
        out.push_back(
            {topic, static_cast<std::int32_t>(i), "", canalMessagesPacket(batchId, views, false), originOf(carried[i])});
      }
      continue;
    }
    // FlatMessage: one per entry but BEGIN/END, split over partitions when hashing.
    for (const Parsed* p : group) {
      if (isTransactionBoundary(p->entry)) continue;
      eb::RowChange empty;
      const eb::RowChange& rc = p->rowChange ? *p->rowChange : empty;
      const MessageOrigin origin = originOf(p->entry, &rc);
      const PartitionRule* rule = nullptr;
      if (hashing && !rc.isddl() && rc.rowdatas_size() > 0) {
        rule = hash_.ruleFor(p->entry.header().schemaname() + "." + p->entry.header().tablename());
      }
      if (!hashing || !rule || rule->by == PartitionRule::By::kTable) {
        std::int32_t partition = hashing ? 0 : settings_.partition;
        if (rule) partition = canalPartition(javaStringHash(p->entry.header().tablename()), partitions);
        out.push_back({topic, partition, "", client::toFlatMessage(p->entry, rc, nullptr, batchId, nowMs), origin});
        continue;
      }
      // The row's values in the FlatMessage's data (after image; before image for DELETE),
      // looked up by exact name; the key names are the first row's.
      std::vector<std::string> names = rule->columns;
      if (rule->by == PartitionRule::By::kPrimaryKey) {
        names.clear();
        for (const eb::Column& c : image(rc.rowdatas(0), rc.eventtype())) {
          if (c.iskey()) names.push_back(c.name());
        }
      }
      std::vector<int> partitionOfRow;
      for (const eb::RowData& row : rc.rowdatas()) {
        std::vector<std::optional<std::string>> values;
        for (const std::string& name : names) {
          std::optional<std::string> value;
          for (const eb::Column& c : image(row, rc.eventtype())) {
            if (c.name() == name) value = c.isnull() ? std::nullopt : std::optional<std::string>(c.value());
          }
          values.push_back(std::move(value));
        }
        partitionOfRow.push_back(canalPartition(rowHash(p->entry.header().schemaname(), values, settings_.databaseHash),
                                                partitions));
      }
      for (auto& [partition, payload] : client::toPartitionedFlatMessages(p->entry, rc, partitionOfRow, batchId, nowMs)) {
        out.push_back({topic, partition, "", std::move(payload), origin});
      }
    }
  }
  return out;
}

}  // namespace canal::publish
