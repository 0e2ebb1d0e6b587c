#include "forwarder/reindex.h"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <optional>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "forwarder/elasticsearch/elasticsearch_sink.h"
#include "forwarder/forwarder.h"
#include "forwarder/http_client.h"
#include "forwarder/server_snapshot.h"

namespace canal::forwarder {
namespace {

using client::Result;
using client::Status;
using Json = nlohmann::json;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

Status failure(const std::string& what) { return Status(Status::kInvalidArgument, "reindex: " + what); }

std::string utcStamp() {
  const auto now = std::chrono::system_clock::now();
  const std::time_t t = std::chrono::system_clock::to_time_t(now);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char text[32];
  std::strftime(text, sizeof text, "%Y%m%d%H%M%S", &tm);
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  char millis[8];
  std::snprintf(millis, sizeof millis, "%03d", static_cast<int>(ms));
  return std::string(text) + millis;
}

std::int64_t wallMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Elasticsearch's answer as a failure naming the request.
Status refused(const std::string& what, const HttpResponse& r) {
  return failure(what + " answered " + std::to_string(r.status) + ": " + r.body.substr(0, 500));
}

class Elasticsearch {
 public:
  Elasticsearch(HttpClient& http, std::string url) : http_(http), url_(std::move(url)) {}

  // The indices `alias` points to; `plainIndex` is set when the name is an index, not an alias.
  Result<std::vector<std::string>> aliasTargets(const std::string& alias, bool* plainIndex) {
    auto r = http_.request("GET", url_ + "/_alias/" + alias);
    if (!r) return r.status();
    std::vector<std::string> out;
    *plainIndex = false;
    if (r->status == 404) {
      auto exists = http_.request("HEAD", url_ + "/" + alias);
      if (!exists) return exists.status();
      *plainIndex = exists->status == 200;
      return out;
    }
    if (r->status != 200) return refused("GET /_alias/" + alias, *r);
    const Json j = Json::parse(r->body, nullptr, false);
    if (!j.is_object()) return refused("GET /_alias/" + alias, *r);
    for (const auto& [index, ignored] : j.items()) out.push_back(index);
    return out;
  }
  Status createIndex(const std::string& index, const std::string& body) {
    auto r = http_.request("PUT", url_ + "/" + index, body);
    if (!r) return r.status();
    return r->status == 200 ? Status::ok() : refused("PUT /" + index, *r);
  }
  // Deleting an index that is not there is not a failure.
  Status deleteIndex(const std::string& index) {
    auto r = http_.request("DELETE", url_ + "/" + index);
    if (!r) return r.status();
    return r->status == 200 || r->status == 404 ? Status::ok() : refused("DELETE /" + index, *r);
  }
  Status updateAliases(const Json& actions) {
    const Json body = {{"actions", actions}};
    auto r = http_.request("POST", url_ + "/_aliases", body.dump());
    if (!r) return r.status();
    return r->status == 200 ? Status::ok() : refused("POST /_aliases " + body.dump(), *r);
  }

 private:
  HttpClient& http_;
  std::string url_;
};

struct State {
  std::string index;                  // the new index
  std::vector<std::string> previous;  // what the alias pointed to (or the plain index of its name)
  bool plain = false;
  std::int64_t snapshot = 0;          // the server's id of the snapshot requested (0: none yet)
  std::int64_t swappedMs = 0;         // when the alias moved (0: not yet, or not recorded)
};

std::optional<State> readState(const fs::path& path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  std::stringstream text;
  text << in.rdbuf();
  const Json j = Json::parse(text.str(), nullptr, false);
  if (!j.is_object() || !j["index"].is_string()) return std::nullopt;
  State s;
  s.index = j["index"];
  for (const auto& p : j.value("previous", Json::array())) s.previous.push_back(p.get<std::string>());
  s.plain = j.value("plain", false);
  s.snapshot = j.value("snapshot", std::int64_t{0});
  s.swappedMs = j.value("swappedMs", std::int64_t{0});
  return s;
}

Status writeState(const fs::path& path, const std::string& alias, const State& s) {
  std::error_code ec;
  fs::create_directories(path.parent_path(), ec);
  const fs::path tmp = path.string() + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << Json{{"alias", alias}, {"index", s.index}, {"previous", s.previous}, {"plain", s.plain}, {"snapshot", s.snapshot},
               {"swappedMs", s.swappedMs}}
               .dump()
        << "\n";
    out.flush();
    if (!out) return failure("cannot write " + tmp.string());
  }
  fs::rename(tmp, path, ec);
  return ec ? failure("cannot write " + path.string() + ": " + ec.message()) : Status::ok();
}

// The reindex's own client leaves the destination, so it holds no entries in the server's store.
void unsubscribe(const SourceConfig& source, const ReindexLog& log) {
  auto connector = connectorFor(source);
  Status s = connector->connect();
  if (s) s = connector->unsubscribe();
  connector->disconnect();
  if (!s) log("the reindex client " + std::to_string(source.clientId) + " could not unsubscribe: " + s.message());
}

// One run of the reindex of an alias, step by step (reindex.h).
class Reindex {
 public:
  Reindex(const ForwarderConfig& config, std::string alias, const ReindexLog& log, const volatile int* stop)
      : config_(config), alias_(std::move(alias)), log_(log), stop_(stop) {}

