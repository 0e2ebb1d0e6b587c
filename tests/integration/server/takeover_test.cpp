// canal-tail --zk following ZooKeeper's running node while the running server of an
// active/standby pair is killed with -9 five times under a writer (once canal-tail itself is
// started again during the takeover): it never exits, says what it waits for, prints every row,
// and stops within 2 s of SIGTERM. The gap a person sees (from the kill to the next line
// printed) is printed; tests/bench/takeover_bench.cpp measures it against the session timeout.

#include <gtest/gtest.h>

#include <set>

#include "tests/support/background_writer.h"
#include "tests/support/ha_cluster.h"
#include "tests/support/mariadb_test.h"

namespace canal {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

class TakeoverTest : public testing::MariaDbTest {
 protected:
  void SetUp() override {
    MariaDbTest::SetUp();
    if (HasFatalFailure()) return;
    ASSERT_TRUE(db_->execute("CREATE DATABASE s; CREATE TABLE s.w (id INT AUTO_INCREMENT PRIMARY KEY, n INT)"));
    auto end = db_->binlogEnd();
    ASSERT_TRUE(end) << end.status().toString();
    auto cluster = testing::HaCluster::start(CANAL_SERVER_BINARY, "canal-tail-ha", db_->port(), 1000, end->file,
                                             std::to_string(end->position));
    ASSERT_TRUE(cluster) << cluster.status().toString();
    cluster_ = std::move(*cluster);
  }

  std::unique_ptr<testing::HaCluster> cluster_;
};

TEST_F(TakeoverTest, CanalTailFollowsFiveTakeoversAndPrintsEveryRow) {
  testing::BackgroundWriter writer(*db_, 1, [](std::mt19937&) { return std::string("INSERT INTO s.w (n) VALUES (1)"); },
                                   20ms);
  testing::TailProcess tail(CANAL_TAIL_BINARY, *cluster_, (cluster_->dir->path() / "tail.out").string());
  ASSERT_TRUE(tail.start());
  const testing::TakeoverGaps gaps = testing::killAndMeasure(*cluster_, tail, 5, /*restartTailAt=*/2);
  ASSERT_EQ(gaps.error, "");
  writer.stop();
  const std::string last = db_->queryValue("SELECT MAX(id) FROM s.w");
  ASSERT_FALSE(last.empty());
  const long want = std::stol(last);
  std::set<long> ids;
  EXPECT_TRUE(testing::waitUntil(60s, [&] {
    const auto printed = tail.ids("w");
    ids = std::set<long>(printed.begin(), printed.end());
    return !ids.empty() && *ids.rbegin() >= want;
  })) << tail.logTail();
  long missing = 0;
  for (long id = 1; id <= want; ++id) missing += ids.count(id) == 0;
  std::printf("[ figures ] canal-tail --zk through 5 kill -9 takeovers (session timeout 1 s): %ld rows, %ld missing; "
              "gap from kill to the next line printed: median %.2f s, max %.2f s\n",
              want, missing, gaps.median(), gaps.max());
  EXPECT_EQ(missing, 0);
  EXPECT_TRUE(tail.running()) << tail.logTail();
  EXPECT_NE(tail.logTail(200000).find("canal-tail: waiting: "), std::string::npos) << "it says why it waits";
  const auto stopping = Clock::now();
  EXPECT_EQ(tail.stop(), 0);
  EXPECT_LT(Clock::now() - stopping, 2s);
  cluster_->a->stop();
  cluster_->b->stop();
}

}  // namespace
}  // namespace canal
