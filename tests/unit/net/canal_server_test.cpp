// The Canal protocol server against a fake destination (ClientSessions), without a primary:
// authentication, waiting gets, timeouts, failing acks, a slow destination, a stopped one.

#include "tests/unit/net/canal_server_fixture.h"

namespace canal::net {
namespace {

TEST_F(CanalServerUnitTest, AWrongPasswordIsRefusedAndTheRightOneThenAccepted) {
  RawClient c(server_->port());
  const auto seed = seedOf(c);
  ASSERT_TRUE(seed.has_value());
  ASSERT_TRUE(c.send(pb::CLIENTAUTHENTICATION, authFor("wrong", *seed)));
  auto refused = c.read();
  ASSERT_TRUE(refused.has_value());
  EXPECT_EQ(ackOf(*refused).error_code(), 400);
  EXPECT_EQ(ackOf(*refused).error_message(), "auth failed for user:canal");
  ASSERT_TRUE(c.send(pb::CLIENTAUTHENTICATION, authFor("canal", *seed)));
  EXPECT_EQ(nextAckCode(c), 0);
}

// Guessing over reconnects is held to the throttle's rate: once the address has spent its
// tokens, an attempt is refused unchecked — the right password too — and says why.
TEST_F(CanalServerUnitTest, PasswordGuessesOverReconnectsAreThrottledPerAddress) {
  auto throttle = std::make_shared<http::AuthThrottle>(http::AuthThrottleOptions{3, std::chrono::seconds(60), 50,
                                                                                 std::chrono::milliseconds(50)});
  restart([&](ServerOptions& o) {
    o.throttle = throttle;
    o.authFailureDelay = std::chrono::milliseconds(1);
  });
  for (int i = 0; i < 3; ++i) {
    RawClient c(server_->port());
    const auto seed = seedOf(c);
    ASSERT_TRUE(seed.has_value());
    ASSERT_TRUE(c.send(pb::CLIENTAUTHENTICATION, authFor("guess" + std::to_string(i), *seed)));
    auto refused = c.read();
    ASSERT_TRUE(refused.has_value());
    EXPECT_EQ(ackOf(*refused).error_message(), "auth failed for user:canal");
  }
  RawClient right(server_->port());
  const auto seed = seedOf(right);
  ASSERT_TRUE(seed.has_value());
  ASSERT_TRUE(right.send(pb::CLIENTAUTHENTICATION, authFor("canal", *seed)));
  auto refused = right.read();
  ASSERT_TRUE(refused.has_value());
  EXPECT_EQ(ackOf(*refused).error_code(), 400);
  EXPECT_NE(ackOf(*refused).error_message().find("too many failed authentications from 127.0.0.1"), std::string::npos)
      << ackOf(*refused).error_message();
  EXPECT_EQ(throttle->failures(), 3u);
  EXPECT_EQ(throttle->refused(), 1u);
}

TEST_F(CanalServerUnitTest, AWaitingGetHoldsNoThreadAndIsAnsweredWhenTheDestinationWakesIt) {
  auto client = subscribedClient();
  RawClient& c = *client;
  sendGet(c, 2, 0);  // 0: wait until the batch is enough
  ASSERT_TRUE(fake_->waitForWaits(1));
  // Another session is served meanwhile, on the same two io threads.
  RawClient other(server_->port());
  ASSERT_EQ(login(other), 0);
  subscribe(other);
  fake_->add({"one"});  // not enough: the get waits again
  ASSERT_TRUE(fake_->waitForWaits(2));
  fake_->add({"two"});
  auto m = messages(c);
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(m->batch_id(), 1);
  ASSERT_EQ(m->messages_size(), 2);
  EXPECT_EQ(m->messages(0), "one");
  EXPECT_EQ(m->messages(1), "two");
}

// A client killed while its GET waits: the server notices at once, and the wait takes no batch
// (handed to a dead connection, it would be missing ahead of what the client's next connection
// gets, and that client would then see later changes before earlier ones).
TEST_F(CanalServerUnitTest, AClientThatGoesAwayWhileItsGetWaitsTakesNoBatch) {
  {
    RawClient c(server_->port());
    ASSERT_EQ(login(c), 0);
    subscribe(c);
    sendGet(c, 1, 0);
    ASSERT_TRUE(fake_->waitForWaits(1));
  }  // the client's socket is closed
  ASSERT_TRUE(testing::waitUntil(std::chrono::seconds(10), [&] { return server_->sessions() == 0; }))
      << "the session did not notice its peer went away while its GET waited";
  fake_->add({"one"});
  EXPECT_EQ(fake_->gets(), 0) << "a batch was taken for a dead connection";
}

// A connection's gets carry the epoch of its own last rollback of everything.
TEST_F(CanalServerUnitTest, GetsCarryTheEpochOfTheConnectionsRollback) {
  auto client = subscribedClient();
  RawClient& c = *client;
  fake_->add({"one", "two"});
  sendGet(c, 1, -1);
  ASSERT_TRUE(messages(c).has_value());
  EXPECT_EQ(fake_->lastEpoch(), 0u) << "no rollback on this connection yet: no epoch";
  pb::ClientRollback rb;
  rb.set_destination("example");
  rb.set_client_id("1001");
  ASSERT_TRUE(c.send(pb::CLIENTROLLBACK, rb));  // no reply
  sendGet(c, 1, -1);
  ASSERT_TRUE(messages(c).has_value());
  EXPECT_EQ(fake_->lastEpoch(), 2u);
}

// Requests sent while a GET waits are answered after it, in order.
TEST_F(CanalServerUnitTest, RequestsSentWhileAGetWaitsAreAnsweredAfterIt) {
  auto client = subscribedClient();
  RawClient& c = *client;
  sendGet(c, 1, 0);
  ASSERT_TRUE(fake_->waitForWaits(1));
  pb::Sub sub;
  sub.set_destination("example");
  sub.set_client_id("1001");
  ASSERT_TRUE(c.send(pb::SUBSCRIPTION, sub));  // pipelined behind the waiting GET
  fake_->add({"one"});
  auto m = messages(c);
  ASSERT_TRUE(m.has_value()) << "the GET's reply comes first";
  EXPECT_EQ(m->batch_id(), 1);
  EXPECT_EQ(nextAckCode(c), 0);
}

TEST_F(CanalServerUnitTest, AGetTimeoutTooLargeToRepresentWaitsInsteadOfReturningAtOnce) {
  auto client = subscribedClient();
  RawClient& c = *client;
  sendGet(c, 1, std::numeric_limits<std::int64_t>::max(), 6);  // Long.MAX_VALUE days
  ASSERT_TRUE(fake_->waitForWaits(1)) << "the get did not wait";
  fake_->add({"late"});
  auto m = messages(c);
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(m->batch_id(), 1);
  ASSERT_EQ(m->messages_size(), 1);
}

TEST_F(CanalServerUnitTest, AGetThatTimesOutAnswersAnEmptyBatch) {
  auto client = subscribedClient();
  RawClient& c = *client;
  sendGet(c, 5, 20);  // 20 ms
  auto m = messages(c);
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(m->batch_id(), -1);
  EXPECT_EQ(m->messages_size(), 0);
  sendGet(c, 5, -1);  // no wait
  m = messages(c);
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(m->batch_id(), -1);
}

TEST_F(CanalServerUnitTest, AnAckThatCannotBeRecordedIsReportedAndTheConnectionClosed) {
  auto client = subscribedClient();
  RawClient& c = *client;
  fake_->add({"entry"});
  sendGet(c, 1, -1);
  auto m = messages(c);
  ASSERT_TRUE(m.has_value());
  ASSERT_EQ(m->batch_id(), 1);
  fake_->failAcks();
  pb::ClientAck ack;
  ack.set_destination("example");
  ack.set_client_id("1001");
  ack.set_batch_id(1);
  ASSERT_TRUE(c.send(pb::CLIENTACK, ack));
  auto reply = c.read();
  ASSERT_TRUE(reply.has_value());
  const pb::Ack a = ackOf(*reply);
  EXPECT_EQ(a.error_code(), 400);
  EXPECT_NE(a.error_message().find("meta.dat"), std::string::npos) << a.error_message();
  EXPECT_TRUE(c.closedByServer());
}

TEST_F(CanalServerUnitTest, ADestinationSlowToWriteHoldsUpOnlyItsOwnClients) {
  // Three clients of "slow" whose subscribes hang (a disk or ZooKeeper that does not answer).
  slow_->holdSubscribes(true);
  struct Release {
    FakeSessions& slow;
    ~Release() { slow.holdSubscribes(false); }  // also when an assertion ends the test early
  } release{*slow_};
  std::vector<std::unique_ptr<RawClient>> stuck;
  for (int i = 0; i < 3; ++i) {
    stuck.push_back(std::make_unique<RawClient>(server_->port()));
    ASSERT_EQ(login(*stuck.back()), 0);
    pb::Sub sub;
    sub.set_destination("slow");
    sub.set_client_id(std::to_string(1001 + i));
    ASSERT_TRUE(stuck.back()->send(pb::SUBSCRIPTION, sub));
  }
  ASSERT_TRUE(slow_->waitForSubscribing(1));
  // Another destination's client subscribes, gets and acks meanwhile.
  auto client = subscribedClient();
  fake_->add({"entry"});
  sendGet(*client, 1, -1);
  auto m = messages(*client);
  ASSERT_TRUE(m.has_value());
  pb::ClientAck ack;
  ack.set_destination("example");
  ack.set_client_id("1001");
  ack.set_batch_id(m->batch_id());
  ASSERT_TRUE(client->send(pb::CLIENTACK, ack));
  sendGet(*client, 1, -1);  // answered after the ack is written: an empty batch
  auto after = messages(*client);
  ASSERT_TRUE(after.has_value());
  EXPECT_EQ(after->batch_id(), -1);
  // Released, the slow destination's clients are answered, in turn.
  slow_->holdSubscribes(false);
  for (auto& c : stuck) EXPECT_EQ(nextAckCode(*c), 0);
}

TEST_F(CanalServerUnitTest, AStoppedDestinationAnswersShouldStartFirst) {
  fake_->setRunning(false);
  RawClient c(server_->port());
  ASSERT_EQ(login(c), 0);
  const pb::Ack stopped = subscribeTo(c, "example");
  EXPECT_EQ(stopped.error_code(), 400);
  EXPECT_NE(stopped.error_message().find("destination:example should start first"), std::string::npos);
  const pb::Ack unknown = subscribeTo(c, "nowhere");
  EXPECT_EQ(unknown.error_code(), 400);
  EXPECT_NE(unknown.error_message().find("destination:nowhere should start first"), std::string::npos);
}

}  // namespace
}  // namespace canal::net