  Status run() {
    if (Status s = plan(); !s) return s;
    bool plain = false;
    auto targets = es_->aliasTargets(alias_, &plain);
    if (!targets) return targets.status();
    if (const auto state = readState(statePath_)) {
      if (*targets == std::vector<std::string>{state->index}) return finishEarlierSwap(*state);
      if (Status s = dropEarlierRun(*state); !s) return s;
    }
    if (Status s = createIndex(*targets, plain); !s) return s;
    auto forwarder = newIndexForwarder(state_.index);
    if (!forwarder) return abandon(forwarder.status());
    RunningForwarder running(std::move(*forwarder), "the new index's forwarder");
    const auto finish = [&running](Status why) {
      (void)running.stop();
      return why;
    };
    if (Status s = snapshots_->waitSubscribed(running); !s) return abandon(finish(s));
    const ReindexConfig& rc = sink_->elasticsearch.reindex;
    auto rows = snapshots_->run(running, tables(), rc.chunkSize, rc.rowsPerSecond, [this](std::int64_t id) {
      state_.snapshot = id;
      return writeState(statePath_, alias_, state_);
    });
    if (!rows) return abandon(finish(rows.status()));
    if (Status s = snapshots_->catchUp(running, *rows, rc.maxLag); !s) return abandon(finish(s));
    if (Status s = moveAlias(); !s) return abandon(finish(s));
    // From here a stopped run is finished by the next one (the state names the moved alias).
    if (Status s = writeState(statePath_, alias_, state_); !s) return finish(s);
    if (Status s = followPastSwap(running, state_.swappedMs); !s) return finish(s);
    if (Status s = running.stop(); !s) return s;
    return finishSwap(state_);
  }

 private:
  bool stopped() const { return stop_ && *stop_; }

  // Which sink writes the alias and with which mappings; its index file; the clients of
  // Elasticsearch and canal-server's HTTP port.
  Status plan() {
    for (const SinkConfig& s : config_.sinks) {
      if (s.kind != SinkConfig::Kind::kElasticsearch) continue;
      const auto take = [&](const auto& mapping, auto& into) {
        if (mapping.index != alias_) return true;
        if (sink_ && sink_ != &s) return false;
        sink_ = &s;
        into.push_back(mapping);
        return true;
      };
      for (const IndexMapping& m : s.elasticsearch.mappings) {
        if (!take(m, mappings_)) return failure("two elasticsearch sinks write to '" + alias_ + "'");
      }
      for (const DocumentMapping& d : s.elasticsearch.documents) {
        if (!take(d, documents_)) return failure("two elasticsearch sinks write to '" + alias_ + "'");
      }
    }
    if (!sink_) return failure("no elasticsearch mapping or document writes to the index '" + alias_ + "'");
    const ReindexConfig& rc = sink_->elasticsearch.reindex;
    if (rc.snapshotUrl.empty()) {
      return failure(sink_->name + ": elasticsearch.reindex.snapshot_url is not set (canal-server's HTTP port)");
    }
    if (rc.destination.empty() || rc.destination == config_.source.destination) {
      return failure(sink_->name + ": elasticsearch.reindex.destination must name a destination of its own on the same "
                                   "primary, not " + config_.source.destination +
                                   " (Canal serves one consumer per destination: the running forwarder's batches "
                                   "would be taken)");
    }
    if (const auto file = rc.indexFiles.find(alias_); file != rc.indexFiles.end()) {
      std::ifstream in(file->second);
      if (!in) return failure("cannot read the index file " + file->second);
      std::stringstream text;
      text << in.rdbuf();
      const Json j = Json::parse(text.str(), nullptr, false);
      if (!j.is_object()) return failure(file->second + " is not a JSON object (settings, mappings)");
      indexBody_ = j.dump();
    }
    auto esHttp = HttpClient::create(httpOptionsOf(sink_->elasticsearch));
    if (!esHttp) return esHttp.status();
    esHttp_ = std::move(*esHttp);
    es_.emplace(*esHttp_, sink_->elasticsearch.url);
    source_ = config_.source;
    source_.destination = rc.destination;
    source_.clientId = rc.clientId;
    statePath_ = fs::path(rc.stateDir) / ("reindex-" + alias_ + ".json");
    auto snapshots = ServerSnapshots::create({rc.snapshotUrl, rc.snapshotUser, rc.snapshotPassword}, source_.destination,
                                             "reindex", log_, [this] { return stopped(); });
    if (!snapshots) return snapshots.status();
    snapshots_.emplace(std::move(*snapshots));
    return Status::ok();
  }

