// The consuming half of a destination without a primary: an in-memory event store filled by the
// test, and a meta store that records what it is given and fails when told to.

#include "server/instance/destination_clients.h"

#include <gtest/gtest.h>

#include <atomic>
#include <mutex>

#include "tests/support/fake_meta_store.h"

namespace canal::instance {
namespace {

using testing::FakeMetaStore;

store::StoredEntry entry(const std::string& bytes, std::uint64_t offset, bool ackable) {
  store::StoredEntry e;
  e.entry = bytes;
  e.position = EntryPosition{"mysql-bin.000001", offset, 1700000000000, 1, {}, offset + 10};
  e.ackable = ackable;
  return e;
}

class DestinationClientsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store::StoreOptions so;
    so.bufferSize = 16;
    so.mode = store::BatchMode::kItemSize;
    store_ = std::make_unique<store::EventStore>(so);
    auto filter = ActiveFilter::create(convert::TableFilterSpec{});
    ASSERT_TRUE(filter.isOk()) << filter.status().toString();
    filter_ = std::move(*filter);
    meta_ = std::make_shared<FakeMetaStore::Shared>();
    clients_ = std::make_unique<DestinationClients>("example", "db1", 3306, *store_, *filter_,
                                                    std::make_unique<FakeMetaStore>(meta_));
  }

  // One transaction of three entries: BEGIN, a row, END (the END is where a cursor can stop).
  void putTransaction(std::uint64_t offset) {
    ASSERT_TRUE(store_->put(entry("begin@" + std::to_string(offset), offset, false)).isOk());
    ASSERT_TRUE(store_->put(entry("row@" + std::to_string(offset), offset + 100, false)).isOk());
    ASSERT_TRUE(store_->put(entry("end@" + std::to_string(offset), offset + 200, true)).isOk());
  }

  std::vector<std::string> take(std::int64_t fetchSize, std::int64_t* id) {
    auto batch = clients_->get(1001, fetchSize, store::GetWait{});
    EXPECT_TRUE(batch.isOk()) << batch.status().toString();
    if (!batch) return {};
    *id = batch->id;
    return batch->entries;
  }

  std::unique_ptr<store::EventStore> store_;
  std::unique_ptr<ActiveFilter> filter_;
  std::shared_ptr<FakeMetaStore::Shared> meta_;
  std::unique_ptr<DestinationClients> clients_;
};

TEST_F(DestinationClientsTest, RequestsBeforeOpenAndAfterCloseAreRefusedAndCloseFlushesTheMeta) {
  const Status early = clients_->subscribe(1001, "");
  EXPECT_EQ(early.message(), "destination:example should start first");
  clients_->open();
  EXPECT_TRUE(clients_->subscribe(1001, "").isOk());
  clients_->close();
  EXPECT_EQ(meta_->flushes, 1);
  EXPECT_EQ(clients_->rollback(1001, 0).status().message(), "destination:example should start first");
  EXPECT_TRUE(clients_->readyOrNotify(this, 1, [] {})) << "a closed destination answers waiting gets at once";
}

