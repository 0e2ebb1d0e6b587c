#include "forwarder/reindex.h"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
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

bool stopped(const volatile int* stop) { return stop && *stop; }

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
  const SinkConfig* sink = nullptr;
  std::vector<IndexMapping> mappings;
  std::vector<DocumentMapping> documents;
  for (const SinkConfig& s : config.sinks) {
    if (s.kind != SinkConfig::Kind::kElasticsearch) continue;
    const auto take = [&](const auto& mapping, auto& into) {
      if (mapping.index != alias) return true;
      if (sink && sink != &s) return false;
      sink = &s;
      into.push_back(mapping);
      return true;
    };
    for (const IndexMapping& m : s.elasticsearch.mappings) {
      if (!take(m, mappings)) return failure("two elasticsearch sinks write to '" + alias + "'");
    }
    for (const DocumentMapping& d : s.elasticsearch.documents) {
      if (!take(d, documents)) return failure("two elasticsearch sinks write to '" + alias + "'");
    }
  }
  if (!sink) return failure("no elasticsearch mapping or document writes to the index '" + alias + "'");
  const ReindexConfig& rc = sink->elasticsearch.reindex;
  if (rc.snapshotUrl.empty()) {
    return failure(sink->name + ": elasticsearch.reindex.snapshot_url is not set (canal-server's HTTP port)");
  }
  if (rc.destination.empty() || rc.destination == config.source.destination) {
    return failure(sink->name + ": elasticsearch.reindex.destination must name a destination of its own on the same "
                                "primary, not " + config.source.destination +
                                " (Canal serves one consumer per destination: the running forwarder's batches "
                                "would be taken)");
  }
  std::string body = "{}";
  if (const auto file = rc.indexFiles.find(alias); file != rc.indexFiles.end()) {
    std::ifstream in(file->second);
    if (!in) return failure("cannot read the index file " + file->second);
    std::stringstream text;
    text << in.rdbuf();
    const Json j = Json::parse(text.str(), nullptr, false);
    if (!j.is_object()) return failure(file->second + " is not a JSON object (settings, mappings)");
    body = j.dump();
  }
  auto esHttp = HttpClient::create(httpOptionsOf(sink->elasticsearch));
  if (!esHttp) return esHttp.status();
  Elasticsearch es(**esHttp, sink->elasticsearch.url);
  HttpOptions serverOptions;
  serverOptions.user = rc.snapshotUser;
  serverOptions.password = rc.snapshotPassword;
  auto serverHttp = HttpClient::create(serverOptions);
  if (!serverHttp) return serverHttp.status();
  SourceConfig source = config.source;
  source.destination = rc.destination;
  source.clientId = rc.clientId;
  const fs::path statePath = fs::path(rc.stateDir) / ("reindex-" + alias + ".json");
  const std::string snapshotsUrl = rc.snapshotUrl + "/destinations/" + source.destination + "/snapshots";
  // A request to the snapshot endpoint, asked again while canal-server answers 503 (the primary
  // cannot be reached, the destination is starting) or does not answer, every 1 s to 10 s, for
  // up to two minutes: passing conditions are waited out and said in the log.
  const auto askServer = [&](const std::string& method, const std::string& body = "") {
    const auto deadline = std::chrono::steady_clock::now() + 120s;
    auto pause = 1000ms;
    for (;;) {
      auto r = (*serverHttp)->request(method, snapshotsUrl, body);
      const bool passing = !r || r->status == 503;
      if (!passing || stopped(stop) || std::chrono::steady_clock::now() + pause > deadline) return r;
      log(method + " " + snapshotsUrl + ": " + (r ? std::to_string(r->status) + " " + r->body : r.status().message()) +
          "; asking again in " + std::to_string(pause.count() / 1000) + " s");
      for (auto slept = 0ms; slept < pause && !stopped(stop); slept += 100ms) std::this_thread::sleep_for(100ms);
      pause = std::min(pause * 2, std::chrono::milliseconds(10000));
    }
  };

  // The new index's own forwarder on the reindex's destination: the alias's tables, into `index`.
  const auto newIndexForwarder = [&](const std::string& index) {
    ForwarderConfig fc = config;
    fc.source = source;
    SinkConfig reindexSink = *sink;
    reindexSink.name = "reindex-" + alias;
    reindexSink.tables.clear();
    reindexSink.elasticsearch.mappings = mappings;
    reindexSink.elasticsearch.documents = documents;
    for (IndexMapping& m : reindexSink.elasticsearch.mappings) m.index = index;
    for (DocumentMapping& d : reindexSink.elasticsearch.documents) d.index = index;
    fc.sinks = {reindexSink};
    return Forwarder::create(fc, [&log](const std::string& line) { log("new index: " + line); });
  };
  // Until the swap the running forwarder wrote through the alias into the old index; the new
  // index's forwarder goes on until it is past every change that can have gone there: caught up
  // after the swap (a get found nothing), or at a change committed after it (binlog times have
  // whole seconds).
  const auto followPastSwap = [&](RunningForwarder& running, std::int64_t swappedMs) {
    const auto atSwap = running.counters();
    for (;;) {
      if (stopped(stop)) return failure("stopped after the swap; the next run finishes it");
      if (running.ended()) return running.endedStatus();
      const auto c = running.counters();
      if (c.emptyGets > atSwap.emptyGets || c.lastExecuteTime >= swappedMs + 1000) return Status::ok();
      std::this_thread::sleep_for(20ms);
    }
  };
  const auto finishSwap = [&](const State& state) {
    if (!rc.keepOld && !state.plain) {
      for (const std::string& old : state.previous) {
        if (Status s = es.deleteIndex(old); !s) return s;
        log("deleted the previous index " + old);
      }
    }
    unsubscribe(source, log);
    fs::remove(statePath);
    return Status::ok();
  };

  bool plain = false;
  auto targets = es.aliasTargets(alias, &plain);
  if (!targets) return targets.status();
  if (const auto state = readState(statePath)) {
    if (*targets == std::vector<std::string>{state->index}) {
      // The changes that reached the old index before the swap may not all be in the new one
      // yet: its forwarder goes on from the destination's cursor until it is past the swap.
      log("the reindex of " + alias + " into " + state->index +
          " had moved the alias; finishing it (following the changes up to the swap)");
      auto forwarder = newIndexForwarder(state->index);
      if (!forwarder) return forwarder.status();
      RunningForwarder running(std::move(*forwarder));
      if (Status s = followPastSwap(running, state->swappedMs > 0 ? state->swappedMs : wallMs()); !s) return s;
      if (Status s = running.stop(); !s) return s;
      return finishSwap(*state);
    }
    log("a reindex of " + alias + " into " + state->index + " stopped before the swap; dropping " + state->index +
        " and starting again");
    if (state->snapshot > 0) {
      // Its snapshot may still run on the server: cancelled, so this run can have its own.
      auto progress = (*serverHttp)->request("GET", snapshotsUrl);
      const Json p = progress ? Json::parse(progress->body, nullptr, false) : Json();
      if (p.is_object() && p.value("id", std::int64_t{0}) == state->snapshot && p.value("state", "") == "running") {
        auto cancelled = (*serverHttp)->request("DELETE", snapshotsUrl);
        if (!cancelled) return cancelled.status();
        log("cancelled its snapshot " + std::to_string(state->snapshot) + ", still running on the server");
      }
    }
    if (Status s = es.deleteIndex(state->index); !s) return s;
    fs::remove(statePath);
  }

  State state;
  state.index = alias + "_" + utcStamp();
  state.previous = plain ? std::vector<std::string>{alias} : *targets;
  state.plain = plain;
  if (Status s = writeState(statePath, alias, state); !s) return s;
  if (Status s = es.createIndex(state.index, body); !s) {
    fs::remove(statePath);
    return s;
  }
  log("reindexing " + alias + " into " + state.index + (targets->empty() && !plain ? " (a new alias)" : ""));
  const auto abandon = [&](Status why) {
    (void)es.deleteIndex(state.index);  // the alias never pointed to it
    fs::remove(statePath);
    return why;
  };

  auto forwarder = newIndexForwarder(state.index);
  if (!forwarder) return abandon(forwarder.status());
  RunningForwarder running(std::move(*forwarder));
  const auto finish = [&](Status why) {
    (void)running.stop();
    return why;
  };
  // Subscribed (a first get answered) before the snapshot starts, so no change after it is missed.
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  for (;;) {
    const auto c = running.counters();
    if (c.emptyGets + c.batches > 0) break;
    if (running.ended()) return abandon(finish(running.endedStatus()));
    if (stopped(stop) || std::chrono::steady_clock::now() > deadline) {
      return abandon(finish(failure("the new index's forwarder did not reach destination " + source.destination)));
    }
    std::this_thread::sleep_for(20ms);
  }

  // The snapshot of the alias's tables (a document's main table: its rows name the documents,
  // which are read whole from the source database).
  Json tables = Json::array();
  for (const IndexMapping& m : mappings) tables.push_back(m.table);
  for (const DocumentMapping& d : documents) tables.push_back(d.table);
  Json request = {{"tables", tables}};
  if (rc.chunkSize > 0) request["chunkSize"] = rc.chunkSize;
  if (rc.rowsPerSecond > 0) request["rowsPerSecond"] = rc.rowsPerSecond;
  auto started = askServer("POST", request.dump());
  if (!started) return abandon(finish(started.status()));
  if (started->status != 202) return abandon(finish(refused("POST " + snapshotsUrl, *started)));
  state.snapshot = Json::parse(started->body, nullptr, false).value("id", std::int64_t{0});
  if (Status s = writeState(statePath, alias, state); !s) return abandon(finish(s));
  log("snapshot of " + tables.dump() + " started: " + started->body);
  std::uint64_t snapshotRows = 0;
  for (;;) {
    if (stopped(stop)) return abandon(finish(failure("stopped")));
    if (running.ended()) return abandon(finish(running.endedStatus()));
    auto progress = askServer("GET");
    if (!progress) return abandon(finish(progress.status()));
    const Json p = Json::parse(progress->body, nullptr, false);
    if (progress->status != 200 || !p.is_object()) return abandon(finish(refused("GET " + snapshotsUrl, *progress)));
    const std::string s = p.value("state", "");
    if (s == "done") {
      // The rows it put into the stream (rows changed while their chunk was read are dropped:
      // the stream carries their newer version).
      for (const Json& t : p.value("tables", Json::array())) snapshotRows += t.value("rows", std::uint64_t{0});
      log("snapshot done: " + std::to_string(snapshotRows) + " rows");
      break;
    }
    if (s != "running") return abandon(finish(failure("the snapshot ended " + s + ": " + progress->body)));
    std::this_thread::sleep_for(200ms);
  }
  // Caught up: every snapshot row is in the new index, and then a get found nothing or the last
  // change written is within max_lag_ms.
  ForwarderCounters loaded;
  auto said = std::chrono::steady_clock::now();
  for (;;) {
    if (stopped(stop)) return abandon(finish(failure("stopped")));
    if (running.ended()) return abandon(finish(running.endedStatus()));
    loaded = running.counters();
    if (loaded.snapshotRows >= snapshotRows) break;
    if (std::chrono::steady_clock::now() - said > 10s) {
      log("the new index has " + std::to_string(loaded.snapshotRows) + " of the snapshot's " +
          std::to_string(snapshotRows) + " rows");
      said = std::chrono::steady_clock::now();
    }
    std::this_thread::sleep_for(20ms);
  }
  for (;;) {
    if (stopped(stop)) return abandon(finish(failure("stopped")));
    if (running.ended()) return abandon(finish(running.endedStatus()));
    const auto c = running.counters();
    if (c.emptyGets > loaded.emptyGets) break;
    if (c.batches > loaded.batches && wallMs() - c.lastExecuteTime <= rc.maxLag.count()) break;
    std::this_thread::sleep_for(20ms);
  }

  // What the alias name is now: a writer through it may have created it as a plain index since
  // the start (the running forwarder's first write to a name that did not exist yet).
  auto current = es.aliasTargets(alias, &plain);
  if (!current) return abandon(finish(current.status()));
  if (plain != state.plain || (!plain && *current != state.previous)) {
    state.plain = plain;
    state.previous = plain ? std::vector<std::string>{alias} : *current;
    if (Status s = writeState(statePath, alias, state); !s) return abandon(finish(s));
    if (plain) log(alias + " was created as a plain index meanwhile; it is replaced by the alias");
  }
  // One request moves the alias.
  Json actions = Json::array();
  for (const std::string& old : state.previous) {
    if (state.plain) {
      actions.push_back({{"remove_index", {{"index", old}}}});
    } else {
      actions.push_back({{"remove", {{"index", old}, {"alias", alias}}}});
    }
  }
  actions.push_back({{"add", {{"index", state.index}, {"alias", alias}}}});
  if (Status s = es.updateAliases(actions); !s) return abandon(finish(s));
  state.swappedMs = wallMs();
  log("alias " + alias + " now points to " + state.index);
  // From here a stopped run is finished by the next one (the state names the moved alias).
  if (Status s = writeState(statePath, alias, state); !s) return finish(s);
  if (Status s = followPastSwap(running, state.swappedMs); !s) return finish(s);
  if (Status s = running.stop(); !s) return s;
  return finishSwap(state);
}

}  // namespace canal::forwarder
