#include "forwarder/elasticsearch/elasticsearch_sink.h"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <thread>

#include "forwarder/elasticsearch/documents.h"
#include "forwarder/elasticsearch/es_values.h"
#include "forwarder/row_image.h"
#include "publish/table_pattern.h"

namespace canal::forwarder {
namespace {

using client::Status;
using Json = nlohmann::ordered_json;

// Index names are lower case.
std::string indexName(const std::string& pattern, const Change& c) {
  return publish::lowerCase(expandTablePattern(pattern, c.database, c.table));
}

// java.sql.Types codes of numeric columns.
bool isNumericSqlType(int t) { return t == -7 || t == -6 || t == 5 || t == 4 || t == -5 || t == 6 || t == 7 || t == 8 || t == 2 || t == 3; }

FieldType autoType(const eb::Column& c) {
  const std::string mysqlType = publish::lowerCase(c.mysqltype());
  if (mysqlType.rfind("json", 0) == 0) return FieldType::kJson;
  if (mysqlType.rfind("bit", 0) == 0) return FieldType::kString;
  if (isNumericSqlType(c.sqltype())) return FieldType::kNumber;
  if (c.sqltype() == 91 || c.sqltype() == 93) return FieldType::kDate;  // DATE, DATETIME/TIMESTAMP
  return FieldType::kString;
}

Json convert(const eb::Column& c, FieldType type) {
  if (c.isnull()) return nullptr;
  return typedValue(c.value(), type == FieldType::kAuto ? autoType(c) : type);
}

Json documentOf(const Image& image, const IndexMapping& m) {
  const FieldSelection fields{m.include, m.exclude, m.rename};
  Json doc = Json::object();
  for (const auto& c : image) {
    if (!fields.selected(c.name())) continue;
    const auto typed = m.types.find(c.name());
    doc[fields.fieldOf(c.name())] = convert(c, typed == m.types.end() ? FieldType::kAuto : typed->second);
  }
  return doc;
}

// Merges `next` into `prior` (the same document, earlier in the batch).
void merge(BulkAction& prior, BulkAction next) {
  if (next.kind == BulkAction::Kind::kUpdate && prior.kind != BulkAction::Kind::kDelete) {
    Json doc = Json::parse(prior.source);
    const Json fields = Json::parse(next.source);
    for (auto it = fields.begin(); it != fields.end(); ++it) doc[it.key()] = it.value();
    prior.source = doc.dump(-1, ' ', false, Json::error_handler_t::replace);
    if (prior.kind == BulkAction::Kind::kIndex) prior.version = next.version;  // whole document, newer
    prior.change = next.change;
    return;
  }
  prior = std::move(next);
}

}  // namespace

client::Result<std::vector<BulkAction>> bulkActions(const std::vector<IndexMapping>& mappings,
                                                    const std::vector<const Change*>& changes) {
  auto mapped = publish::FirstMatch::create(publish::tableExpressions(mappings));
  if (!mapped) return mapped.status();
  std::vector<BulkAction> out;
  std::map<std::pair<std::string, std::string>, std::size_t> byDocument;
  const auto add = [&](BulkAction a) {
    const auto key = std::make_pair(a.index, a.id);
    if (const auto it = byDocument.find(key); it != byDocument.end()) {
      merge(out[it->second], std::move(a));
    } else {
      byDocument.emplace(key, out.size());
      out.push_back(std::move(a));
    }
  };
  for (const Change* c : changes) {
    if (!carriesRows(*c)) continue;
    const auto mi = mapped->of(c->qualifiedName());
    if (!mi) continue;
    const IndexMapping& m = mappings[*mi];
    const std::string index = indexName(m.index, *c);
    for (const auto& row : c->rowChange.rowdatas()) {
      const auto& image = imageOf(row, c->type);
      const auto id = rowIdOf(row, c->type, m.id, "_");
      if (!id) {
        return Status(kSinkFatal, "elasticsearch: a row of " + c->where() +
                                      " has no document id (no key columns, or an id column missing); set id in "
                                      "the mapping of " + m.table);
      }
      BulkAction a;
      a.index = index;
      a.id = *id;
      a.version = c->version();
      a.change = c;
      if (c->type == eb::DELETE) {
        a.kind = BulkAction::Kind::kDelete;
        add(std::move(a));
        continue;
      }
      if (c->type == eb::UPDATE) {
        const auto oldId = idOf(row.beforecolumns(), m.id, "_");
        if (oldId && *oldId != *id) {  // the key changed: the old document goes
          BulkAction gone = a;
          gone.kind = BulkAction::Kind::kDelete;
          gone.id = *oldId;
          add(std::move(gone));
        }
        if (!sameColumns(row.beforecolumns(), row.aftercolumns())) {  // a partial row image
          a.kind = BulkAction::Kind::kUpdate;
          a.source = documentOf(image, m).dump(-1, ' ', false, Json::error_handler_t::replace);
          add(std::move(a));
          continue;
        }
      }
      a.kind = BulkAction::Kind::kIndex;
      a.source = documentOf(image, m).dump(-1, ' ', false, Json::error_handler_t::replace);
      add(std::move(a));
    }
  }
  return out;
}

std::string bulkBody(const std::vector<BulkAction>& actions, std::size_t begin, std::size_t end) {
  std::string body;
  for (std::size_t i = begin; i < end; ++i) {
    const BulkAction& a = actions[i];
    Json meta = Json::object();
    meta["_index"] = a.index;
    meta["_id"] = a.id;
    if (!a.routing.empty()) meta["routing"] = a.routing;
    if (a.kind == BulkAction::Kind::kUpdate) {
      meta["retry_on_conflict"] = 3;
      body += Json{{"update", meta}}.dump(-1, ' ', false, Json::error_handler_t::replace);
      body += "\n{\"doc\":" + a.source + ",\"doc_as_upsert\":true}\n";
      continue;
    }
    meta["version"] = a.version;
    meta["version_type"] = "external";
    const char* verb = a.kind == BulkAction::Kind::kDelete ? "delete" : "index";
    body += Json{{verb, meta}}.dump(-1, ' ', false, Json::error_handler_t::replace);
    body += "\n";
    if (a.kind == BulkAction::Kind::kIndex) body += a.source + "\n";
  }
  return body;
}

HttpOptions httpOptionsOf(const ElasticsearchSinkConfig& config) {
  HttpOptions o;
  o.timeout = config.timeout;
  o.user = config.user;
  o.password = config.password;
  o.caFile = config.caFile;
  o.verifyTls = config.verifyTls;
  return o;
}

class ElasticsearchSink::Impl {
 public:
  Impl(ElasticsearchSinkConfig config, Logger log) : config_(std::move(config)), log_(std::move(log)) {}
  Status open() {
    auto http = HttpClient::create(httpOptionsOf(config_));
    if (!http) return Status(http.status().code(), "elasticsearch: " + http.status().message());
    http_ = std::move(*http);
    if (!config_.documents.empty()) {
      auto source = connectSource(config_.database);
      if (!source) return Status(source.status().code(), "elasticsearch: " + source.status().message());
      source_ = std::move(*source);
      documents_ = std::make_unique<DocumentBuilder>(config_.documents, *source_);
    }
    if (!config_.deadLetterFile.empty()) {
      deadLetters_.open(config_.deadLetterFile, std::ios::app);
      if (!deadLetters_) {
        return Status(Status::kInvalidArgument, "elasticsearch: cannot open the dead-letter file " + config_.deadLetterFile);
      }
    }
    return Status::ok();
  }