TEST_F(DestinationClientsTest, BatchesComeInOrderAndOnlyTheFirstCanBeAcked) {
  clients_->open();
  auto unsubscribed = clients_->get(1001, 1, store::GetWait{});
  ASSERT_FALSE(unsubscribed.isOk());
  EXPECT_NE(unsubscribed.status().message().find("should subscribe first"), std::string::npos);

  ASSERT_TRUE(clients_->subscribe(1001, "").isOk());
  ASSERT_EQ(meta_->records.size(), 1u);
  EXPECT_EQ(meta_->records[0].second.kind, meta::MetaChange::Kind::kSubscribe);
  putTransaction(1000);
  std::int64_t first = 0, second = 0;
  EXPECT_EQ(take(2, &first), (std::vector<std::string>{"begin@1000", "row@1000"}));
  EXPECT_EQ(take(2, &second), (std::vector<std::string>{"end@1000"}));
  EXPECT_EQ(first, 1);
  EXPECT_EQ(second, 2);
  std::int64_t none = 0;
  EXPECT_TRUE(take(2, &none).empty());
  EXPECT_EQ(none, -1);

  EXPECT_EQ(clients_->ack(1001, 2).message(), "batchId:2 is not the firstly:1");
  EXPECT_EQ(clients_->ack(1001, 7).message(), "ack error , clientId:1001 batchId:7 is not exist , please check");
  ASSERT_TRUE(clients_->ack(1001, 1).isOk());
  EXPECT_FALSE(clients_->cursor(1001).has_value()) << "a batch without a transaction end does not move the cursor";
  EXPECT_EQ(meta_->records.size(), 1u) << "nothing to record yet";
  ASSERT_TRUE(clients_->ack(1001, 2).isOk());
  ASSERT_TRUE(clients_->cursor(1001).has_value());
  EXPECT_EQ(clients_->cursor(1001)->position, 1200u);
  ASSERT_EQ(meta_->records.size(), 2u);
  const auto& [recorded, change] = meta_->records.back();
  EXPECT_EQ(change.kind, meta::MetaChange::Kind::kCursor);
  ASSERT_EQ(recorded.clients.size(), 1u);
  ASSERT_TRUE(recorded.clients[0].cursor.has_value());
  EXPECT_EQ(recorded.clients[0].cursor->position.position, 1200u);
  EXPECT_EQ(recorded.clients[0].cursor->sourceHost, "db1");
  EXPECT_EQ(store_->stats().ackSequence, 3u);
}

TEST_F(DestinationClientsTest, AnAckTheMetaCannotRecordLeavesItsBatchesUnacknowledged) {
  clients_->open();
  ASSERT_TRUE(clients_->subscribe(1001, "").isOk());
  putTransaction(1000);
  putTransaction(2000);
  std::int64_t first = 0, second = 0;
  ASSERT_EQ(take(3, &first).size(), 3u);
  ASSERT_EQ(take(3, &second).size(), 3u);
  meta_->failing = true;
  // Both set aside, then written together: the write fails for both.
  ASSERT_TRUE(clients_->takeForAck(1001, first).isOk());
  ASSERT_TRUE(clients_->takeForAck(1001, second).isOk());
  const Status failed = clients_->commitAcks(1001);
  EXPECT_FALSE(failed.isOk());
  EXPECT_NE(failed.toString().find("meta.dat"), std::string::npos) << failed.toString();
  EXPECT_FALSE(clients_->cursor(1001).has_value());
  EXPECT_EQ(store_->stats().ackSequence, 0u) << "the store keeps the entries";
  const auto stats = clients_->clientStats();
  ASSERT_EQ(stats.size(), 1u);
  EXPECT_EQ(stats[0].unackedBatches, 2u);

  // The client rolls back (as it does on reconnecting) and gets the same entries again.
  ASSERT_TRUE(clients_->rollback(1001, 0).isOk());
  std::int64_t again = 0;
  EXPECT_EQ(take(3, &again), (std::vector<std::string>{"begin@1000", "row@1000", "end@1000"}));
  meta_->failing = false;
  ASSERT_TRUE(clients_->ack(1001, again).isOk());
  ASSERT_TRUE(clients_->cursor(1001).has_value());
  EXPECT_EQ(clients_->cursor(1001)->position, 1200u);
  EXPECT_EQ(store_->stats().ackSequence, 3u);
}

// A client reconnects (its new connection rolls back) while its old connection's get is still
// under way: that get takes nothing, so no batch goes out ahead of the new connection's.
TEST_F(DestinationClientsTest, AGetOfAConnectionOlderThanTheClientsLastRollbackTakesNothing) {
  clients_->open();
  ASSERT_TRUE(clients_->subscribe(1001, "").isOk());
  putTransaction(1000);
  const auto old = clients_->rollback(1001, 0);
  ASSERT_TRUE(old.isOk());
  const auto newer = clients_->rollback(1001, 0);
  ASSERT_TRUE(newer.isOk());
  EXPECT_GT(*newer, *old);
  auto refused = clients_->getWithoutAck(1001, 10, *old, [](const BatchEntries&) { ADD_FAILURE() << "entries taken"; });
  ASSERT_FALSE(refused.isOk());
  EXPECT_EQ(refused.status().code(), StatusCode::kAborted);
  EXPECT_EQ(store_->stats().getSequence, 0u) << "the store's get cursor did not move";
  std::size_t seen = 0;
  auto taken = clients_->getWithoutAck(1001, 10, *newer, [&](const BatchEntries& e) { seen = e.size(); });
  ASSERT_TRUE(taken.isOk()) << taken.status().toString();
  EXPECT_EQ(*taken, 1);
  EXPECT_EQ(seen, 3u);
  EXPECT_EQ(*clients_->rollback(1001, 1), *newer) << "rolling back one batch starts no new epoch";
}

