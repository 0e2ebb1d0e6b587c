// The SDK's cluster connector: the next server of a static list when its server dies, and the
// running node in ZooKeeper followed through a takeover.

#include "tests/integration/client/connector_fixture.h"

namespace canal::client {
namespace {

// bin/startup.sh / bin/stop.sh: pid file, logs/, refusing a second start, stop waiting.
// A second server for the same destination name, with its own destination on the same primary
// (another replica id): what a standby server is to the client.
struct StandbyServer {
  std::shared_ptr<instance::Destination> destination;
  std::unique_ptr<net::CanalServer> server;

  static std::unique_ptr<StandbyServer> start(const mysql::ConnectOptions& login, const std::string& filter) {
    auto s = std::make_unique<StandbyServer>();
    instance::DestinationOptions o;
    o.name = "example";
    o.master = login;
    o.dump.heartbeatSeconds = 1;
    o.dump.slaveId = 6000;
    o.tableFilter.regex = filter;
    auto created = app::makeDestination(o);
    EXPECT_TRUE(created.isOk()) << created.status().toString();
    if (!created.isOk()) return nullptr;
    s->destination = std::move(*created);
    s->destination->start();
    EXPECT_TRUE(canal::testing::waitUntil(10s, [&] { return s->destination->following(); }));
    net::ServerOptions so;
    so.port = 0;
    so.user = "canal";
    so.passwordHash = protocol::passwordHash("canal");
    std::shared_ptr<instance::Destination> d = s->destination;
    s->server = std::make_unique<net::CanalServer>(
        so, [d](const std::string& name) { return instance::sessionsOf(name == "example" ? d : nullptr); });
    EXPECT_TRUE(s->server->start().isOk());
    return s;
  }
  ~StandbyServer() {
    if (server) server->stop();
    if (destination) destination->stop();
  }
};

// Row values (column v) of s.a seen in `c`'s batches until every one of `wanted` arrived; acks
// each batch. Lost connections are the connector's to handle: any error fails the test.
std::set<std::string> readRows(CanalConnector& c, const std::set<std::string>& wanted) {
  std::set<std::string> seen;
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  while (std::chrono::steady_clock::now() < deadline &&
         !std::includes(seen.begin(), seen.end(), wanted.begin(), wanted.end())) {
    auto m = c.getWithoutAck(100, 200ms);
    EXPECT_TRUE(m.isOk()) << m.status().toString();
    if (!m) return seen;
    for (const auto& e : m->entries()) {
      if (e.entrytype() != eb::ROWDATA) continue;
      eb::RowChange rc;
      EXPECT_TRUE(rc.ParseFromString(e.storevalue()));
      for (const auto& row : rc.rowdatas()) seen.insert(row.aftercolumns(1).value());
    }
    EXPECT_TRUE(c.ack(m->id()).isOk());
  }
  return seen;
}

TEST_F(ConnectorTest, ClusterConnectorMovesToTheNextServerOfTheListWhenItsServerDies) {
  auto standby = StandbyServer::start(replicaLogin(), "s\\.a");
  ASSERT_TRUE(standby);
  ConnectorOptions o;
  o.retryInterval = 100ms;
  auto c = newClusterConnector(ClusterSource::list("127.0.0.1:" + std::to_string(server_->port()) + ", 127.0.0.1:" +
                                                   std::to_string(standby->server->port())),
                               "example", "canal", "canal", o);
  ASSERT_TRUE(c->connect().isOk());
  ASSERT_TRUE(c->subscribe().isOk());
  ASSERT_TRUE(db_->execute("INSERT INTO s.a VALUES (1, 'one'), (2, 'two')").isOk());
  EXPECT_EQ(readRows(*c, {"one", "two"}), (std::set<std::string>{"one", "two"}));

  // The server dies with a batch fetched and not acked; rows keep coming meanwhile.
  ASSERT_TRUE(db_->execute("INSERT INTO s.a VALUES (3, 'three')").isOk());
  std::optional<std::int64_t> unacked;
  for (int i = 0; i < 50 && !unacked; ++i) {
    auto m = c->getWithoutAck(100, 200ms);
    ASSERT_TRUE(m.isOk()) << m.status().toString();
    if (m->id() != -1) unacked = m->id();
  }
  ASSERT_TRUE(unacked.has_value());
  server_->stop();
  ASSERT_TRUE(db_->execute("INSERT INTO s.a VALUES (4, 'four')").isOk());

  // The next call lands on the standby: nothing is lost (the standby has no ack from this
  // client, so it delivers from where it started: at least once).
  const auto after = readRows(*c, {"three", "four"});
  EXPECT_TRUE(after.count("three") && after.count("four")) << ::testing::PrintToString(after);
  EXPECT_TRUE(c->checkValid());
  // The batch fetched from the dead server cannot be acked any more, and says why.
  const Status stale = c->ack(*unacked);
  EXPECT_EQ(stale.code(), Status::kNetwork);
  EXPECT_NE(stale.message().find("came from a server connection that was lost"), std::string::npos)
      << stale.toString();
}

// Writes /otter/canal/destinations/<dest>/running as a running Canal server does (ephemeral,
// {"active":true,"address":...}), from a ZooKeeper session of the test's own.
class RunningNodeWriter {
 public:
  explicit RunningNodeWriter(const std::string& servers) {
    zoo_set_debug_level(static_cast<ZooLogLevel>(0));
    zh_ = zookeeper_init(servers.c_str(), nullptr, 30000, nullptr, nullptr, 0);
    EXPECT_TRUE(canal::testing::waitUntil(10s, [&] { return zh_ && zoo_state(zh_) == ZOO_CONNECTED_STATE; }));
  }
  ~RunningNodeWriter() {
    if (zh_) zookeeper_close(zh_);
  }
  void publish(const std::string& destination, const std::string& address) {
    std::string path;
    for (const std::string part : {"otter", "canal", "destinations", destination.c_str()}) {
      path += "/" + part;
      const int rc = zoo_create(zh_, path.c_str(), nullptr, -1, &ZOO_OPEN_ACL_UNSAFE, 0, nullptr, 0);
      ASSERT_TRUE(rc == ZOK || rc == ZNODEEXISTS) << zerror(rc);
    }
    const std::string running = path + "/running";
    zoo_delete(zh_, running.c_str(), -1);
    const std::string data = R"({"active":true,"address":")" + address + R"("})";
    const int rc = zoo_create(zh_, running.c_str(), data.data(), static_cast<int>(data.size()), &ZOO_OPEN_ACL_UNSAFE,
                              ZOO_EPHEMERAL, nullptr, 0);
    ASSERT_EQ(rc, ZOK) << zerror(rc);
  }
  void withdraw(const std::string& destination) {
    zoo_delete(zh_, ("/otter/canal/destinations/" + destination + "/running").c_str(), -1);
  }

