// The MQ publishing loop over a destination's real client sessions (an in-memory event store
// filled by the test, no meta store) and a scripted broker: a batch is acked only once
// published, sent again whole while the broker does not confirm it, and publishing stops with
// the batch unacked when the broker refuses it for good.

#include "server/mq/mq_worker.h"

#include <gtest/gtest.h>

#include <mutex>

#include "server/instance/destination_clients.h"
#include "tests/support/process.h"

namespace canal::mq {
namespace {

using namespace std::chrono_literals;

// Answers publish() from a script (then OK), recording every batch it was handed.
class ScriptedPublisher final : public BatchPublisher {
 public:
  struct Shared {
    std::mutex mutex;
    std::vector<Status> script;
    std::vector<std::vector<std::string>> batches;
    std::vector<std::vector<std::string>> confirmed;
    std::size_t perPublish = 1;                       // batchesPerPublish()
    std::vector<std::vector<std::int64_t>> publishes;  // the batch ids of each publish()
  };
  explicit ScriptedPublisher(std::shared_ptr<Shared> shared) : shared_(std::move(shared)) {}
  Status publish(const std::vector<PublishBatch>& batches) override {
    std::lock_guard<std::mutex> lock(shared_->mutex);
    std::vector<std::string> batch;
    shared_->publishes.emplace_back();
    for (const PublishBatch& b : batches) {
      batch.insert(batch.end(), b.entries.begin(), b.entries.end());
      shared_->publishes.back().push_back(b.id);
    }
    shared_->batches.push_back(batch);
    if (!shared_->script.empty()) {
      Status s = shared_->script.front();
      shared_->script.erase(shared_->script.begin());
      if (!s.isOk()) return s;
    }
    shared_->confirmed.push_back(std::move(batch));
    return Status::ok();
  }
  std::size_t batchesPerPublish() const override { return shared_->perPublish; }
  std::string describe() const override { return "scripted broker"; }
  PublisherCounters counters() const override { return {}; }

 private:
  std::shared_ptr<Shared> shared_;
};

class MqWorkerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store::StoreOptions so;
    so.bufferSize = 64;
    so.mode = store::BatchMode::kItemSize;
    store_ = std::make_unique<store::EventStore>(so);
    auto filter = instance::ActiveFilter::create(convert::TableFilterSpec{});
    ASSERT_TRUE(filter.isOk()) << filter.status().toString();
    filter_ = std::move(*filter);
    clients_ = std::make_shared<instance::DestinationClients>("example", "db1", 3306, *store_, *filter_, nullptr);
    clients_->open();
    broker_ = std::make_shared<ScriptedPublisher::Shared>();
  }
  void TearDown() override {
    if (worker_) worker_->stop();
    clients_->close();
  }

  // A transaction of two entries ending at `offset` + 100, where a cursor can stop.
  void putTransaction(std::uint64_t offset) {
    for (int i = 0; i < 2; ++i) {
      store::StoredEntry e;
      e.entry = "entry@" + std::to_string(offset + 100 * i);
      e.position = EntryPosition{"mysql-bin.000001", offset + 100 * i, 1700000000000, 1, {}, offset + 100 * i + 10};
      e.ackable = i == 1;
      ASSERT_TRUE(store_->put(e).isOk());
    }
  }
  void startWorker() {
    MqWorkerOptions o;
    o.destination = "example";
    o.batchSize = 2;
    o.getTimeout = 20ms;
    o.maxRetryPause = 50ms;
    worker_ = std::make_unique<MqWorker>(clients_, std::make_unique<ScriptedPublisher>(broker_), o);
    ASSERT_TRUE(worker_->start().isOk());
  }
  std::size_t confirmed() {
    std::lock_guard<std::mutex> lock(broker_->mutex);
    return broker_->confirmed.size();
  }
  std::uint64_t cursorOffset() const {
    const auto c = clients_->cursor(1001);
    return c ? c->position : 0;
  }

  std::unique_ptr<store::EventStore> store_;
  std::unique_ptr<instance::ActiveFilter> filter_;
  std::shared_ptr<instance::DestinationClients> clients_;
  std::shared_ptr<ScriptedPublisher::Shared> broker_;
  std::unique_ptr<MqWorker> worker_;
};