TEST_F(DestinationClientsTest, ASubscribeFilterReplacesTheDestinationsFilter) {
  clients_->open();
  const std::uint64_t before = filter_->generation();
  ASSERT_TRUE(clients_->subscribe(1001, "shop\\..*").isOk());
  EXPECT_EQ(filter_->current()->spec().regex, "shop\\..*");
  EXPECT_NE(filter_->generation(), before);
  const std::uint64_t replaced = filter_->generation();
  EXPECT_FALSE(clients_->subscribe(1002, "shop\\.(broken").isOk());
  EXPECT_EQ(filter_->current()->spec().regex, "shop\\..*");
  ASSERT_TRUE(clients_->subscribe(1003, "").isOk());
  EXPECT_EQ(filter_->generation(), replaced) << "an empty filter keeps the one in force";
  ASSERT_FALSE(meta_->records.empty());
  const auto& recorded = meta_->records.back().first.clients;
  ASSERT_FALSE(recorded.empty());
  EXPECT_EQ(recorded[0].filter.value_or(""), "shop\\..*");
}

TEST_F(DestinationClientsTest, AWaitingGetIsWokenByThePutThatMakesItsBatchEnough) {
  clients_->open();
  std::atomic<int> woken{0};
  EXPECT_FALSE(clients_->readyOrNotify(this, 2, [&] { ++woken; }));
  ASSERT_TRUE(store_->put(entry("a", 100, true)).isOk());
  EXPECT_EQ(woken, 0) << "one entry is not a batch of two";
  ASSERT_TRUE(store_->put(entry("b", 200, true)).isOk());
  EXPECT_EQ(woken, 1);
  EXPECT_TRUE(clients_->readyOrNotify(this, 2, [&] { ++woken; }));
  clients_->cancelNotify(this);
}

TEST_F(DestinationClientsTest, TheVisitorSeesTheEntriesWhileTheStoreHoldsThem) {
  clients_->open();
  ASSERT_TRUE(clients_->subscribe(1001, "").isOk());
  putTransaction(1000);
  std::vector<std::string> seen;
  auto id = clients_->getWithoutAck(1001, 10, 0, [&](const BatchEntries& entries) {
    for (const std::string_view e : entries) seen.emplace_back(e);
  });
  ASSERT_TRUE(id.isOk()) << id.status().toString();
  EXPECT_EQ(*id, 1);
  EXPECT_EQ(seen, (std::vector<std::string>{"begin@1000", "row@1000", "end@1000"}));
  auto bad = clients_->getWithoutAck(1001, 0, 0, {});
  EXPECT_FALSE(bad.isOk()) << "ITEMSIZE takes at least one entry";
}

TEST_F(DestinationClientsTest, StoredSubscriptionsFiltersAndCursorsAreTakenUp) {
  meta::DestinationMeta stored{"example", {}};
  meta::ClientMeta c;
  c.clientId = 1001;
  c.filter = "shop\\.orders";
  c.cursor = meta::ClientCursor{"db1", 3306, EntryPosition{"mysql-bin.000003", 777, 0, 1, {}, 800},
                                "mysql-bin.000003", 790, ""};
  stored.clients.push_back(c);
  ASSERT_TRUE(clients_->restore(stored).isOk());
  clients_->open();
  ASSERT_TRUE(clients_->cursor(1001).has_value());
  EXPECT_EQ(clients_->cursor(1001)->journalName, "mysql-bin.000003");
  EXPECT_EQ(filter_->current()->spec().regex, "shop\\.orders");
  ASSERT_TRUE(clients_->subscribe(1002, "").isOk());
  ASSERT_EQ(meta_->records.back().first.clients.size(), 2u);
  const auto& kept = meta_->records.back().first.clients[0];
  ASSERT_TRUE(kept.cursor.has_value());
  EXPECT_EQ(kept.cursor->ackedThroughOffset, 790u);
}

}  // namespace
}  // namespace canal::instance

