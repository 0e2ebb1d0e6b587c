#pragma once

// canal-server's client port against a fake destination (ClientSessions), without a primary.

#include "server/net/canal_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <condition_variable>
#include <cstdio>
#include <deque>
#include <fstream>
#include <limits>
#include <mutex>
#include <sstream>

#include "canal/protocol/canal_protocol.pb.h"
#include "canal/protocol/password_scramble.h"
#include "server/common/logging.h"
#include "tests/support/process.h"
#include "tests/support/raw_client.h"

namespace canal::net {

namespace pb = canal::protocol::packet;
using testing::ackOf;
using testing::RawClient;

// A destination whose entries the test hands in; it records waiting gets and can fail acks.
class FakeSessions final : public instance::ClientSessions {
 public:
  explicit FakeSessions(std::string name = "example") : name_(std::move(name)) {}
  const std::string& name() const override { return name_; }
  bool running() const override { return running_; }
  Status subscribe(std::int16_t, const std::string&) override {
    std::unique_lock<std::mutex> lock(mutex_);
    ++subscribing_;
    changed_.notify_all();
    changed_.wait(lock, [&] { return !holdSubscribes_; });
    return Status::ok();
  }
  Status unsubscribe(std::int16_t) override { return Status::ok(); }
  Result<std::int64_t> getWithoutAck(std::int16_t, std::int64_t fetchSize, std::uint64_t epoch,
                                     const instance::BatchVisitor& visit) override {
    std::lock_guard<std::mutex> lock(mutex_);
    ++gets_;
    lastEpoch_ = epoch;
    if (entries_.empty()) return std::int64_t{-1};
    std::vector<std::string> taken;
    while (!entries_.empty() && static_cast<std::int64_t>(taken.size()) < fetchSize) {
      taken.push_back(std::move(entries_.front()));
      entries_.pop_front();
    }
    instance::BatchEntries views(taken.begin(), taken.end());
    visit(views);
    return ++lastBatch_;
  }
  bool readyOrNotify(const void*, std::int64_t fetchSize, std::function<void()> wake) override {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!running_ || static_cast<std::int64_t>(entries_.size()) >= fetchSize) return true;
    wake_ = std::move(wake);
    ++waits_;
    changed_.notify_all();
    return false;
  }
  void cancelNotify(const void*) override {
    std::lock_guard<std::mutex> lock(mutex_);
    wake_ = nullptr;
  }
  Status takeForAck(std::int16_t, std::int64_t batchId) override {
    std::lock_guard<std::mutex> lock(mutex_);
    return batchId <= lastBatch_ ? Status::ok() : Status::notFound("no batch " + std::to_string(batchId));
  }
  Status commitAcks(std::int16_t) override {
    std::lock_guard<std::mutex> lock(mutex_);
    if (failAcks_) return Status::ioError("injected write failure", "/data/example/meta.dat");
    return Status::ok();
  }
  Result<std::uint64_t> rollback(std::int16_t, std::int64_t batchId) override {
    std::lock_guard<std::mutex> lock(mutex_);
    if (batchId == 0) ++epoch_;
    return epoch_;
  }
  void recordRequest(const std::string&, std::chrono::nanoseconds, std::size_t, int, bool) override {}

  // Adds entries and wakes a waiting get, as a put into the store does.
  void add(std::vector<std::string> entries) {
    std::function<void()> wake;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      for (auto& e : entries) entries_.push_back(std::move(e));
      wake = std::exchange(wake_, nullptr);
    }
    if (wake) wake();
  }
  // Waits until a get has started waiting `n` times.
  bool waitForWaits(int n) {
    std::unique_lock<std::mutex> lock(mutex_);
    return changed_.wait_for(lock, std::chrono::seconds(10), [&] { return waits_ >= n; });
  }
  void setRunning(bool running) { running_ = running; }
  int gets() {
    std::lock_guard<std::mutex> lock(mutex_);
    return gets_;
  }
  std::uint64_t lastEpoch() {
    std::lock_guard<std::mutex> lock(mutex_);
    return lastEpoch_;
  }
  void failAcks() {
    std::lock_guard<std::mutex> lock(mutex_);
    failAcks_ = true;
  }
  // Subscribes wait (as a slow disk write would) until released.
  void holdSubscribes(bool hold) {
    std::lock_guard<std::mutex> lock(mutex_);
    holdSubscribes_ = hold;
    changed_.notify_all();
  }
  // Waits until `n` subscribes have started.
  bool waitForSubscribing(int n) {
    std::unique_lock<std::mutex> lock(mutex_);
    return changed_.wait_for(lock, std::chrono::seconds(10), [&] { return subscribing_ >= n; });
  }

 private:
  const std::string name_;
  std::atomic<bool> running_{true};
  std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<std::string> entries_;
  std::function<void()> wake_;
  int waits_ = 0;
  int gets_ = 0;
  std::uint64_t epoch_ = 1;
  std::uint64_t lastEpoch_ = 0;
  std::int64_t lastBatch_ = 0;
  bool failAcks_ = false;
  bool holdSubscribes_ = false;
  int subscribing_ = 0;
};

