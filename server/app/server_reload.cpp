#include "server/app/server_reload.h"

#include <algorithm>
#include <array>

namespace canal::app {

bool appliesAtRunTime(std::string_view key) {
  static constexpr std::array<std::string_view, 8> kKeys = {
      "canal.user",          "canal.passwd", "canal.admin.user", "canal.admin.passwd", "canal.net.auth.timeout",
      "canal.net.connections.max", "canal.net.connections.unauthenticated.max", "canal.net.receive.budget"};
  return std::find(kKeys.begin(), kKeys.end(), key) != kKeys.end();
}

ServerFileChanges compareServerFiles(const PropertiesFile& running, const PropertiesFile& edited) {
  ServerFileChanges out;
  const auto note = [&](const std::string& key) {
    auto& list = appliesAtRunTime(key) ? out.applied : out.needRestart;
    if (std::find(list.begin(), list.end(), key) == list.end()) list.push_back(key);
  };
  for (const std::string& key : edited.keys()) {
    const auto* before = running.find(key);
    if (!before || before->value != edited.find(key)->value) note(key);
  }
  for (const std::string& key : running.keys()) {
    if (!edited.find(key)) note(key);
  }
  return out;
}

net::RuntimeOptions runtimeOptions(const ServerConfig& config) {
  net::RuntimeOptions r;
  r.user = config.user;
  r.passwordHash = config.passwordHash;
  r.authTimeout = std::chrono::milliseconds(config.authTimeoutMs);
  r.maxConnections = static_cast<std::size_t>(config.maxConnections);
  r.maxUnauthenticated = static_cast<std::size_t>(config.maxUnauthenticated);
  r.receiveBudget = static_cast<std::size_t>(config.receiveBudget);
  return r;
}

}  // namespace canal::app
