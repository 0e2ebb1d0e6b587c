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

// A forwarder running on a thread of its own until stop().
class RunningForwarder {
 public:
  explicit RunningForwarder(std::unique_ptr<Forwarder> forwarder)
      : forwarder_(std::move(forwarder)), thread_([this] {
          result_ = forwarder_->run();
          ended_ = true;
        }) {}
  ~RunningForwarder() { (void)stop(); }
  RunningForwarder(const RunningForwarder&) = delete;
  RunningForwarder& operator=(const RunningForwarder&) = delete;

  ForwarderCounters counters() const { return forwarder_->counters(); }
  // True when it ended by itself: a failure retrying cannot fix.
  bool ended() const { return ended_; }
  Status endedStatus() const { return result_.isOk() ? failure("the new index's forwarder stopped") : result_; }
  // Stops it; what its run() returned.
  Status stop() {
    if (thread_.joinable()) {
      forwarder_->stop();
      thread_.join();
    }
    return result_;
  }

 private:
  std::unique_ptr<Forwarder> forwarder_;
  Status result_;
  std::atomic<bool> ended_{false};
  std::thread thread_;
};

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
    RunningForwarder running(std::move(*forwarder));
    const auto finish = [&running](Status why) {
      (void)running.stop();
      return why;
    };
    if (Status s = waitSubscribed(running); !s) return abandon(finish(s));
    auto rows = snapshot(running);
    if (!rows) return abandon(finish(rows.status()));
    if (Status s = catchUp(running, *rows); !s) return abandon(finish(s));
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
    HttpOptions serverOptions;
    serverOptions.user = rc.snapshotUser;
    serverOptions.password = rc.snapshotPassword;
    auto serverHttp = HttpClient::create(serverOptions);
    if (!serverHttp) return serverHttp.status();
    serverHttp_ = std::move(*serverHttp);
    source_ = config_.source;
    source_.destination = rc.destination;
    source_.clientId = rc.clientId;
    statePath_ = fs::path(rc.stateDir) / ("reindex-" + alias_ + ".json");
    snapshotsUrl_ = rc.snapshotUrl + "/destinations/" + source_.destination + "/snapshots";
    return Status::ok();
  }

  // A request to the snapshot endpoint, asked again while canal-server answers 503 (the primary
  // cannot be reached, the destination is starting) or does not answer, every 1 s to 10 s, for
  // up to two minutes: passing conditions are waited out and said in the log.
  Result<HttpResponse> askServer(const std::string& method, const std::string& body = "") {
    const auto deadline = std::chrono::steady_clock::now() + 120s;
    auto pause = 1000ms;
    for (;;) {
      auto r = serverHttp_->request(method, snapshotsUrl_, body);
      const bool passing = !r || r->status == 503;
      if (!passing || stopped() || std::chrono::steady_clock::now() + pause > deadline) return r;
      log_(method + " " + snapshotsUrl_ + ": " + (r ? std::to_string(r->status) + " " + r->body : r.status().message()) +
           "; asking again in " + std::to_string(pause.count() / 1000) + " s");
      for (auto slept = 0ms; slept < pause && !stopped(); slept += 100ms) std::this_thread::sleep_for(100ms);
      pause = std::min(pause * 2, std::chrono::milliseconds(10000));
    }
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
    RunningForwarder running(std::move(*forwarder));
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
      auto progress = serverHttp_->request("GET", snapshotsUrl_);
      const Json p = progress ? Json::parse(progress->body, nullptr, false) : Json();
      if (p.is_object() && p.value("id", std::int64_t{0}) == state.snapshot && p.value("state", "") == "running") {
        auto cancelled = serverHttp_->request("DELETE", snapshotsUrl_);
        if (!cancelled) return cancelled.status();
        log_("cancelled its snapshot " + std::to_string(state.snapshot) + ", still running on the server");
      }
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

  // Subscribed (a first get answered) before the snapshot starts, so no change after it is missed.
  Status waitSubscribed(RunningForwarder& running) {
    const auto deadline = std::chrono::steady_clock::now() + 60s;
    for (;;) {
      const auto c = running.counters();
      if (c.emptyGets + c.batches > 0) return Status::ok();
      if (running.ended()) return running.endedStatus();
      if (stopped() || std::chrono::steady_clock::now() > deadline) {
        return failure("the new index's forwarder did not reach destination " + source_.destination);
      }
      std::this_thread::sleep_for(20ms);
    }
  }

  // The snapshot of the alias's tables (a document's main table: its rows name the documents,
  // which are read whole from the source database), waited for; the rows it put into the stream
  // (rows changed while their chunk was read are dropped: the stream carries their newer version).
  Result<std::uint64_t> snapshot(RunningForwarder& running) {
    const ReindexConfig& rc = sink_->elasticsearch.reindex;
    Json tables = Json::array();
    for (const IndexMapping& m : mappings_) tables.push_back(m.table);
    for (const DocumentMapping& d : documents_) tables.push_back(d.table);
    Json request = {{"tables", tables}};
    if (rc.chunkSize > 0) request["chunkSize"] = rc.chunkSize;
    if (rc.rowsPerSecond > 0) request["rowsPerSecond"] = rc.rowsPerSecond;
    auto started = askServer("POST", request.dump());
    if (!started) return started.status();
    if (started->status != 202) return refused("POST " + snapshotsUrl_, *started);
    state_.snapshot = Json::parse(started->body, nullptr, false).value("id", std::int64_t{0});
    if (Status s = writeState(statePath_, alias_, state_); !s) return s;
    log_("snapshot of " + tables.dump() + " started: " + started->body);
    for (;;) {
      if (stopped()) return failure("stopped");
      if (running.ended()) return running.endedStatus();
      auto progress = askServer("GET");
      if (!progress) return progress.status();
      const Json p = Json::parse(progress->body, nullptr, false);
      if (progress->status != 200 || !p.is_object()) return refused("GET " + snapshotsUrl_, *progress);
      const std::string s = p.value("state", "");
      if (s == "done") {
        std::uint64_t rows = 0;
        for (const Json& t : p.value("tables", Json::array())) rows += t.value("rows", std::uint64_t{0});
        log_("snapshot done: " + std::to_string(rows) + " rows");
        return rows;
      }
      if (s != "running") return failure("the snapshot ended " + s + ": " + progress->body);
      std::this_thread::sleep_for(200ms);
    }
  }

  // Caught up: every snapshot row is in the new index, and then a get found nothing or the last
  // change written is within max_lag_ms.
  Status catchUp(RunningForwarder& running, std::uint64_t snapshotRows) {
    ForwarderCounters loaded;
    auto said = std::chrono::steady_clock::now();
    for (;;) {
      if (stopped()) return failure("stopped");
      if (running.ended()) return running.endedStatus();
      loaded = running.counters();
      if (loaded.snapshotRows >= snapshotRows) break;
      if (std::chrono::steady_clock::now() - said > 10s) {
        log_("the new index has " + std::to_string(loaded.snapshotRows) + " of the snapshot's " +
             std::to_string(snapshotRows) + " rows");
        said = std::chrono::steady_clock::now();
      }
      std::this_thread::sleep_for(20ms);
    }
    const auto maxLag = sink_->elasticsearch.reindex.maxLag.count();
    for (;;) {
      if (stopped()) return failure("stopped");
      if (running.ended()) return running.endedStatus();
      const auto c = running.counters();
      if (c.emptyGets > loaded.emptyGets) return Status::ok();
      if (c.batches > loaded.batches && wallMs() - c.lastExecuteTime <= maxLag) return Status::ok();
      std::this_thread::sleep_for(20ms);
    }
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
      if (running.ended()) return running.endedStatus();
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
  std::unique_ptr<HttpClient> serverHttp_;
  SourceConfig source_;
  fs::path statePath_;
  std::string snapshotsUrl_;
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
