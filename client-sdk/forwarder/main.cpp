// canal-forwarder: follows a Canal destination through the SDK and writes its changes to Kafka,
// RabbitMQ, Elasticsearch and Redis, acking each batch once every sink confirmed it; and
// `canal-forwarder reindex` rebuilds an Elasticsearch index behind its alias.

#include <csignal>
#include <cstdio>
#include <ctime>
#include <iostream>
#include <mutex>
#include <string>

#include "forwarder/admin_endpoint.h"
#include "forwarder/connect_check.h"
#include "forwarder/forwarder.h"
#include "forwarder/reindex.h"
#include "forwarder/sql/sql_load.h"

namespace {

volatile int stopSignal = 0;
extern "C" void onSignal(int sig) { stopSignal = sig; }

// Lines come from the forwarder's loop and from reindexes asked over the admin endpoint.
void logLine(const std::string& line) {
  static std::mutex mutex;
  std::lock_guard<std::mutex> lock(mutex);
  char stamp[32];
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  localtime_r(&now, &tm);
  std::strftime(stamp, sizeof stamp, "%Y-%m-%d %H:%M:%S", &tm);
  std::cerr << stamp << " canal-forwarder: " << line << std::endl;
}

int usage(const char* error = nullptr) {
  if (error) std::cerr << "canal-forwarder: " << error << "\n";
  std::cerr << "usage: canal-forwarder --config FILE [--check [--connect]]\n"
               "       canal-forwarder reindex --config FILE --index ALIAS\n"
               "       canal-forwarder load --config FILE --table DATABASE.TABLE [--create]\n"
               "  --config FILE   the YAML configuration (see conf/forwarder.yml)\n"
               "  --check         read the configuration, report errors and exit\n"
               "  --connect       with --check: also reach canal-server, every sink, the source database of\n"
               "                  documents (every mapped table and join column) and the reindex's destination\n"
               "  reindex         build a new index for ALIAS (a snapshot and the live stream), then move\n"
               "                  the alias to it in one step; the running forwarder goes on meanwhile\n"
               "                  (a forwarder with admin.listen also takes POST /reindex/ALIAS)\n"
               "  load            fill a sql sink's copy of TABLE with its existing rows (a snapshot through\n"
               "                  the stream), then stop with everything acked; --create makes the copy's\n"
               "                  table when missing. Run it instead of the forwarder, then start the forwarder\n";
  return 64;
}

}  // namespace

int main(int argc, char** argv) {
  std::string path;
  std::string alias;
  bool check = false;
  bool connect = false;
  bool reindex = false;
  bool load = false;
  bool create = false;
  std::string table;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "reindex" && i == 1) {
      reindex = true;
    } else if (arg == "load" && i == 1) {
      load = true;
    } else if (arg == "--table" && i + 1 < argc) {
      table = argv[++i];
    } else if (arg == "--create") {
      create = true;
    } else if (arg == "--index" && i + 1 < argc) {
      alias = argv[++i];
    } else if (arg == "--config" && i + 1 < argc) {
      path = argv[++i];
    } else if (arg == "--check") {
      check = true;
    } else if (arg == "--connect") {
      connect = true;
    } else if (arg == "--help" || arg == "-h") {
      return usage();
    } else {
      return usage(("unknown argument " + arg).c_str());
    }
  }
  if (path.empty()) return usage("--config is required");
  auto config = canal::forwarder::loadForwarderConfig(path);
  if (!config) {
    logLine("configuration error: " + config.status().message());
    return 78;
  }
  if (connect && !check) return usage("--connect belongs to --check");
  if (check && connect) {
    const auto problems = canal::forwarder::checkConnections(*config);
    for (const auto& p : problems) logLine(path + ": " + p);
    if (!problems.empty()) {
      logLine(std::to_string(problems.size()) + " problem(s) found");
      return 1;
    }
  }
  if (check) {
    std::cout << path << ": OK (" << config->sinks.size() << " sinks" << (connect ? ", every one reached" : "")
              << ")\n";
    return 0;
  }
  std::signal(SIGINT, onSignal);
  std::signal(SIGTERM, onSignal);
  if (reindex) {
    if (alias.empty()) return usage("reindex needs --index ALIAS");
    const canal::client::Status s = canal::forwarder::reindex(*config, alias, logLine, &stopSignal);
    if (!s) {
      logLine("reindex of " + alias + " failed: " + s.message());
      return 1;
    }
    logLine("reindex of " + alias + " done");
    return 0;
  }
  if (!alias.empty()) return usage("--index belongs to reindex");
  if (load) {
    if (table.empty()) return usage("load needs --table DATABASE.TABLE");
    const canal::client::Status s = canal::forwarder::load(*config, table, create, logLine, &stopSignal);
    if (!s) {
      logLine("load of " + table + " failed: " + s.message());
      return 1;
    }
    logLine("load of " + table + " done");
    return 0;
  }
  if (!table.empty() || create) return usage("--table and --create belong to load");
  auto forwarder = canal::forwarder::Forwarder::create(*config, logLine);
  if (!forwarder) {
    logLine("cannot start: " + forwarder.status().message());
    return 1;
  }
  (*forwarder)->stopOn(&stopSignal);
  std::unique_ptr<canal::forwarder::AdminEndpoint> admin;
  if (!config->admin.listen.empty()) {
    auto started = canal::forwarder::AdminEndpoint::start(*config, **forwarder, logLine);
    if (!started) {
      logLine("cannot start: " + started.status().message());
      return 1;
    }
    admin = std::move(*started);
    logLine("admin endpoint on port " + std::to_string(admin->port()) + " (GET /status, POST /reindex/{alias}, POST /load/{database.table})");
  }
  logLine("forwarding destination " + config->source.destination + " to " + std::to_string(config->sinks.size()) +
          " sinks");
  const canal::client::Status s = (*forwarder)->run();
  if (!s) {
    logLine("stopped on an error: " + s.message());
    return 1;
  }
  logLine("stopped");
  return 0;
}
