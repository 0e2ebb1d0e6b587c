#include "server/store/event_store.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "tests/support/process.h"

namespace canal::store {
namespace {

StoredEntry entry(std::size_t size, bool ddl = false) {
  StoredEntry e;
  e.entry.assign(size, 'x');
  e.isDdl = ddl;
  return e;
}

TEST(EventStore, ItemSizeBatchesAckAndRollback) {
  EventStore store({8, 1024, BatchMode::kItemSize, false});
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(store.put(entry(10)));
  auto a = store.get(3, {});
  ASSERT_TRUE(a);
  EXPECT_EQ(a->entries.size(), 3u);
  auto b = store.get(3, {});
  EXPECT_EQ(b->entries.size(), 2u);
  EXPECT_TRUE(store.get(3, {})->entries.empty());
  store.rollback();
  auto again = store.get(10, {});
  EXPECT_EQ(again->start, 0u);
  EXPECT_EQ(again->entries.size(), 5u);
  ASSERT_TRUE(store.ack(again->end));
  EXPECT_EQ(store.ackSequence(), 5u);
  EXPECT_EQ(store.bytesHeld(), 0u);
  EXPECT_FALSE(store.get(0, {})) << "fetch size 0 in ITEMSIZE mode is refused";
}

TEST(EventStore, MemSizeTakesUpToTheBudgetPlusOne) {
  EventStore store({1024, 100, BatchMode::kMemSize, false});
  for (int i = 0; i < 6; ++i) ASSERT_TRUE(store.put(entry(60)));
  auto a = store.get(1, {});  // budget 100 bytes: 60 (<= 100), 120 > 100 stops after the second
  EXPECT_EQ(a->entries.size(), 2u);
  auto one = store.get(0, {});
  EXPECT_EQ(one->entries.size(), 1u) << "0 in MEMSIZE mode returns one entry";
}

TEST(EventStore, DdlIsReturnedAlone) {
  EventStore store({16, 1024, BatchMode::kItemSize, true});
  ASSERT_TRUE(store.put(entry(1)));
  ASSERT_TRUE(store.put(entry(1, true)));
  ASSERT_TRUE(store.put(entry(1)));
  EXPECT_EQ(store.get(10, {})->entries.size(), 1u);
  auto ddl = store.get(10, {});
  ASSERT_EQ(ddl->entries.size(), 1u);
  EXPECT_TRUE(ddl->entries[0]->isDdl);
  EXPECT_EQ(store.get(10, {})->entries.size(), 1u);
}

// A full ring blocks put() until an ack frees space: memory stays bounded.
TEST(EventStore, PutBlocksWhileFullUntilAck) {
  EventStore store({2, 1024, BatchMode::kItemSize, false});
  ASSERT_TRUE(store.put(entry(1)));
  ASSERT_TRUE(store.put(entry(1)));
  std::atomic<bool> third{false};
  std::thread producer([&] {
    ASSERT_TRUE(store.put(entry(1)));
    third = true;
  });
  ASSERT_TRUE(testing::waitUntil(std::chrono::seconds(10), [&] { return store.stats().putBlocked; }))
      << "put() into a full ring must wait";
  EXPECT_FALSE(third);
  const auto blocked = store.stats().putBlockedNanos;
  EXPECT_TRUE(testing::waitUntil(std::chrono::seconds(10), [&] { return store.stats().putBlockedNanos > blocked; }))
      << "a block in progress shows in the figures as it goes";
  auto batch = store.get(1, {});
  EXPECT_FALSE(third) << "handed out is not yet free";
  ASSERT_TRUE(store.ack(batch->end));
  producer.join();
  EXPECT_TRUE(third);
  EXPECT_EQ(store.putSequence(), 3u);
}

TEST(EventStore, GetWaitsForEnoughOrTheTimeoutAndStopWakesIt) {
  EventStore store({16, 1024, BatchMode::kItemSize, false});
  ASSERT_TRUE(store.put(entry(1)));
  GetWait shortWait{GetWait::Kind::kFor, std::chrono::milliseconds(50)};
  auto partial = store.get(5, shortWait);
  EXPECT_EQ(partial->entries.size(), 1u) << "after the timeout, what is there";
  std::thread stopper([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    store.stop();
  });
  auto woken = store.get(5, GetWait{GetWait::Kind::kForever, {}});
  stopper.join();
  EXPECT_TRUE(woken->entries.empty());
  EXPECT_FALSE(store.put(entry(1)));
}

// A caller waiting without a thread is woken by the put that makes its batch enough, once; one
// that cancelled, or asked again (replacing its waiter), is not woken by the earlier request.
TEST(EventStore, ReadyOrNotifyWakesOnTheEnoughPutOnly) {
  EventStore store({8, 1024, BatchMode::kItemSize, false});
  int first = 0, second = 0, cancelled = 0;
  const int ownerA = 0, ownerB = 0, ownerC = 0;
  EXPECT_FALSE(store.readyOrNotify(&ownerA, 2, [&] { ++first; }));
  EXPECT_FALSE(store.readyOrNotify(&ownerC, 1, [&] { ++cancelled; }));
  store.cancelNotify(&ownerC);
  EXPECT_FALSE(store.readyOrNotify(&ownerB, 1, [&] { ++second; }));
  EXPECT_FALSE(store.readyOrNotify(&ownerB, 3, [&] { second += 10; }));  // replaces the one above
  ASSERT_TRUE(store.put(entry(10)));
  EXPECT_EQ(first, 0) << "one entry is not enough for a fetch of 2";
  ASSERT_TRUE(store.put(entry(10)));
  EXPECT_EQ(first, 1);
  ASSERT_TRUE(store.put(entry(10)));
  EXPECT_EQ(first, 1) << "woken once";
  EXPECT_EQ(second, 10);
  EXPECT_EQ(cancelled, 0);
  EXPECT_TRUE(store.readyOrNotify(&ownerA, 3, [&] { ++first; })) << "already enough: no waiter";
  store.stop();
  EXPECT_EQ(first, 1);
  int stopped = 0;
  EXPECT_TRUE(store.readyOrNotify(&ownerA, 8, [&] { ++stopped; })) << "a stopped store answers at once";
}

}  // namespace
}  // namespace canal::store
