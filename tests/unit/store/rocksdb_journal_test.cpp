#include "server/store/rocksdb_journal.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>

#include "server/store/event_store.h"
#include "tests/support/temp_dir.h"

namespace canal::store {
namespace {

StoredEntry entry(int n, bool ackable = false) {
  StoredEntry e;
  e.entry = "entry-" + std::to_string(n);
  e.ackable = ackable;
  e.position = EntryPosition{"mysql-bin.000001", static_cast<std::uint64_t>(100 * n), 1700000000000 + n, 7, "", 0};
  e.position.nextPosition = e.position.position + 50;
  return e;
}

std::unique_ptr<EventStore> openStore(const std::string& dir, std::size_t slots = 64) {
  RecoveredStore recovered;
  auto journal = RocksDbJournal::open(dir, recovered);
  EXPECT_TRUE(journal) << journal.status().toString();
  if (!journal) return nullptr;
  return std::make_unique<EventStore>(StoreOptions{slots, 1024, BatchMode::kItemSize, false}, std::move(*journal),
                                      std::move(recovered));
}

std::vector<std::string> texts(const StoreBatch& batch) {
  std::vector<std::string> out;
  for (const StoredEntry* e : batch.entries) out.push_back(e->entry);
  return out;
}

TEST(RocksDbJournal, EntryEncodingRoundTripsAndRejectsTruncation) {
  StoredEntry e = entry(3, true);
  e.isDdl = true;
  e.position.gtid = "0-1-9";
  const std::string bytes = encodeStoredEntry(e);
  auto back = decodeStoredEntry(bytes);
  ASSERT_TRUE(back) << back.status().toString();
  EXPECT_EQ(back->entry, e.entry);
  EXPECT_TRUE(back->ackable);
  EXPECT_TRUE(back->isDdl);
  EXPECT_EQ(back->position.gtid, "0-1-9");
  EXPECT_EQ(back->position.nextPosition, e.position.nextPosition);
  EXPECT_EQ(back->position.timestamp, e.position.timestamp);
  for (std::size_t cut : {0u, 1u, 10u, 30u}) {
    auto broken = decodeStoredEntry(std::string_view(bytes).substr(0, cut));
    EXPECT_TRUE(!broken && broken.status().isCorruption()) << "cut at " << cut;
  }
  std::string badFlags = bytes;
  badFlags[0] = 0x40;
  EXPECT_FALSE(decodeStoredEntry(badFlags));
}

// A large entry (a RowChange repeats its columns' names and types in every row) is kept as an
// LZ4 block and comes back whole; a block cut short or a size that does not match is refused.
TEST(RocksDbJournal, LargeEntriesAreStoredCompressedAndRefusedWhenTheirBlockIsBroken) {
  StoredEntry e = entry(1, true);
  e.entry.clear();
  for (int row = 0; row < 200; ++row) e.entry += "\x1a\x04name\x42\x07value-" + std::to_string(row) + "\x52\x0bvarchar(64)";
  const std::string bytes = encodeStoredEntry(e);
  EXPECT_LT(bytes.size(), e.entry.size() / 2);
  auto back = decodeStoredEntry(bytes);
  ASSERT_TRUE(back) << back.status().toString();
  EXPECT_EQ(back->entry, e.entry);
  EXPECT_TRUE(back->ackable);
  for (std::size_t cut : {bytes.size() - 1, bytes.size() - 20, bytes.size() / 2}) {
    auto broken = decodeStoredEntry(std::string_view(bytes).substr(0, cut));
    EXPECT_TRUE(!broken && broken.status().isCorruption()) << "cut at " << cut;
  }
  // The size before the block: the flags byte, then the position's fields.
  const std::size_t sizeAt = 1 + 4 + e.position.journalName.size() + 8 + 8 + 4 + 4 + e.position.gtid.size() + 8;
  for (const std::uint32_t claimed : {static_cast<std::uint32_t>(e.entry.size() + 1), 1u << 31}) {
    std::string wrongSize = bytes;
    for (int i = 0; i < 4; ++i) wrongSize[sizeAt + i] = static_cast<char>((claimed >> (8 * i)) & 0xff);
    auto refused = decodeStoredEntry(wrongSize);
    EXPECT_TRUE(!refused && refused.status().isCorruption()) << "claimed " << claimed;
  }
  // A small entry is kept as it is.
  const StoredEntry small = entry(2);
  EXPECT_EQ(encodeStoredEntry(small).substr(encodeStoredEntry(small).size() - small.entry.size()), small.entry);
}

TEST(RocksDbJournal, ReopenedStoreServesLargeEntriesAsTheyWerePut) {
  testing::TempDir dir("canal-journal");
  const std::string path = (dir.path() / "store").string();
  std::vector<std::string> put;
  {
    auto store = openStore(path);
    for (int i = 0; i < 20; ++i) {
      StoredEntry e = entry(i, true);
      e.entry.clear();
      for (int row = 0; row < 10 * (i + 1); ++row) e.entry += "column value " + std::to_string(row * i) + ";";
      put.push_back(e.entry);
      ASSERT_TRUE(store->put(std::move(e)));
    }
  }
  auto store = openStore(path);
  auto batch = store->get(100, {});
  ASSERT_TRUE(batch);
  EXPECT_EQ(texts(*batch), put);
}

// Unacknowledged entries, the ack position and the resume mark come back when the store is
// opened again; acked entries do not.
TEST(RocksDbJournal, ReopenedStoreServesTheUnackedEntriesInOrder) {
  testing::TempDir dir("canal-journal");
  const std::string path = (dir.path() / "store").string();
  {
    auto store = openStore(path);
    for (int i = 0; i < 5; ++i) ASSERT_TRUE(store->put(entry(i, i == 1)));
    ASSERT_TRUE(store->markResume("after-4"));
    auto batch = store->get(2, {});
    ASSERT_EQ(batch->entries.size(), 2u);
    ASSERT_TRUE(store->ack(batch->end, batch->entries[1]->position));
    ASSERT_TRUE(store->get(2, {}));  // handed out, never acked
    ASSERT_TRUE(store->put(entry(5)));
  }
  auto store = openStore(path);
  ASSERT_TRUE(store->recoveredResume());
  EXPECT_EQ(store->recoveredResume()->sequence, 5u);
  EXPECT_EQ(store->recoveredResume()->data, "after-4");
  ASSERT_TRUE(store->ackPosition());
  EXPECT_EQ(store->ackPosition()->position, 100u);
  EXPECT_EQ(store->ackSequence(), 2u);
  EXPECT_EQ(store->putSequence(), 6u);
  auto batch = store->get(10, {});
  EXPECT_EQ(texts(*batch), (std::vector<std::string>{"entry-2", "entry-3", "entry-4", "entry-5"}));
  EXPECT_EQ(batch->start, 2u);

  // The producer resumes from its mark: entry 5 comes again and is not stored twice.
  store->rewind(store->recoveredResume()->sequence);
  ASSERT_TRUE(store->put(entry(5)));
  ASSERT_TRUE(store->put(entry(6)));
  EXPECT_EQ(store->putSequence(), 7u);
  EXPECT_EQ(texts(*store->get(10, {})), (std::vector<std::string>{"entry-6"}));
  ASSERT_TRUE(store->ack(7));
  store.reset();

  store = openStore(path);
  EXPECT_EQ(store->ackSequence(), 7u);
  EXPECT_EQ(store->putSequence(), 7u);
  EXPECT_TRUE(store->get(10, {})->entries.empty());
  ASSERT_TRUE(store->ackPosition()) << "an ack without a position keeps the previous one";
  EXPECT_EQ(store->ackPosition()->position, 100u);
}

// kill -9 right after the puts: the write-ahead log has them; the synced ack is there too.
TEST(RocksDbJournal, EntriesSurviveKillMinusNine) {
  testing::TempDir dir("canal-journal");
  const std::string path = (dir.path() / "store").string();
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    RecoveredStore recovered;
    auto journal = RocksDbJournal::open(path, recovered);
    if (!journal) _exit(2);
    EventStore store(StoreOptions{4096, 1024, BatchMode::kItemSize, false}, std::move(*journal), std::move(recovered));
    for (int i = 0; i < 1000; ++i) {
      if (!store.put(entry(i))) _exit(3);
      if (i % 10 == 9 && !store.markResume("after-" + std::to_string(i))) _exit(4);
    }
    auto batch = store.get(300, {});
    if (!batch || !store.ack(batch->end, batch->entries.back()->position)) _exit(5);
    kill(getpid(), SIGKILL);
    _exit(6);
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFSIGNALED(status)) << "child exit code " << WEXITSTATUS(status);
  auto store = openStore(path, 4096);
  EXPECT_EQ(store->ackSequence(), 300u);
  EXPECT_EQ(store->putSequence(), 1000u);
  EXPECT_EQ(store->recoveredResume()->data, "after-999");
  auto batch = store->get(1000, {});
  ASSERT_EQ(batch->entries.size(), 700u);
  for (std::size_t i = 0; i < batch->entries.size(); ++i) {
    ASSERT_EQ(batch->entries[i]->entry, "entry-" + std::to_string(300 + i));
  }
}

TEST(RocksDbJournal, AnUnusableDirectoryIsNamedInTheError) {
  testing::TempDir dir("canal-journal");
  const auto file = dir.path() / "not-a-dir";
  std::ofstream(file) << "x";
  RecoveredStore recovered;
  auto journal = RocksDbJournal::open((file / "store").string(), recovered);
  ASSERT_FALSE(journal);
  EXPECT_NE(journal.status().toString().find((file / "store").string()), std::string::npos)
      << journal.status().toString();
}

TEST(RocksDbJournal, DestroyRemovesTheStore) {
  testing::TempDir dir("canal-journal");
  const std::string path = (dir.path() / "store").string();
  {
    auto store = openStore(path);
    ASSERT_TRUE(store->put(entry(1)));
  }
  ASSERT_TRUE(RocksDbJournal::destroy(path));
  auto store = openStore(path);
  EXPECT_EQ(store->putSequence(), 0u);
  EXPECT_FALSE(store->recoveredResume());
}

}  // namespace
}  // namespace canal::store
