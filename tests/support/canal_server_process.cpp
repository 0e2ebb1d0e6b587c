#include "tests/support/canal_server_process.h"

#include <fstream>

#include "tests/support/http_get.h"

namespace canal::testing {

namespace fs = std::filesystem;

CanalServerProcess::CanalServerProcess(std::string binary, const fs::path& root, const std::string& mode, int dbPort,
                                       const std::string& zk, const std::string& journal, const std::string& position,
                                       const std::string& filter)
    : binary_(std::move(binary)), root_(root), port_(freePort()), metricsPort_(freePort()) {
  fs::create_directories(root / "conf" / "example");
  std::ofstream(root / "conf" / "canal.properties")
      << "canal.port = " << port_ << "\n"
      << "canal.metrics.pull.port = " << metricsPort_ << "\n"
      << "canal.ip = 127.0.0.1\n"
      << "canal.zkServers = " << zk << "\n"
      << "canal.zookeeper.session.timeout = 4000\n"
      << "canal.file.data.dir = " << (root / "data").string() << "\n"
      << "canal.destinations = example\n"
      << "canal.conf.dir = " << (root / "conf").string() << "\n"
      << "canal.auto.scan = false\n"
      << "canal.instance.global.spring.xml = classpath:spring/" << mode << "\n";
  std::ofstream(root / "conf" / "example" / "instance.properties")
      << "canal.instance.master.address = 127.0.0.1:" << dbPort << "\n"
      << "canal.instance.master.journal.name = " << journal << "\n"
      << "canal.instance.master.position = " << position << "\n"
      << "canal.instance.dbUsername = canal\ncanal.instance.dbPassword = canal\n"
      << "canal.instance.mysql.slaveId = " << (7000 + port_ % 1000) << "\n"
      << "canal.instance.filter.regex = " << filter << "\n";
}

Status CanalServerProcess::start() {
  return process_.start({binary_, "--config", (root_ / "conf" / "canal.properties").string()},
                        (root_ / ("server-" + std::to_string(++starts_) + ".log")).string());
}

bool CanalServerProcess::waitServing(std::chrono::milliseconds timeout) {
  const std::string url = "http://127.0.0.1:" + std::to_string(metricsPort_) + "/status";
  return waitUntil(timeout, [&] { return httpGet(url).status == 200; });
}

}  // namespace canal::testing