TEST_F(MqWorkerTest, EachBatchIsPublishedThenAcked) {
  putTransaction(1000);
  putTransaction(2000);
  startWorker();
  ASSERT_TRUE(testing::waitUntil(5s, [&] { return cursorOffset() == 2100; }));
  // The worker counts a batch once the ack it writes returns, a moment after the cursor moved.
  ASSERT_TRUE(testing::waitUntil(5s, [&] { return worker_->stats().batches == 2; }));
  std::lock_guard<std::mutex> lock(broker_->mutex);
  EXPECT_EQ(broker_->confirmed, (std::vector<std::vector<std::string>>{{"entry@1000", "entry@1100"},
                                                                        {"entry@2000", "entry@2100"}}));
  EXPECT_EQ(worker_->stats().batches, 2u);
  EXPECT_EQ(worker_->stats().state, "publishing");
}

// A publisher that takes several batches (a Kafka transaction) gets the full ones ready behind
// the first, each with its own id; all are acked once it confirmed them, none when it did not.
TEST_F(MqWorkerTest, BatchesReadyAtOnceArePublishedTogetherAndAckedTogether) {
  broker_->perPublish = 3;
  broker_->script = {Status::unavailable("broker down")};
  for (std::uint64_t offset = 1000; offset <= 4000; offset += 1000) putTransaction(offset);
  startWorker();
  ASSERT_TRUE(testing::waitUntil(5s, [&] { return cursorOffset() == 4100; }));
  ASSERT_TRUE(testing::waitUntil(5s, [&] { return worker_->stats().batches == 4; }));
  std::lock_guard<std::mutex> lock(broker_->mutex);
  ASSERT_EQ(broker_->publishes.size(), 3u) << "three batches refused, the same three again, then the fourth";
  EXPECT_EQ(broker_->publishes[0].size(), 3u);
  EXPECT_EQ(broker_->publishes[1].size(), 3u);
  EXPECT_EQ(broker_->publishes[2].size(), 1u);
  EXPECT_LT(broker_->publishes[1][0], broker_->publishes[1][1]);
  EXPECT_LT(broker_->publishes[1][1], broker_->publishes[1][2]);
  EXPECT_EQ(broker_->confirmed,
            (std::vector<std::vector<std::string>>{
                {"entry@1000", "entry@1100", "entry@2000", "entry@2100", "entry@3000", "entry@3100"},
                {"entry@4000", "entry@4100"}}));
}

TEST_F(MqWorkerTest, ABatchTheBrokerDidNotConfirmIsSentAgainWholeAndAckedOnlyThen) {
  broker_->script = {Status::unavailable("broker down"), Status::unavailable("broker down")};
  putTransaction(1000);
  startWorker();
  ASSERT_TRUE(testing::waitUntil(5s, [&] { return confirmed() == 1; }));
  ASSERT_TRUE(testing::waitUntil(5s, [&] { return cursorOffset() == 1100; }));
  {
    std::lock_guard<std::mutex> lock(broker_->mutex);
    ASSERT_EQ(broker_->batches.size(), 3u);
    for (const auto& b : broker_->batches) EXPECT_EQ(b, (std::vector<std::string>{"entry@1000", "entry@1100"}));
  }
  // The worker says "publishing" once the ack it writes returns, a moment after the cursor moved.
  ASSERT_TRUE(testing::waitUntil(5s, [&] { return worker_->stats().state == "publishing"; }))
      << worker_->stats().state;
  const MqWorkerStats s = worker_->stats();
  EXPECT_EQ(s.failures, 2u);
  EXPECT_NE(s.lastError.find("broker down"), std::string::npos);
  EXPECT_EQ(s.state, "publishing");
}

TEST_F(MqWorkerTest, ABatchRefusedForGoodStopsPublishingWithTheBatchUnacked) {
  broker_->script = {Status::aborted("the message for s.t INSERT at mysql-bin.000001:1000 is over the size limit")};
  putTransaction(1000);
  startWorker();
  ASSERT_TRUE(testing::waitUntil(5s, [&] { return worker_->stats().state == "failed"; }));
  putTransaction(2000);
  EXPECT_NE(worker_->stats().lastError.find("over the size limit"), std::string::npos);
  EXPECT_EQ(cursorOffset(), 0u) << "nothing acked";
  worker_->stop();
  std::lock_guard<std::mutex> lock(broker_->mutex);
  EXPECT_EQ(broker_->batches.size(), 1u) << "not retried, and nothing after it published";
}

}  // namespace
}  // namespace canal::mq