class CanalServerUnitTest : public ::testing::Test {
 protected:
  void SetUp() override { restart([](ServerOptions&) {}); }
  void TearDown() override { server_->stop(); }

  // (Re)starts the server with the test's options, changed by `change`.
  void restart(const std::function<void(ServerOptions&)>& change) {
    if (server_) server_->stop();
    ServerOptions so;
    so.ip = "127.0.0.1";
    so.port = 0;
    so.user = "canal";
    so.passwordHash = protocol::passwordHash("canal");
    change(so);
    server_ = std::make_unique<CanalServer>(so, [this](const std::string& name) -> std::shared_ptr<instance::ClientSessions> {
      if (name == "slow") return slow_;
      return name == "example" ? fake_ : nullptr;
    });
    ASSERT_TRUE(server_->start().isOk());
  }

  // The seed of the handshake the server sends first; nullopt when none came.
  static std::optional<std::string> seedOf(RawClient& c) {
    auto hs = c.read();
    pb::Packet p;
    pb::Handshake h;
    if (!hs || !p.ParseFromString(*hs) || p.type() != pb::HANDSHAKE || !h.ParseFromString(p.body())) return {};
    return h.seeds();
  }
  static pb::ClientAuth authFor(const std::string& password, const std::string& seed) {
    pb::ClientAuth auth;
    auth.set_username("canal");
    auth.set_password(protocol::scramblePassword(password, seed));
    return auth;
  }
  // Handshake and authentication; the Ack's error code (0: accepted).
  int login(RawClient& c, const std::string& password = "canal") {
    const auto seed = seedOf(c);
    if (!seed || !c.send(pb::CLIENTAUTHENTICATION, authFor(password, *seed))) return -1;
    return nextAckCode(c);
  }
  // The Ack a subscription of client 1001 to `destination` gets.
  pb::Ack subscribeTo(RawClient& c, const std::string& destination) {
    pb::Sub sub;
    sub.set_destination(destination);
    sub.set_client_id("1001");
    EXPECT_TRUE(c.send(pb::SUBSCRIPTION, sub));
    auto reply = c.read();
    EXPECT_TRUE(reply.has_value());
    return reply ? ackOf(*reply) : pb::Ack();
  }
  void subscribe(RawClient& c) {
    const pb::Ack a = subscribeTo(c, "example");
    EXPECT_EQ(a.error_code(), 0) << a.error_message();
  }
  // A connection that authenticated and subscribed client 1001 to "example".
  std::unique_ptr<RawClient> subscribedClient() {
    auto c = std::make_unique<RawClient>(server_->port());
    EXPECT_EQ(login(*c), 0);
    subscribe(*c);
    return c;
  }
  // The error code of the next frame, an Ack; -1 when none came.
  int nextAckCode(RawClient& c) {
    auto reply = c.read();
    return reply ? ackOf(*reply).error_code() : -1;
  }
  void sendGet(RawClient& c, int fetchSize, std::int64_t timeout, int unit = 2) {
    pb::Get g;
    g.set_destination("example");
    g.set_client_id("1001");
    g.set_fetch_size(fetchSize);
    g.set_timeout(timeout);
    g.set_unit(unit);
    ASSERT_TRUE(c.send(pb::GET, g));
  }
  std::optional<pb::Messages> messages(RawClient& c) {
    auto reply = c.read();
    pb::Packet p;
    pb::Messages m;
    if (!reply || !p.ParseFromString(*reply) || p.type() != pb::MESSAGES || !m.ParseFromString(p.body())) return {};
    return m;
  }

  std::shared_ptr<FakeSessions> fake_ = std::make_shared<FakeSessions>();
  std::shared_ptr<FakeSessions> slow_ = std::make_shared<FakeSessions>("slow");
  std::unique_ptr<CanalServer> server_;
};

}  // namespace canal::net