  Status write(const std::vector<const Change*>& changes) {
    auto actions = bulkActions(config_.mappings, changes);
    if (!actions) return actions.status();
    if (documents_) {
      auto built = documents_->actions(changes);
      if (!built) return built.status();
      stats_.built += built->size();
      for (auto& a : *built) actions->push_back(std::move(a));
    }
    std::size_t begin = 0;
    while (begin < actions->size()) {
      // One request: up to bulkActions actions and about bulkBytes bytes (at least one action).
      std::size_t end = begin;
      std::size_t bytes = 0;
      while (end < actions->size() && end - begin < static_cast<std::size_t>(config_.bulkActions)) {
        const std::size_t size = (*actions)[end].source.size() + (*actions)[end].index.size() + (*actions)[end].id.size() + 96;
        if (end > begin && bytes + size > config_.bulkBytes) break;
        bytes += size;
        ++end;
      }
      if (Status s = send(*actions, begin, end); !s) return s;
      begin = end;
    }
    return Status::ok();
  }

  const ElasticsearchCounters& stats() const { return stats_; }

 private:
  struct Response {
    long status = 0;
    std::string body;
  };

  // One POST of `body` to /_bulk; a transport error is a Status.
  client::Result<Response> post(const std::string& body) {
    ++stats_.requests;
    auto r = http_->request("POST", config_.url + "/_bulk", body, "application/x-ndjson");
    if (!r) return Status(r.status().code(), "elasticsearch: " + r.status().message());
    return Response{r->status, std::move(r->body)};
  }

  void deadLetter(const BulkAction& a, long status, const Json& error) {
    ++stats_.deadLettered;
    const std::string what = "elasticsearch: " + a.index + "/" + a.id + " from " + a.change->where() + " refused (" +
                             std::to_string(status) + "): " + error.dump();
    if (stats_.deadLettered <= 10 || stats_.deadLettered % 1000 == 0) log_(what);
    if (!deadLetters_.is_open()) return;
    Json line;
    line["index"] = a.index;
    line["id"] = a.id;
    line["action"] = a.kind == BulkAction::Kind::kDelete ? "delete" : a.kind == BulkAction::Kind::kUpdate ? "update" : "index";
    line["status"] = status;
    line["error"] = error;
    line["database"] = a.change->database;
    line["table"] = a.change->table;
    line["logfileName"] = a.change->logfileName;
    line["logfileOffset"] = a.change->logfileOffset;
    line["document"] = a.source.empty() ? Json(nullptr) : Json::parse(a.source, nullptr, false);
    deadLetters_ << line.dump(-1, ' ', false, Json::error_handler_t::replace) << '\n';
    deadLetters_.flush();
  }

