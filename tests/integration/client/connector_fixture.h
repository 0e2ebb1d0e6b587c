#pragma once

// The SDK's integration tests share a MariaDB with destinations and canal-server's client port
// made in the test process.

#include "canal/client/canal_connector.h"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <zookeeper/zookeeper.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include "canal/protocol/password_scramble.h"
#include "server/app/destination_parts.h"
#include "server/instance/destination.h"
#include "server/net/canal_server.h"
#include "server/snapshot/snapshot_runner.h"
#include "tests/support/fixtures.h"
#include "tests/support/mariadb_server.h"
#include "tests/support/mariadb_test.h"
#include "tests/support/process.h"
#include "tests/support/temp_dir.h"
#include "tests/support/zookeeper_server.h"

namespace canal::client {

namespace eb = canal::protocol::entry;
using canal::testing::MariaDbServer;
using namespace std::chrono_literals;

class ConnectorTest : public canal::testing::MariaDbTest {
 protected:
  void SetUp() override {
    MariaDbTest::SetUp();
    if (HasFatalFailure()) return;
    ASSERT_TRUE(db_->execute("CREATE DATABASE s; CREATE TABLE s.a (id INT PRIMARY KEY, v VARCHAR(16)); "
                             "CREATE TABLE s.b (id INT PRIMARY KEY, v VARCHAR(16))")
                    .isOk());
    addDestination("example", "s\\.a");
    addDestination("second", "s\\.b");
    startServer(0);
  }

  void addDestination(const std::string& name, const std::string& filter,
                      convert::TimeZone zone = convert::TimeZone::system()) {
    instance::DestinationOptions o;
    o.pump.render.timeZone = zone;
    o.name = name;
    o.master = replicaLogin();
    o.dump.heartbeatSeconds = 1;
    o.dump.slaveId = 5000 + static_cast<std::uint32_t>(destinations_.size());  // one replica id each
    o.tableFilter.regex = filter;
    auto created = app::makeDestination(o);
    ASSERT_TRUE(created.isOk()) << created.status().toString();
    auto& d = destinations_[name] = std::move(*created);
    d->start();
    ASSERT_TRUE(canal::testing::waitUntil(10s, [&] { return d->following(); }));
  }

  void startServer(int port) {
    net::ServerOptions so;
    so.port = port;
    so.user = "canal";
    so.passwordHash = protocol::passwordHash("canal");
    server_ = std::make_unique<net::CanalServer>(so, [this](const std::string& name) {
      const auto it = destinations_.find(name);
      return instance::sessionsOf(it == destinations_.end() ? nullptr : it->second);
    });
    ASSERT_TRUE(server_->start().isOk());
  }

  std::unique_ptr<CanalConnector> connector(const std::string& destination = "example",
                                            const std::string& password = "canal", ConnectorOptions o = {}) {
    return newSingleConnector("127.0.0.1:" + std::to_string(server_->port()), destination, "canal", password, o);
  }

  // Batches until one ends with TRANSACTIONEND; their entries, and the last batch id.
  static std::vector<Entry> readTransaction(CanalConnector& c, std::int64_t* lastId = nullptr) {
    std::vector<Entry> out;
    for (int i = 0; i < 100; ++i) {
      auto m = c.getWithoutAck(100, 200ms);
      EXPECT_TRUE(m.isOk()) << m.status().toString();
      if (!m) break;
      if (m->id() == -1) continue;
      if (lastId) *lastId = m->id();
      for (const auto& e : m->entries()) out.push_back(e);
      if (!out.empty() && out.back().entrytype() == eb::TRANSACTIONEND) return out;
    }
    ADD_FAILURE() << "no complete transaction";
    return out;
  }

  static std::vector<std::string> values(const std::vector<Entry>& entries) {
    std::vector<std::string> out;
    for (const auto& e : entries) {
      if (e.entrytype() != eb::ROWDATA) continue;
      eb::RowChange rc;
      EXPECT_TRUE(rc.ParseFromString(e.storevalue()));
      for (const auto& row : rc.rowdatas()) out.push_back(e.header().tablename() + ":" + row.aftercolumns(1).value());
    }
    return out;
  }

  void TearDown() override {
    if (server_) server_->stop();
    for (auto& [name, d] : destinations_) d->stop();
  }

  std::map<std::string, std::shared_ptr<instance::Destination>> destinations_;
  std::unique_ptr<net::CanalServer> server_;
};

}  // namespace canal::client