namespace canal::instance {
namespace {

// A snapshot's progress is recorded with the cursor by the ack that covers its chunk, and only
// then: a restart from that cursor goes on after the last acked chunk.
TEST_F(DestinationClientsTest, AnAckCoveringASnapshotChunkRecordsItsProgressWithTheCursor) {
  StreamMarks stream;
  SequenceMarks& marks = stream.snapshot;
  clients_->setMarks(&stream);
  clients_->open();
  ASSERT_TRUE(clients_->subscribe(1001, "").isOk());
  putTransaction(1000);
  ASSERT_TRUE(store_->put(entry("chunk-1", 1300, false)).isOk());
  marks.note(store_->producerSequence(), "after chunk 1");
  putTransaction(2000);
  ASSERT_TRUE(store_->put(entry("chunk-2", 2300, false)).isOk());
  marks.note(store_->producerSequence(), "after chunk 2");

  std::int64_t id = 0;
  ASSERT_EQ(take(3, &id).size(), 3u);  // the first transaction only
  ASSERT_TRUE(clients_->ack(1001, id).isOk());
  EXPECT_EQ(meta_->records.back().first.clients[0].cursor->snapshot, "") << "no chunk acked yet";
  ASSERT_EQ(take(2, &id), (std::vector<std::string>{"chunk-1", "begin@2000"}));
  ASSERT_TRUE(clients_->ack(1001, id).isOk());
  EXPECT_EQ(meta_->records.back().first.clients[0].cursor->snapshot, "after chunk 1");
  ASSERT_EQ(take(10, &id).size(), 3u);
  ASSERT_TRUE(clients_->ack(1001, id).isOk());
  EXPECT_EQ(meta_->records.back().first.clients[0].cursor->snapshot, "after chunk 2");
  EXPECT_EQ(marks.through(store_->ackSequence()), std::optional<std::string>("after chunk 2"));

  // The snapshot ends: the progress is cleared by the next ack past its mark.
  putTransaction(3000);
  marks.note(store_->producerSequence(), "");
  ASSERT_EQ(take(10, &id).size(), 3u);
  ASSERT_TRUE(clients_->ack(1001, id).isOk());
  EXPECT_EQ(meta_->records.back().first.clients[0].cursor->snapshot, "");
}

// After a switch to the standby, a cursor names the server its position is in: the primary
// until an ack covers the first transaction stored from the standby, the standby from then on
// (a restart reads the position there).
TEST_F(DestinationClientsTest, ACursorNamesTheServerItsPositionIsIn) {
  StreamMarks stream;
  clients_->setMarks(&stream);
  clients_->open();
  ASSERT_TRUE(clients_->subscribe(1001, "").isOk());
  putTransaction(1000);
  putTransaction(4);  // the first transaction read from the standby
  stream.source.note(store_->producerSequence(), "db2:3307");
  putTransaction(600);

  std::int64_t id = 0;
  const auto recordedSource = [&] {
    const auto& cursor = meta_->records.back().first.clients[0].cursor;
    return cursor->sourceHost + ":" + std::to_string(cursor->sourcePort);
  };
  ASSERT_EQ(take(4, &id).size(), 4u);  // the primary's transaction and the standby's BEGIN
  ASSERT_TRUE(clients_->ack(1001, id).isOk());
  EXPECT_EQ(recordedSource(), "db1:3306");
  EXPECT_EQ(meta_->records.back().first.clients[0].cursor->position.position, 1200u);
  ASSERT_EQ(take(2, &id).size(), 2u);
  ASSERT_TRUE(clients_->ack(1001, id).isOk());
  EXPECT_EQ(recordedSource(), "db2:3307");
  EXPECT_EQ(meta_->records.back().first.clients[0].cursor->position.position, 204u);
  ASSERT_EQ(take(10, &id).size(), 3u);
  ASSERT_TRUE(clients_->ack(1001, id).isOk());
  EXPECT_EQ(recordedSource(), "db2:3307") << "marks passed by every client are dropped, not forgotten";
}

}  // namespace
}  // namespace canal::instance