  // The new index's own forwarder on the reindex's destination: the alias's tables, into `index`.
  Result<std::unique_ptr<Forwarder>> newIndexForwarder(const std::string& index) {
    ForwarderConfig fc = config_;
    fc.source = source_;
    SinkConfig reindexSink = *sink_;
    reindexSink.name = "reindex-" + alias_;
    reindexSink.tables.clear();
    reindexSink.elasticsearch.mappings = mappings_;
    reindexSink.elasticsearch.documents = documents_;
    for (IndexMapping& m : reindexSink.elasticsearch.mappings) m.index = index;
    for (DocumentMapping& d : reindexSink.elasticsearch.documents) d.index = index;
    fc.sinks = {reindexSink};
    return Forwarder::create(fc, [log = log_](const std::string& line) { log("new index: " + line); });
  }

  // An earlier run moved the alias and stopped: the changes that reached the old index before
  // the swap may not all be in the new one yet, so its forwarder goes on from the destination's
  // cursor until it is past the swap.
  Status finishEarlierSwap(const State& state) {
    log_("the reindex of " + alias_ + " into " + state.index +
         " had moved the alias; finishing it (following the changes up to the swap)");
    auto forwarder = newIndexForwarder(state.index);
    if (!forwarder) return forwarder.status();
    RunningForwarder running(std::move(*forwarder), "the new index's forwarder");
    if (Status s = followPastSwap(running, state.swappedMs > 0 ? state.swappedMs : wallMs()); !s) return s;
    if (Status s = running.stop(); !s) return s;
    return finishSwap(state);
  }

  // An earlier run stopped before the swap: its index is dropped (and its snapshot, if the
  // server still runs it, cancelled) so this run starts afresh.
  Status dropEarlierRun(const State& state) {
    log_("a reindex of " + alias_ + " into " + state.index + " stopped before the swap; dropping " + state.index +
         " and starting again");
    if (state.snapshot > 0) {
      auto cancelled = snapshots_->cancel(state.snapshot);
      if (!cancelled) return cancelled.status();
      if (*cancelled) log_("cancelled its snapshot " + std::to_string(state.snapshot) + ", still running on the server");
    }
    if (Status s = es_->deleteIndex(state.index); !s) return s;
    fs::remove(statePath_);
    return Status::ok();
  }

  // The new index, recorded in the state file before it is created.
  Status createIndex(const std::vector<std::string>& targets, bool plain) {
    state_.index = alias_ + "_" + utcStamp();
    state_.previous = plain ? std::vector<std::string>{alias_} : targets;
    state_.plain = plain;
    if (Status s = writeState(statePath_, alias_, state_); !s) return s;
    if (Status s = es_->createIndex(state_.index, indexBody_); !s) {
      fs::remove(statePath_);
      return s;
    }
    log_("reindexing " + alias_ + " into " + state_.index + (targets.empty() && !plain ? " (a new alias)" : ""));
    return Status::ok();
  }

