// canal-server: loads canal.properties and every destination's instance.properties.
//
//   canal-server [--config conf/canal.properties] [--check] [--list-keys]
//
// Relative directories in the configuration (canal.conf.dir, canal.file.data.dir) are resolved
// against the directory holding canal.properties, so the server can be started from anywhere.

#include <spdlog/spdlog.h>

#include <filesystem>
#include <iostream>
#include <string>

#include "server/app/config.h"
#include "server/common/logging.h"

namespace {

namespace fs = std::filesystem;

int usage() {
  std::cerr << "usage: canal-server [--config FILE] [--check] [--list-keys]\n"
               "  --config FILE  canal.properties to load (default conf/canal.properties)\n"
               "  --check        validate the configuration of the server and every destination, then exit\n"
               "  --list-keys    print every configuration key with its type, default and meaning\n";
  return 64;
}

}  // namespace

int main(int argc, char** argv) {
  std::string configPath = "conf/canal.properties";
  bool check = false;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--config" && i + 1 < argc) {
      configPath = argv[++i];
    } else if (arg == "--check") {
      check = true;
    } else if (arg == "--list-keys") {
      std::cout << canal::app::describeKeys();
      return 0;
    } else {
      return usage();
    }
  }
  auto log = canal::moduleLogger("app");

  auto canalFile = canal::app::PropertiesFile::load(configPath);
  if (!canalFile) {
    log->error("{}", canalFile.status().toString());
    return 1;
  }
  canal::app::Warnings warnings;
  auto server = canal::app::loadServerConfig(*canalFile, canal::app::processEnvironment(), &warnings);
  if (!server) {
    log->error("{}", server.status().toString());
    return 1;
  }
  const fs::path base = fs::path(configPath).parent_path();
  fs::path confDir = server->confDir;
  if (confDir.is_relative()) confDir = base / confDir;

  auto names = canal::app::destinationNames(*server);
  if (!names) {
    log->error("{}", names.status().toString());
    return 1;
  }
  int failures = 0;
  for (const auto& name : *names) {
    const fs::path instancePath = confDir / name / "instance.properties";
    auto instanceFile = canal::app::PropertiesFile::load(instancePath.string());
    if (!instanceFile) {
      log->error("destination {}: {}", name, instanceFile.status().toString());
      ++failures;
      continue;
    }
    auto instance = canal::app::loadInstanceConfig(name, *server, *canalFile, *instanceFile, &warnings);
    if (!instance) {
      log->error("destination {}: {}", name, instance.status().toString());
      ++failures;
      continue;
    }
    log->info("destination {}: primary {}, user {}", name, instance->master.address, instance->dbUsername);
  }
  for (const auto& w : warnings) log->warn("{}", w);
  if (failures > 0) return 1;
  if (check) {
    log->info("configuration OK: {} destination(s), client port {}", names->size(), server->port);
    return 0;
  }
  log->error("this build validates configuration only: replication and the client port are not available yet "
             "(use --check)");
  return 2;
}