  // Sends actions [begin, end), retrying what is throttled or failed on the server.
  Status send(const std::vector<BulkAction>& actions, std::size_t begin, std::size_t end) {
    std::vector<std::size_t> todo;
    for (std::size_t i = begin; i < end; ++i) todo.push_back(i);
    auto wait = config_.backoff;
    std::string lastFailure;
    for (int attempt = 0; attempt <= config_.retries; ++attempt) {
      if (attempt > 0) {
        stats_.retried += todo.size();
        std::this_thread::sleep_for(wait);
        wait = std::min(wait * 2, config_.maxBackoff);
      }
      std::vector<BulkAction> batch;
      for (std::size_t i : todo) batch.push_back(actions[i]);
      auto response = post(bulkBody(batch, 0, batch.size()));
      if (!response) {
        lastFailure = response.status().message();
        continue;
      }
      if (response->status == 429 || response->status >= 500) {
        lastFailure = "elasticsearch: _bulk answered " + std::to_string(response->status) + ": " + response->body.substr(0, 300);
        continue;
      }
      if (response->status != 200) {
        std::string hint;
        if (response->status == 401 || response->status == 403) hint = " (check user and password)";
        if (response->status == 413) hint = " (lower bulk_bytes)";
        return Status(kSinkFatal, "elasticsearch: _bulk answered " + std::to_string(response->status) + hint + ": " +
                                      response->body.substr(0, 500));
      }
      const Json reply = Json::parse(response->body, nullptr, false);
      if (reply.is_discarded() || !reply.contains("items") || !reply["items"].is_array() ||
          reply["items"].size() != batch.size()) {
        return Status(kSinkFatal, "elasticsearch: _bulk reply is not the documented shape (" +
                                      std::to_string(batch.size()) + " items expected): " + response->body.substr(0, 300));
      }
      std::vector<std::size_t> again;
      for (std::size_t k = 0; k < batch.size(); ++k) {
        const Json& item = reply["items"][k];
        const Json& result = item.begin().value();
        const long status = result.value("status", 0L);
        const BulkAction& a = batch[k];
        if (status == 200 || status == 201) {
          (a.kind == BulkAction::Kind::kDelete ? stats_.deleted
                                               : a.kind == BulkAction::Kind::kUpdate ? stats_.updated : stats_.indexed)++;
        } else if (status == 404 && a.kind == BulkAction::Kind::kDelete) {
          ++stats_.deleted;  // already gone
        } else if (status == 409) {
          ++stats_.stale;  // a newer version is stored: this change is older, nothing to do
        } else if (status == 429 || status >= 500) {
          again.push_back(todo[k]);
          lastFailure = "elasticsearch: " + a.index + "/" + a.id + " answered " + std::to_string(status) + ": " +
                        (result.contains("error") ? result["error"].dump() : std::string());
        } else {
          deadLetter(a, status, result.contains("error") ? result["error"] : Json(nullptr));
        }
      }
      if (again.empty()) return Status::ok();
      todo = std::move(again);
    }
    return Status(kSinkRetry, lastFailure + " (after " + std::to_string(config_.retries) + " retries)");
  }

  ElasticsearchSinkConfig config_;
  Logger log_;
  std::unique_ptr<HttpClient> http_;
  std::unique_ptr<RowSource> source_;
  std::unique_ptr<DocumentBuilder> documents_;
  std::ofstream deadLetters_;
  ElasticsearchCounters stats_;
};

client::Result<std::unique_ptr<ElasticsearchSink>> ElasticsearchSink::create(std::string name,
                                                                             const ElasticsearchSinkConfig& config,
                                                                             Logger log) {
  for (const auto& m : config.mappings) {
    if (auto p = publish::TablePattern::create(m.table); !p) return p.status();
  }
  auto impl = std::make_unique<Impl>(config, std::move(log));
  if (Status s = impl->open(); !s) return s;
  return std::unique_ptr<ElasticsearchSink>(new ElasticsearchSink(std::move(name), std::move(impl)));
}

ElasticsearchSink::ElasticsearchSink(std::string name, std::unique_ptr<Impl> impl)
    : name_(std::move(name)), impl_(std::move(impl)) {}
ElasticsearchSink::~ElasticsearchSink() = default;

client::Status ElasticsearchSink::write(const std::vector<const Change*>& changes, std::int64_t) {
  return impl_->write(changes);
}

const ElasticsearchCounters& ElasticsearchSink::stats() const { return impl_->stats(); }

std::string ElasticsearchSink::counters() const {
  const auto& s = stats();
  return name_ + ": indexed " + std::to_string(s.indexed) + ", updated " + std::to_string(s.updated) + ", deleted " +
         std::to_string(s.deleted) + ", older skipped " + std::to_string(s.stale) + ", retried " +
         std::to_string(s.retried) + ", dead-lettered " + std::to_string(s.deadLettered) + ", requests " +
         std::to_string(s.requests) + (s.built > 0 ? ", documents built from the source " + std::to_string(s.built) : "");
}

}  // namespace canal::forwarder
