#include "tests/support/ha_cluster.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>

namespace canal::testing {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

Result<std::unique_ptr<HaCluster>> HaCluster::start(const std::string& serverBinary, const std::string& name,
                                                    int dbPort, int sessionTimeoutMs, const std::string& journal,
                                                    const std::string& position) {
  auto c = std::make_unique<HaCluster>();
  auto zk = ZooKeeperServer::start();
  if (!zk) return zk.status();
  c->zk = std::move(*zk);
  c->dir = std::make_unique<TempDir>(name);
  const auto server = [&](const char* sub) {
    return std::make_unique<CanalServerProcess>(serverBinary, c->dir->path() / sub, "default-instance.xml", dbPort,
                                                c->zk->connectString(), journal, position);
  };
  c->a = server("a");
  c->b = server("b");
  for (const char* sub : {"a", "b"}) {
    std::ofstream(c->dir->path() / sub / "conf" / "canal.properties", std::ios::app)
        << "canal.zookeeper.session.timeout = " << sessionTimeoutMs << "\n";
  }
  auto session = ZooKeeperSession::connect(c->zk->connectString(), 10s, 10s);
  if (!session) return session.status();
  c->session = std::move(*session);
  CANAL_RETURN_IF_ERROR(c->a->start());
  if (!waitUntil(20s, [&] { return c->runningAddress() == c->a->address(); })) {
    return Status::unavailable("server a never ran the destination: " + c->a->logTail());
  }
  CANAL_RETURN_IF_ERROR(c->b->start());
  if (!c->bothMembers(10s)) return Status::unavailable("server b never joined the cluster: " + c->b->logTail());
  return c;
}

std::string HaCluster::runningAddress() const {
  auto data = session->get("/otter/canal/destinations/example/running");
  if (!data || !*data) return "";
  const auto j = nlohmann::json::parse(**data, nullptr, false);
  return j.is_object() && j["address"].is_string() ? j["address"].get<std::string>() : "";
}

bool HaCluster::bothMembers(std::chrono::milliseconds timeout) const {
  return waitUntil(timeout, [&] {
    auto members = session->children("/otter/canal/destinations/example/cluster");
    return members && members->size() == 2;
  });
}

TailProcess::TailProcess(std::string binary, const HaCluster& cluster, std::string output)
    : command_{std::move(binary), "--zk", cluster.zk->connectString(), "--destination", "example"},
      output_(std::move(output)) {}

std::uintmax_t TailProcess::printed() const {
  std::error_code ec;
  const auto n = std::filesystem::file_size(output_, ec);
  return ec ? std::uintmax_t{0} : n;
}

std::vector<long> TailProcess::ids(const std::string& table) const {
  std::vector<long> ids;
  std::ifstream in(output_);
  std::string line;
  while (std::getline(in, line)) {
    const auto j = nlohmann::json::parse(line, nullptr, false);
    if (!j.is_object() || j["table"] != table || !j["data"].is_array()) continue;
    for (const auto& row : j["data"]) {
      if (row.is_object() && row["id"].is_string()) ids.push_back(std::stol(row["id"].get<std::string>()));
    }
  }
  return ids;
}

double TakeoverGaps::median() const {
  if (seconds.empty()) return 0;
  std::vector<double> sorted = seconds;
  std::sort(sorted.begin(), sorted.end());
  return sorted[sorted.size() / 2];
}

double TakeoverGaps::max() const { return seconds.empty() ? 0 : *std::max_element(seconds.begin(), seconds.end()); }

TakeoverGaps killAndMeasure(HaCluster& cluster, TailProcess& tail, int kills, int restartTailAt) {
  TakeoverGaps out;
  CanalServerProcess* running = cluster.a.get();
  CanalServerProcess* standby = cluster.b.get();
  if (cluster.runningAddress() == standby->address()) std::swap(running, standby);
  for (int kill = 0; kill < kills; ++kill) {
    const auto before = tail.printed();
    if (!waitUntil(20s, [&] { return tail.printed() > before + 2000; })) {
      out.error = "canal-tail printed nothing new before kill " + std::to_string(kill + 1) + ": " + tail.logTail();
      return out;
    }
    if (!cluster.bothMembers(10s)) {
      out.error = "the standby is not in the cluster: " + standby->logTail();
      return out;
    }
    if (kill == restartTailAt) tail.stop();
    running->kill();
    const auto killed = Clock::now();
    if (kill == restartTailAt && !tail.start()) {
      out.error = "canal-tail did not start again";
      return out;
    }
    const auto atKill = tail.printed();
    // Lines printed after the kill may be the killed server's last reply: the gap ends with the
    // first line printed once the standby runs the destination.
    if (!waitUntil(30s, [&] { return cluster.runningAddress() == standby->address(); }, 20ms)) {
      out.error = "the standby did not take over: " + standby->logTail();
      return out;
    }
    out.takeovers.push_back(std::chrono::duration<double>(Clock::now() - killed).count());
    const auto atTakeover = std::max(tail.printed(), atKill);
    if (!waitUntil(30s, [&] { return tail.printed() > atTakeover; }, 10ms)) {
      out.error = "canal-tail printed nothing after the takeover: " + tail.logTail();
      return out;
    }
    out.seconds.push_back(std::chrono::duration<double>(Clock::now() - killed).count());
    if (!tail.running()) {
      out.error = "canal-tail exited: " + tail.logTail();
      return out;
    }
    if (!running->start()) {  // back as the standby
      out.error = "the killed server did not start again: " + running->logTail();
      return out;
    }
    std::swap(running, standby);
  }
  return out;
}

}  // namespace canal::testing
