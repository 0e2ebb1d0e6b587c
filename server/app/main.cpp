// canal-server: loads canal.properties and every destination's instance.properties.
//
//   canal-server [--conf DIR | --config FILE] [--logs DIR] [--check] [--list-keys]
//
// Relative directories in the configuration (canal.conf.dir, canal.file.data.dir) are resolved
// against the directory holding canal.properties, so the server can be started from anywhere;
// with --conf DIR the destinations are in DIR itself unless canal.conf.dir is absolute.

#include <malloc.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <csignal>
#include <filesystem>
#include <iostream>
#include <string>
#include <thread>

#include "server/app/config.h"
#include "server/app/server.h"
#include "server/common/logging.h"

namespace {

namespace fs = std::filesystem;

volatile std::sig_atomic_t stopSignal = 0;
volatile std::sig_atomic_t scanRequested = 0;
extern "C" void onSignal(int sig) { stopSignal = sig; }
extern "C" void onHangup(int) { scanRequested = 1; }

int usage() {
  std::cerr << "usage: canal-server [--conf DIR | --config FILE] [--logs DIR] [--check [--connect]] [--list-keys]\n"
               "  --conf DIR     directory holding canal.properties and DESTINATION/instance.properties\n"
               "  --config FILE  canal.properties to load (default conf/canal.properties)\n"
               "  --logs DIR     log to DIR/canal/canal.log and DIR/DESTINATION/DESTINATION.log (rotated);\n"
               "                 stderr keeps warnings and errors\n"
               "  --check        validate the configuration of the server and every destination, then exit\n"
               "  --connect      with --check: also reach every primary and standby (login, binlog on in ROW\n"
               "                 format with full row images, replication privileges, the filter matching a table)\n"
               "  --list-keys    print every configuration key with its type, default and meaning\n"
               "SIGHUP re-reads canal.properties (credentials and the client port's limits apply at once)\n"
               "and rescans conf/ for destinations added, changed or removed.\n";
  return 64;
}

}  // namespace

int main(int argc, char** argv) {
  // Entries and batch frames are buffers of tens of kB to a few MB, allocated and freed at the
  // stream's pace. Keep them in the heap instead of mapping, unmapping and trimming them on
  // every batch: page faults were a third of the server's CPU. The store bounds what is held.
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  mallopt(M_TRIM_THRESHOLD, 64 << 20);
  // The store holds row values, meta.dat cursors, the schema history table definitions and the
  // logs statements: the files and directories the server creates are its user's alone.
  ::umask(::umask(0) | 077);
  canal::app::ServerArgs args;
  std::string logDir;
  bool check = false;
  bool connect = false;  // with --check: reach every primary
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--config" && i + 1 < argc) {
      args.configPath = argv[++i];
    } else if (arg == "--conf" && i + 1 < argc) {
      args.configPath = (fs::path(argv[++i]) / "canal.properties").string();
      args.confDirGiven = true;
    } else if (arg == "--logs" && i + 1 < argc) {
      logDir = argv[++i];
    } else if (arg == "--check") {
      check = true;
    } else if (arg == "--connect") {
      connect = true;
    } else if (arg == "--list-keys") {
      std::cout << canal::app::describeKeys();
      return 0;
    } else {
      return usage();
    }
  }
  if (connect && !check) return usage();
  if (!logDir.empty() && !check) {
    canal::LoggingOptions lo;
    lo.directory = logDir;
    lo.stderrLevel = "warn";  // everything goes to the files; stderr shows what needs attention
    std::string error;
    if (!canal::initLogging(lo, &error)) {
      std::cerr << "canal-server: --logs " << logDir << ": " << error << "\n";
      return 1;
    }
  }
  auto log = canal::moduleLogger("app");
  auto server = canal::app::Server::create(args);
  if (!server) {
    log->error("{}", server.status().toString());
    return 1;
  }
  if (check) return (*server)->check(connect) ? 0 : 1;

  std::signal(SIGINT, onSignal);
  std::signal(SIGTERM, onSignal);
  std::signal(SIGHUP, onHangup);
  if (const auto s = (*server)->start(); !s.isOk()) {
    log->error("{}", s.toString());
    (*server)->stop();
    return 1;
  }
  while (!stopSignal) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    const bool hangup = scanRequested != 0;
    scanRequested = 0;
    (*server)->tick(hangup);
  }
  log->info("signal {}: stopping", static_cast<int>(stopSignal));
  (*server)->stop();
  log->info("stopped");
  return 0;
}
