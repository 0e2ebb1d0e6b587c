// canal-forwarder: follows a Canal destination through the SDK and writes its changes to Kafka
// and Elasticsearch, acking each batch once every sink confirmed it.

#include <csignal>
#include <cstdio>
#include <ctime>
#include <iostream>
#include <string>

#include "forwarder.h"

namespace {

volatile int stopSignal = 0;
extern "C" void onSignal(int sig) { stopSignal = sig; }

void logLine(const std::string& line) {
  char stamp[32];
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  localtime_r(&now, &tm);
  std::strftime(stamp, sizeof stamp, "%Y-%m-%d %H:%M:%S", &tm);
  std::cerr << stamp << " canal-forwarder: " << line << std::endl;
}

int usage(const char* error = nullptr) {
  if (error) std::cerr << "canal-forwarder: " << error << "\n";
  std::cerr << "usage: canal-forwarder --config FILE [--check]\n"
               "  --config FILE   the YAML configuration (see conf/forwarder.yml)\n"
               "  --check         read the configuration, report errors and exit\n";
  return 64;
}

}  // namespace

int main(int argc, char** argv) {
  std::string path;
  bool check = false;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--config" && i + 1 < argc) {
      path = argv[++i];
    } else if (arg == "--check") {
      check = true;
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
  if (check) {
    std::cout << path << ": OK (" << config->sinks.size() << " sinks)\n";
    return 0;
  }
  auto forwarder = canal::forwarder::Forwarder::create(*config, logLine);
  if (!forwarder) {
    logLine("cannot start: " + forwarder.status().message());
    return 1;
  }
  std::signal(SIGINT, onSignal);
  std::signal(SIGTERM, onSignal);
  (*forwarder)->stopOn(&stopSignal);
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
