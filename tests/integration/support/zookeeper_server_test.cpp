// The ZooKeeper launcher starts a real server that accepts znodes from the C client.

#include "tests/support/zookeeper_server.h"

#include "server/common/zookeeper_session.h"

#include <gtest/gtest.h>
#include <zookeeper/zookeeper.h>

#include <atomic>
#include <chrono>

namespace canal::testing {
namespace {

using namespace std::chrono_literals;

void watcher(zhandle_t*, int type, int state, const char*, void* context) {
  if (type == ZOO_SESSION_EVENT && state == ZOO_CONNECTED_STATE) {
    static_cast<std::atomic<bool>*>(context)->store(true);
  }
}

TEST(ZooKeeperServerTest, AcceptsZnodes) {
  auto started = ZooKeeperServer::start();
  ASSERT_TRUE(started.isOk()) << started.status().toString();
  auto& zk = **started;
  EXPECT_EQ(zooKeeperFourLetter(zk.port(), "ruok"), "imok");

  zoo_set_debug_level(ZOO_LOG_LEVEL_ERROR);
  std::atomic<bool> connected{false};
  zhandle_t* handle = zookeeper_init(zk.connectString().c_str(), watcher, 10000, nullptr, &connected, 0);
  ASSERT_NE(handle, nullptr);
  ASSERT_TRUE(waitUntil(20s, [&] { return connected.load(); })) << zk.log();

  ASSERT_EQ(zoo_create(handle, "/otter", nullptr, -1, &ZOO_OPEN_ACL_UNSAFE, 0, nullptr, 0), ZOK);
  const std::string data = R"({"active":true,"address":"127.0.0.1:11111"})";
  ASSERT_EQ(zoo_create(handle, "/otter/running", data.data(), static_cast<int>(data.size()), &ZOO_OPEN_ACL_UNSAFE,
                       ZOO_EPHEMERAL, nullptr, 0),
            ZOK);
  char buffer[256];
  int length = sizeof(buffer);
  ASSERT_EQ(zoo_get(handle, "/otter/running", 0, buffer, &length, nullptr), ZOK);
  EXPECT_EQ(std::string(buffer, static_cast<std::size_t>(length)), data);
  EXPECT_EQ(zoo_create(handle, "/otter", nullptr, -1, &ZOO_OPEN_ACL_UNSAFE, 0, nullptr, 0), ZNODEEXISTS);
  zookeeper_close(handle);
}

// ZooKeeper raises a session timeout below 2 x tickTime (500 ms here); the session says what it
// was granted, and canal-server warns with it.
TEST(ZooKeeperServerTest, ASessionShorterThanTwoTicksIsRaisedAndTheGrantIsKnown) {
  auto started = ZooKeeperServer::start();
  ASSERT_TRUE(started.isOk()) << started.status().toString();
  auto shortSession = ZooKeeperSession::connect((*started)->connectString(), 600ms, 20s);
  ASSERT_TRUE(shortSession.isOk()) << shortSession.status().toString();
  EXPECT_EQ((*shortSession)->negotiatedTimeout(), 1000ms);
  auto kept = ZooKeeperSession::connect((*started)->connectString(), 4000ms, 20s);
  ASSERT_TRUE(kept.isOk());
  EXPECT_EQ((*kept)->negotiatedTimeout(), 4000ms);
}

}  // namespace
}  // namespace canal::testing
