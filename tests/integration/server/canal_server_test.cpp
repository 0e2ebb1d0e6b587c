// The Canal TCP protocol end to end: a real MariaDB, a destination following it, the server,
// and a client speaking the protocol byte by byte as Canal's Java client does.

#include "server/net/canal_server.h"

#include <gtest/gtest.h>

#include "canal/protocol/canal_protocol.pb.h"
#include "canal/protocol/entry_protocol.pb.h"
#include "canal/protocol/password_scramble.h"
#include "server/app/destination_parts.h"
#include "server/instance/destination.h"
#include "tests/support/mariadb_server.h"
#include "tests/support/mariadb_test.h"
#include "tests/support/process.h"
#include "tests/support/raw_client.h"
#include "tests/support/hex.h"

namespace canal::net {
namespace {

namespace pb = canal::protocol::packet;
namespace eb = canal::protocol::entry;
using testing::MariaDbServer;

using testing::toHex;

using testing::ackOf;
using testing::RawClient;

class CanalServerTest : public canal::testing::MariaDbTest {
 protected:
  void SetUp() override {
    MariaDbTest::SetUp();
    if (HasFatalFailure()) return;
    ASSERT_TRUE(db_->execute("CREATE DATABASE s").isOk());
    ASSERT_TRUE(db_->execute("CREATE TABLE s.t (id INT PRIMARY KEY, name VARCHAR(16), price DECIMAL(10,2))").isOk());
    instance::DestinationOptions o;
    o.name = "example";
    o.master = replicaLogin();
    o.dump.heartbeatSeconds = 1;
    auto created = app::makeDestination(o);
    ASSERT_TRUE(created.isOk()) << created.status().toString();
    destination_ = std::move(*created);
    destination_->start();
    ASSERT_TRUE(testing::waitUntil(std::chrono::seconds(10), [&] { return destination_->following(); }));
    ServerOptions so;
    so.port = 0;
    so.user = "canal";
    so.passwordHash = protocol::passwordHash("canal");
    server_ = std::make_unique<CanalServer>(so, [this](const std::string& name) {
      return name == "example" ? instance::sessionsOf(destination_) : nullptr;
    });
    ASSERT_TRUE(server_->start().isOk());
  }
  void TearDown() override {
    if (server_) server_->stop();
    if (destination_) destination_->stop();
  }

  // Handshake, then authentication with `password`; the seed of the handshake.
  std::string connect(RawClient& c, const std::string& password = "canal") {
    auto hs = c.read();
    EXPECT_TRUE(hs.has_value());
    if (!hs) return {};
    EXPECT_EQ(toHex(hs->substr(0, 8)), "10 01 18 01 2a 0a 12 08") << "version 1, HANDSHAKE, Handshake{seeds: 8 bytes}";
    const std::string seed = hs->substr(8);
    EXPECT_EQ(seed.size(), 8u);
    pb::ClientAuth auth;
    auth.set_username("canal");
    auth.set_password(protocol::scramblePassword(password, seed));
    auth.set_net_read_timeout(3600000);
    auth.set_net_write_timeout(3600000);
    c.send(pb::CLIENTAUTHENTICATION, auth);
    return seed;
  }

  void subscribe(RawClient& c) {
    pb::ClientRollback rb;
    rb.set_destination("example");
    rb.set_client_id("1001");
    c.send(pb::CLIENTROLLBACK, rb);  // as the Java client does on connect: no reply
    pb::Sub sub;
    sub.set_destination("example");
    sub.set_client_id("1001");
    c.send(pb::SUBSCRIPTION, sub);
    auto reply = c.read();
    ASSERT_TRUE(reply.has_value());
    EXPECT_EQ(toHex(*reply), "10 01 18 03");
  }

  pb::Messages get(RawClient& c, int fetchSize, std::int64_t timeout, std::string* raw = nullptr) {
    pb::Get g;
    g.set_destination("example");
    g.set_client_id("1001");
    g.set_fetch_size(fetchSize);
    g.set_timeout(timeout);
    g.set_unit(2);
    g.set_auto_ack(false);
    c.send(pb::GET, g);
    auto reply = c.read(15000);
    pb::Messages m;
    EXPECT_TRUE(reply.has_value());
    if (!reply) return m;
    if (raw) *raw = *reply;
    pb::Packet p;
    EXPECT_TRUE(p.ParseFromString(*reply));
    EXPECT_EQ(p.type(), pb::MESSAGES) << toHex(*reply);
    EXPECT_TRUE(m.ParseFromString(p.body()));
    return m;
  }