  // The new index is dropped (the alias never pointed to it) with the state file.
  Status abandon(Status why) {
    (void)es_->deleteIndex(state_.index);
    fs::remove(statePath_);
    return why;
  }

  // The alias's tables (a document's main table: its rows name the documents, which are read
  // whole from the source database).
  std::vector<std::string> tables() const {
    std::vector<std::string> out;
    for (const IndexMapping& m : mappings_) out.push_back(m.table);
    for (const DocumentMapping& d : documents_) out.push_back(d.table);
    return out;
  }

  // One _aliases request moves the alias from what it names now: a writer through it may have
  // created it as a plain index since the start (the running forwarder's first write to a name
  // that did not exist yet).
  Status moveAlias() {
    bool plain = false;
    auto current = es_->aliasTargets(alias_, &plain);
    if (!current) return current.status();
    if (plain != state_.plain || (!plain && *current != state_.previous)) {
      state_.plain = plain;
      state_.previous = plain ? std::vector<std::string>{alias_} : *current;
      if (Status s = writeState(statePath_, alias_, state_); !s) return s;
      if (plain) log_(alias_ + " was created as a plain index meanwhile; it is replaced by the alias");
    }
    Json actions = Json::array();
    for (const std::string& old : state_.previous) {
      if (state_.plain) {
        actions.push_back({{"remove_index", {{"index", old}}}});
      } else {
        actions.push_back({{"remove", {{"index", old}, {"alias", alias_}}}});
      }
    }
    actions.push_back({{"add", {{"index", state_.index}, {"alias", alias_}}}});
    if (Status s = es_->updateAliases(actions); !s) return s;
    state_.swappedMs = wallMs();
    log_("alias " + alias_ + " now points to " + state_.index);
    return Status::ok();
  }

  // Until the swap the running forwarder wrote through the alias into the old index; the new
  // index's forwarder goes on until it is past every change that can have gone there: caught up
  // after the swap (a get found nothing), or at a change committed after it (binlog times have
  // whole seconds).
  Status followPastSwap(RunningForwarder& running, std::int64_t swappedMs) {
    const auto atSwap = running.counters();
    for (;;) {
      if (stopped()) return failure("stopped after the swap; the next run finishes it");
      if (auto ended = running.ended()) return *ended;
      const auto c = running.counters();
      if (c.emptyGets > atSwap.emptyGets || c.lastExecuteTime >= swappedMs + 1000) return Status::ok();
      std::this_thread::sleep_for(20ms);
    }
  }

  // The previous indices deleted (unless keep_old, or the alias was a plain index, deleted by
  // the swap), the destination's cursor dropped, the state file removed.
  Status finishSwap(const State& state) {
    if (!sink_->elasticsearch.reindex.keepOld && !state.plain) {
      for (const std::string& old : state.previous) {
        if (Status s = es_->deleteIndex(old); !s) return s;
        log_("deleted the previous index " + old);
      }
    }
    unsubscribe(source_, log_);
    fs::remove(statePath_);
    return Status::ok();
  }

  const ForwarderConfig& config_;
  const std::string alias_;
  const ReindexLog& log_;
  const volatile int* const stop_;
  const SinkConfig* sink_ = nullptr;
  std::vector<IndexMapping> mappings_;
  std::vector<DocumentMapping> documents_;
  std::string indexBody_ = "{}";
  std::unique_ptr<HttpClient> esHttp_;
  std::optional<Elasticsearch> es_;
  std::optional<ServerSnapshots> snapshots_;
  SourceConfig source_;
  fs::path statePath_;
  State state_;
};

}  // namespace

bool reindexable(const ForwarderConfig& config, const std::string& alias) {
  for (const SinkConfig& s : config.sinks) {
    if (s.kind != SinkConfig::Kind::kElasticsearch) continue;
    for (const IndexMapping& m : s.elasticsearch.mappings) {
      if (m.index == alias) return true;
    }
    for (const DocumentMapping& d : s.elasticsearch.documents) {
      if (d.index == alias) return true;
    }
  }
  return false;
}

Status reindex(const ForwarderConfig& config, const std::string& alias, const ReindexLog& log,
               const volatile int* stop) {
  return Reindex(config, alias, log, stop).run();
}

}  // namespace canal::forwarder
