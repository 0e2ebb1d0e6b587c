#include "forwarder/server_snapshot.h"

#include <nlohmann/json.hpp>

namespace canal::forwarder {
namespace {

using client::Result;
using client::Status;
using Json = nlohmann::json;
using namespace std::chrono_literals;

std::int64_t wallMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

RunningForwarder::RunningForwarder(std::unique_ptr<Forwarder> forwarder, std::string what)
    : forwarder_(std::move(forwarder)), what_(std::move(what)), thread_([this] {
        result_ = forwarder_->run();
        ended_ = true;
      }) {}

RunningForwarder::~RunningForwarder() { (void)stop(); }

std::optional<Status> RunningForwarder::ended() const {
  if (!ended_) return std::nullopt;
  return result_.isOk() ? Status(Status::kInvalidArgument, what_ + " stopped") : result_;
}

Status RunningForwarder::stop() {
  if (thread_.joinable()) {
    forwarder_->stop();
    thread_.join();
  }
  return result_;
}

Result<ServerSnapshots> ServerSnapshots::create(const SnapshotLogin& login, const std::string& destination,
                                                std::string command, CommandLog log, std::function<bool()> stopped) {
  HttpOptions options;
  options.user = login.user;
  options.password = login.password;
  auto http = HttpClient::create(options);
  if (!http) return http.status();
  ServerSnapshots out;
  out.http_ = std::move(*http);
  out.url_ = login.url + "/destinations/" + destination + "/snapshots";
  out.tables_ = login.url + "/destinations/" + destination + "/tables/";
  out.destination_ = destination;
  out.command_ = std::move(command);
  out.log_ = std::move(log);
  out.stopped_ = std::move(stopped);
  return out;
}

Status ServerSnapshots::failure(const std::string& what) const {
  return Status(Status::kInvalidArgument, command_ + ": " + what);
}

Status ServerSnapshots::refused(const std::string& what, const HttpResponse& r) const {
  return failure(what + " answered " + std::to_string(r.status) + ": " + r.body.substr(0, 500));
}

Result<std::vector<SourceColumn>> ServerSnapshots::columnsOf(const std::string& table) {
  auto answer = ask(tables_ + table, "GET", "");
  if (!answer) return answer.status();
  if (answer->status != 200) return refused("GET " + tables_ + table, *answer);
  const Json j = Json::parse(answer->body, nullptr, false);
  std::vector<SourceColumn> columns;
  for (const Json& c : j.is_object() ? j.value("columns", Json::array()) : Json::array()) {
    if (!c.is_object() || !c["name"].is_string() || !c["mysqlType"].is_string()) continue;
    columns.push_back({c["name"].get<std::string>(), c["mysqlType"].get<std::string>(), c.value("isKey", false)});
  }
  if (columns.empty()) return failure("canal-server gave no columns of " + table + ": " + answer->body.substr(0, 500));
  return columns;
}

Result<HttpResponse> ServerSnapshots::ask(const std::string& url, const std::string& method, const std::string& body) {
  const auto deadline = std::chrono::steady_clock::now() + 120s;
  auto pause = 1000ms;
  for (;;) {
    auto r = http_->request(method, url, body);
    const bool passing = !r || r->status == 503;
    if (!passing || stopped_() || std::chrono::steady_clock::now() + pause > deadline) return r;
    log_(method + " " + url + ": " + (r ? std::to_string(r->status) + " " + r->body : r.status().message()) +
         "; asking again in " + std::to_string(pause.count() / 1000) + " s");
    for (auto slept = 0ms; slept < pause && !stopped_(); slept += 100ms) std::this_thread::sleep_for(100ms);
    pause = std::min(pause * 2, std::chrono::milliseconds(10000));
  }
}

Result<bool> ServerSnapshots::cancel(std::int64_t id) {
  const auto running = [&] {
    auto progress = http_->request("GET", url_);
    const Json p = progress ? Json::parse(progress->body, nullptr, false) : Json();
    return p.is_object() && p.value("id", std::int64_t{0}) == id && p.value("state", "") == "running";
  };
  if (!running()) return false;
  auto cancelled = http_->request("DELETE", url_);
  if (!cancelled) return cancelled.status();
  // The server ends it after the chunk in hand: until then it refuses a new snapshot (409).
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  while (running()) {
    if (stopped_() || std::chrono::steady_clock::now() > deadline) {
      return failure("snapshot " + std::to_string(id) + " still runs on canal-server a minute after it was cancelled");
    }
    std::this_thread::sleep_for(20ms);
  }
  return true;
}

Status ServerSnapshots::waitSubscribed(const FollowingForwarder& running) {
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  for (;;) {
    const auto c = running.counters();
    if (c.subscriptions > 0) return Status::ok();
    if (auto ended = running.ended()) return *ended;
    if (stopped_() || std::chrono::steady_clock::now() > deadline) {
      return failure("the forwarder did not reach destination " + destination_);
    }
    std::this_thread::sleep_for(20ms);
  }
}

Result<std::uint64_t> ServerSnapshots::run(const FollowingForwarder& running, const std::vector<std::string>& tables,
                                           int chunkSize, int rowsPerSecond,
                                           const std::function<Status(std::int64_t)>& started) {
  Json request = {{"tables", tables}};
  if (chunkSize > 0) request["chunkSize"] = chunkSize;
  if (rowsPerSecond > 0) request["rowsPerSecond"] = rowsPerSecond;
  auto answer = ask("POST", request.dump());
  if (!answer) return answer.status();
  if (answer->status != 202) return refused("POST " + url_, *answer);
  if (Status s = started(Json::parse(answer->body, nullptr, false).value("id", std::int64_t{0})); !s) return s;
  log_("snapshot of " + Json(tables).dump() + " started: " + answer->body);
  for (;;) {
    if (stopped_()) return failure("stopped");
    if (auto ended = running.ended()) return *ended;
    auto progress = ask("GET");
    if (!progress) return progress.status();
    const Json p = Json::parse(progress->body, nullptr, false);
    if (progress->status != 200 || !p.is_object()) return refused("GET " + url_, *progress);
    const std::string state = p.value("state", "");
    if (state == "done") {
      std::uint64_t rows = 0;
      for (const Json& t : p.value("tables", Json::array())) rows += t.value("rows", std::uint64_t{0});
      log_("snapshot done: " + std::to_string(rows) + " rows");
      return rows;
    }
    if (state != "running") return failure("the snapshot ended " + state + ": " + progress->body);
    std::this_thread::sleep_for(200ms);
  }
}

Status ServerSnapshots::catchUp(const FollowingForwarder& running, std::uint64_t snapshotRows, std::chrono::milliseconds maxLag) {
  ForwarderCounters loaded;
  auto said = std::chrono::steady_clock::now();
  for (;;) {
    if (stopped_()) return failure("stopped");
    if (auto ended = running.ended()) return *ended;
    loaded = running.counters();
    if (loaded.snapshotRows >= snapshotRows) {
      // Caught up already when the last batch applied is recent enough.
      if (wallMs() - loaded.lastExecuteTime <= maxLag.count()) return Status::ok();
      break;
    }
    if (std::chrono::steady_clock::now() - said > 10s) {
      log_("written " + std::to_string(loaded.snapshotRows) + " of the snapshot's " + std::to_string(snapshotRows) +
           " rows");
      said = std::chrono::steady_clock::now();
    }
    std::this_thread::sleep_for(20ms);
  }
  for (;;) {
    if (stopped_()) return failure("stopped");
    if (auto ended = running.ended()) return *ended;
    const auto c = running.counters();
    if (c.emptyGets > loaded.emptyGets) return Status::ok();
    if (c.batches > loaded.batches && wallMs() - c.lastExecuteTime <= maxLag.count()) return Status::ok();
    std::this_thread::sleep_for(20ms);
  }
}

}  // namespace canal::forwarder