  std::shared_ptr<instance::Destination> destination_;
  std::unique_ptr<CanalServer> server_;
};

TEST_F(CanalServerTest, AuthenticationWithTheSeededScramble) {
  RawClient c(server_->port());
  ASSERT_TRUE(c.connected());
  connect(c, "wrong");
  auto refused = c.read();
  ASSERT_TRUE(refused.has_value());
  EXPECT_EQ(toHex(*refused), "10 01 18 03 2a 1f 08 90 03 12 1a " + toHex("auth failed for user:canal"));
  // The connection stays open and still waits for authentication.
  pb::ClientAuth auth;
  auth.set_username("canal");
  auth.set_password("not hex");
  c.send(pb::CLIENTAUTHENTICATION, auth);
  EXPECT_TRUE(c.closedByServer()) << "a password that is not hex closes the connection";

  RawClient good(server_->port());
  connect(good);
  auto ok = good.read();
  ASSERT_TRUE(ok.has_value());
  EXPECT_EQ(toHex(*ok), "10 01 18 03");
}

TEST_F(CanalServerTest, RowsArriveAsCanalEntriesWithBatchAckAndRollbackRules) {
  RawClient c(server_->port());
  connect(c);
  ASSERT_EQ(toHex(*c.read()), "10 01 18 03");
  subscribe(c);

  ASSERT_TRUE(db_->execute("INSERT INTO s.t VALUES (1, 'one', 1.00), (2, 'two', 2.50)").isOk());
  // MariaDB transactions open with a GTID event, not a BEGIN query: like Canal, no
  // TRANSACTIONBEGIN; the statement (ANNOTATE_ROWS) as a QUERY entry, the rows, then
  // TRANSACTIONEND (XID).
  std::vector<eb::Entry> entries;
  std::int64_t batchId = -1;
  const auto ended = [&] { return !entries.empty() && entries.back().entrytype() == eb::TRANSACTIONEND; };
  for (int attempt = 0; attempt < 50 && !ended(); ++attempt) {
    const pb::Messages m = get(c, 100, 200);
    if (m.batch_id() == -1) continue;
    batchId = m.batch_id();
    for (const auto& bytes : m.messages()) {
      eb::Entry e;
      ASSERT_TRUE(e.ParseFromString(bytes));
      entries.push_back(e);
    }
  }
  ASSERT_GE(batchId, 1);
  const eb::Entry* rows = nullptr;
  for (const auto& e : entries) {
    if (e.entrytype() == eb::ROWDATA && e.header().tablename() == "t") rows = &e;
  }
  ASSERT_NE(rows, nullptr);
  EXPECT_EQ(rows->header().schemaname(), "s");
  EXPECT_EQ(rows->header().eventtype(), eb::INSERT);
  eb::RowChange rc;
  ASSERT_TRUE(rc.ParseFromString(rows->storevalue()));
  ASSERT_EQ(rc.rowdatas_size(), 2);
  const auto& after = rc.rowdatas(1).aftercolumns();
  ASSERT_EQ(after.size(), 3);
  EXPECT_EQ(after[0].name(), "id");
  EXPECT_TRUE(after[0].iskey());
  EXPECT_EQ(after[1].value(), "two");
  EXPECT_EQ(after[2].value(), "2.50");
  EXPECT_EQ(after[2].mysqltype(), "decimal(10,2)");
  ASSERT_TRUE(ended());
  ASSERT_EQ(entries.size(), 3u);
  EXPECT_EQ(entries[0].entrytype(), eb::ROWDATA);
  EXPECT_EQ(entries[0].header().eventtype(), eb::QUERY);
  EXPECT_TRUE(entries[0].header().has_schemaname() && entries[0].header().schemaname().empty());
  EXPECT_TRUE(entries[0].header().has_tablename() && entries[0].header().tablename().empty());
  eb::RowChange statement;
  ASSERT_TRUE(statement.ParseFromString(entries[0].storevalue()));
  EXPECT_EQ(statement.sql(), "INSERT INTO s.t VALUES (1, 'one', 1.00), (2, 'two', 2.50)");
  EXPECT_EQ(statement.eventtype(), eb::QUERY);
  EXPECT_FALSE(statement.has_isddl()) << "Canal leaves isDdl out of statement entries";
  EXPECT_EQ(statement.rowdatas_size(), 0);
  EXPECT_TRUE(rc.has_isddl()) << "and sets it, false, on row entries";
  eb::TransactionEnd end;
  ASSERT_TRUE(end.ParseFromString(entries.back().storevalue()));
  EXPECT_GT(std::stoull(end.transactionid()), 0u) << "the XID";

  // Ack with batch id 0: 402. Unknown batch: 400, "is not exist". Both unsolicited.
  pb::ClientAck ack;
  ack.set_destination("example");
  ack.set_client_id("1001");
  c.send(pb::CLIENTACK, ack);
  pb::Ack a = ackOf(*c.read());
  EXPECT_EQ(a.error_code(), 402);
  EXPECT_EQ(a.error_message(), "batchId should assign value");
  ack.set_batch_id(batchId + 100);
  c.send(pb::CLIENTACK, ack);
  a = ackOf(*c.read());
  EXPECT_EQ(a.error_code(), 400);
  EXPECT_NE(a.error_message().find("ack error , clientId:1001 batchId:" + std::to_string(batchId + 100) +
                                   " is not exist , please check"),
            std::string::npos)
      << a.error_message();

  // Rollback: the same entries come again under a new batch id.
  pb::ClientRollback rb;
  rb.set_destination("example");
  rb.set_client_id("1001");
  c.send(pb::CLIENTROLLBACK, rb);
  const pb::Messages again = get(c, 100, -1);
  EXPECT_GT(again.batch_id(), batchId);
  ASSERT_GE(again.messages_size(), 1);
  eb::Entry first;
  ASSERT_TRUE(first.ParseFromString(again.messages(0)));
  EXPECT_EQ(first.header().logfileoffset(), entries[0].header().logfileoffset());

  // A good ack has no reply: the next frame is the GET's, the empty batch, byte for byte.
  ack.set_batch_id(again.batch_id());
  c.send(pb::CLIENTACK, ack);
  std::string raw;
  const pb::Messages empty = get(c, 100, -1, &raw);
  EXPECT_EQ(empty.batch_id(), -1);
  EXPECT_EQ(toHex(raw), "10 01 18 07 2a 0b 08 ff ff ff ff ff ff ff ff ff 01");
  // The cursor is written on the destination's own thread while gets go on being answered (only
  // a rollback or subscribe waits for it): the GET's reply may come first.
  ASSERT_TRUE(testing::waitUntil(std::chrono::seconds(10), [&] { return destination_->clients().cursor(1001).has_value(); }));
  EXPECT_EQ(destination_->clients().cursor(1001)->position, entries.back().header().logfileoffset());
}

TEST_F(CanalServerTest, ErrorsOfTheSessionAndBadFrames) {
  RawClient c(server_->port());
  connect(c);
  ASSERT_EQ(toHex(*c.read()), "10 01 18 03");
  pb::Get g;
  g.set_destination("example");
  g.set_client_id("1001");
  g.set_fetch_size(10);
  g.set_timeout(-1);
  c.send(pb::GET, g);
  pb::Ack a = ackOf(*c.read());
  EXPECT_EQ(a.error_code(), 400);
  EXPECT_NE(a.error_message().find("ClientIdentity:ClientIdentity[destination=example,clientId=1001,filter=<null>] "
                                   "should subscribe first"),
            std::string::npos)
      << a.error_message();
  g.set_client_id("");
  c.send(pb::GET, g);
  a = ackOf(*c.read());
  EXPECT_EQ(a.error_code(), 401);
  EXPECT_EQ(a.error_message(), "destination or clientId is null");
  pb::Sub sub;
  sub.set_destination("nowhere");
  sub.set_client_id("1001");
  c.send(pb::SUBSCRIPTION, sub);
  a = ackOf(*c.read());
  EXPECT_NE(a.error_message().find("destination:nowhere should start first"), std::string::npos) << a.error_message();
  pb::HeartBeat hb;
  c.send(pb::HEARTBEAT, hb);
  a = ackOf(*c.read());
  EXPECT_EQ(a.error_code(), 400);
  EXPECT_EQ(a.error_message(), "packet type=HEARTBEAT is NOT supported!");

  // A length of 2 GB: the session ends; the server and other clients carry on.
  ASSERT_TRUE(c.sendRaw(std::string("\x7f\xff\xff\xff", 4)));
  EXPECT_TRUE(c.closedByServer());
  RawClient other(server_->port());
  connect(other);
  ASSERT_EQ(toHex(*other.read()), "10 01 18 03");
}

}  // namespace
}  // namespace canal::net
