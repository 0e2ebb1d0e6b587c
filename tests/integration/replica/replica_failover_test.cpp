// Failover to a standby (by GTID, and when the detecting SQL finds the primary hung), and the
// primary's authentication over TLS and ed25519.

#include "tests/integration/replica/replica_helpers.h"

namespace canal::replica {
namespace {

// A primary and a standby (server_id 2, log_slave_updates) replicating from it from the
// start; `extraArgs` go to both servers.
struct PrimaryAndStandby {
  std::unique_ptr<MariaDbServer> primary;
  std::unique_ptr<MariaDbServer> standby;
};

Result<PrimaryAndStandby> startPrimaryAndStandby(const std::vector<std::string>& extraArgs) {
  testing::MariaDbOptions primaryOptions;
  primaryOptions.extraArgs = extraArgs;
  auto primary = MariaDbServer::start(primaryOptions);
  if (!primary.isOk()) return primary.status();
  testing::MariaDbOptions standbyOptions;
  standbyOptions.serverId = 2;
  standbyOptions.extraArgs = extraArgs;
  standbyOptions.extraArgs.push_back("--log-slave-updates");
  auto standby = MariaDbServer::start(standbyOptions);
  if (!standby.isOk()) return standby.status();
  CANAL_RETURN_IF_ERROR((*standby)->replicateFrom(**primary));
  return PrimaryAndStandby{std::move(*primary), std::move(*standby)};
}

// A primary and a standby replicating from it (log_slave_updates, MariaDB GTID). When the
// primary dies the stream moves to the standby and resumes after the last committed GTID.
TEST(StandbyFailover, PrimaryDiesStreamResumesOnTheStandbyByGtid) {
  auto servers = startPrimaryAndStandby({"--binlog-row-metadata=FULL"});
  ASSERT_TRUE(servers.isOk()) << servers.status().toString();
  auto& p = *servers->primary;
  auto& s = *servers->standby;
  ASSERT_TRUE(p.execute("CREATE DATABASE s").isOk());
  ASSERT_TRUE(p.execute("CREATE TABLE s.t (id INT PRIMARY KEY)").isOk());
  for (int i = 0; i < 4; ++i) {
    ASSERT_TRUE(p.execute("INSERT INTO s.t VALUES (" + std::to_string(i * 5 + 1) + "),(" + std::to_string(i * 5 + 2) +
                          "),(" + std::to_string(i * 5 + 3) + "),(" + std::to_string(i * 5 + 4) + "),(" +
                          std::to_string(i * 5 + 5) + ")")
                    .isOk());
  }
  ASSERT_TRUE(s.waitCaughtUp(p).isOk());

  ReconnectPolicy policy;
  policy.initialDelay = std::chrono::milliseconds(50);
  policy.maxDelay = std::chrono::milliseconds(200);
  policy.failoverAfter = 2;
  ReplicaStream stream(replicaAccount(p), DumpOptions{}, DumpStart::at("mysql-bin.000001", 4), policy);
  stream.addStandby(replicaAccount(s));
  Collector collector(stream);
  ASSERT_TRUE(collector.waitFor(20, std::chrono::seconds(30))) << collector.ids().size();

  p.kill();
  ASSERT_TRUE(s.execute("STOP SLAVE").isOk());
  ASSERT_TRUE(s.execute("INSERT INTO s.t VALUES (21),(22),(23),(24),(25)").isOk());
  ASSERT_TRUE(s.execute("INSERT INTO s.t VALUES (26),(27),(28),(29),(30)").isOk());
  ASSERT_TRUE(collector.waitFor(30, std::chrono::seconds(60))) << collector.ids().size() << " "
                                                                  << collector.error().toString();
  expectEachOnce(collector.ids(), 30);
  EXPECT_EQ(stream.currentAddress(), 1u);
  EXPECT_TRUE(collector.error().isOk()) << collector.error().toString();
}

// A hung primary (SIGSTOP): its dump link stays open and silent, and heartbeats would only be
// missed after three 30 s periods. The detecting SQL (every 500 ms, three failures) finds it
// down and the stream moves to the standby, resuming there by GTID.
TEST(StandbyFailover, TheDetectingSqlMovesAwayFromAHungPrimary) {
  auto servers = startPrimaryAndStandby({});
  ASSERT_TRUE(servers.isOk()) << servers.status().toString();
  auto& p = *servers->primary;
  auto& s = *servers->standby;
  ASSERT_TRUE(p.execute("CREATE DATABASE s").isOk());
  ASSERT_TRUE(p.execute("CREATE TABLE s.t (id INT PRIMARY KEY)").isOk());
  ASSERT_TRUE(p.execute("INSERT INTO s.t VALUES (1),(2),(3)").isOk());
  ASSERT_TRUE(s.waitCaughtUp(p).isOk());

  DumpOptions options;
  options.heartbeatSeconds = 30;
  ReconnectPolicy policy;
  policy.failoverAfter = 1000;  // only the detecting SQL moves the stream
  ReplicaStream stream(replicaAccount(p), options, DumpStart::at("mysql-bin.000001", 4), policy);
  stream.addStandby(replicaAccount(s));
  stream.enableDetecting(DetectingOptions{"select 1", std::chrono::milliseconds(500), 3});
  Collector collector(stream);
  ASSERT_TRUE(collector.waitFor(3, std::chrono::seconds(30))) << collector.ids().size();

  p.freeze();
  ASSERT_TRUE(s.execute("STOP SLAVE").isOk());
  ASSERT_TRUE(s.execute("INSERT INTO s.t VALUES (4),(5)").isOk());
  ASSERT_TRUE(collector.waitFor(5, std::chrono::seconds(45)))
      << collector.ids().size() << " " << collector.error().toString();
  expectEachOnce(collector.ids(), 5);
  EXPECT_EQ(stream.currentAddress(), 1u);
  EXPECT_GE(stream.detectingFailures(), 3u);
  EXPECT_EQ(stream.reconnects(), 1) << "one link dropped: the hung primary's, by the detector";
  p.thaw();
}

// TLS to the primary (a self-signed certificate made for the test) and the ed25519 plugin: the
// account logs in, the session is encrypted, and the dump works over it.
TEST(ReplicaAuthentication, TlsAndEd25519) {
  testing::TempDir dir("canal-tls");
  const std::string cert = dir.path().string() + "/cert.pem";
  const std::string key = dir.path().string() + "/key.pem";
  std::string output;
  ASSERT_EQ(testing::runCommand({"openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1",
                                 "-days", "2", "-keyout", key, "-out", cert},
                                &output),
            0)
      << output;
  testing::MariaDbOptions options;
  options.extraArgs = {"--binlog-row-metadata=FULL", "--ssl-cert=" + cert, "--ssl-key=" + key,
                       "--plugin-load-add=auth_ed25519"};
  auto db = MariaDbServer::start(options);
  ASSERT_TRUE(db.isOk()) << db.status().toString();
  ASSERT_TRUE((*db)->execute("CREATE USER edge@'%' IDENTIFIED VIA ed25519 USING PASSWORD('s3cret')").isOk());
  ASSERT_TRUE((*db)->execute("GRANT SELECT, REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO edge@'%'").isOk());
  ASSERT_TRUE((*db)->execute("CREATE DATABASE s").isOk());
  ASSERT_TRUE((*db)->execute("CREATE TABLE s.t (id INT PRIMARY KEY)").isOk());
  ASSERT_TRUE((*db)->execute("INSERT INTO s.t VALUES (7)").isOk());

  mysql::ConnectOptions o = replicaAccount(**db);
  o.user = "edge";
  o.password = "s3cret";
  o.tls = true;
  o.tlsCa = cert;
  auto c = mysql::MysqlConnection::connect(o);
  ASSERT_TRUE(c.isOk()) << c.status().toString();
  auto cipher = (*c)->query("SHOW STATUS LIKE 'Ssl_cipher'");
  ASSERT_TRUE(cipher.isOk());
  ASSERT_FALSE(cipher->rows.empty());
  EXPECT_FALSE(cipher->rows[0][1].value_or("").empty()) << "the session is encrypted";
  auto plugin = (*c)->queryValue("SELECT plugin FROM mysql.user WHERE user = 'edge'");
  ASSERT_TRUE(plugin.isOk());
  EXPECT_EQ(plugin->value_or(""), "ed25519");

  auto dump = BinlogDump::open(std::move(*c), DumpOptions{}, DumpStart::at("mysql-bin.000001", 4));
  ASSERT_TRUE(dump.isOk()) << dump.status().toString();
  const Received r = receive(**dump, 1);
  ASSERT_EQ(r.entries.size(), 1u);
  EXPECT_EQ(r.entries[0].rows[0].after[0].text.value, "7");

  o.password = "wrong";
  auto refused = mysql::MysqlConnection::connect(o);
  ASSERT_FALSE(refused.isOk());
  EXPECT_NE(refused.status().message().find("1045"), std::string::npos) << refused.status().toString();
}


}  // namespace
}  // namespace canal::replica