 private:
  zhandle_t* zh_ = nullptr;
};

TEST_F(ConnectorTest, ClusterConnectorFollowsTheRunningNodeInZooKeeper) {
  auto zk = canal::testing::ZooKeeperServer::start();
  ASSERT_TRUE(zk.isOk()) << zk.status().toString();
  ConnectorOptions o;
  o.retryInterval = 100ms;
  o.retries = 1;
  o.connectTimeout = 1s;
  // Nobody runs the destination yet: looked for until failoverTimeout (by default without end),
  // each look that finds none reported to the application, then a clear error naming the node.
  {
    ConnectorOptions bounded = o;
    bounded.failoverTimeout = 1s;
    int waits = 0;
    bounded.onFailoverWait = [&](const Status& why) {
      ++waits;
      EXPECT_EQ(why.code(), Status::kNetwork) << why.toString();
    };
    auto c = newClusterConnector(ClusterSource::zooKeeper((*zk)->connectString()), "example", "canal", "canal", bounded);
    const Status none = c->connect();
    EXPECT_EQ(none.code(), Status::kNetwork);
    EXPECT_NE(none.message().find("/otter/canal/destinations/example/running does not exist"), std::string::npos)
        << none.toString();
    EXPECT_GE(waits, 1);
  }

  RunningNodeWriter writer((*zk)->connectString());
  writer.publish("example", "127.0.0.1:" + std::to_string(server_->port()));
  auto standby = StandbyServer::start(replicaLogin(), "s\\.a");
  ASSERT_TRUE(standby);
  o.connectTimeout = 10s;
  auto c = newClusterConnector(ClusterSource::zooKeeper((*zk)->connectString()), "example", "canal", "canal", o);
  ASSERT_TRUE(c->connect().isOk());
  ASSERT_TRUE(c->subscribe().isOk());
  ASSERT_TRUE(db_->execute("INSERT INTO s.a VALUES (1, 'one')").isOk());
  EXPECT_EQ(readRows(*c, {"one"}), (std::set<std::string>{"one"}));

  // The running server goes away; for a while no server runs the destination, then the standby
  // takes over and says so in ZooKeeper. The client follows it.
  server_->stop();
  writer.withdraw("example");
  ASSERT_TRUE(db_->execute("INSERT INTO s.a VALUES (2, 'two')").isOk());
  std::thread takeover([&] {
    std::this_thread::sleep_for(300ms);
    writer.publish("example", "127.0.0.1:" + std::to_string(standby->server->port()));
  });
  const auto after = readRows(*c, {"two"});
  takeover.join();
  EXPECT_TRUE(after.count("two")) << ::testing::PrintToString(after);
}

}  // namespace
}  // namespace canal::client
