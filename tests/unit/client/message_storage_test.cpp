#include "client-sdk/src/message_storage.h"

#include <gtest/gtest.h>

#include <thread>

namespace canal::client {
namespace {

namespace eb = canal::protocol::entry;

std::string entry(const std::string& table, std::size_t valueBytes) {
  eb::Entry e;
  e.mutable_header()->set_tablename(table);
  e.set_entrytype(eb::ROWDATA);
  e.set_storevalue(std::string(valueBytes, 'v'));
  return e.SerializeAsString();
}

Message fill(MessagePool& pool, std::int64_t id, const std::vector<std::string>& raw) {
  auto storage = pool.take();
  storage->reset();
  for (const std::string& r : raw) storage->add(r);
  storage->finish();
  return messageIn(id, std::move(storage));
}

TEST(MessageStorageTest, ABatchLetGoIsFilledAgainInPlaceWithItsCapacity) {
  auto pool = MessagePool::create(2);
  {
    const Message m = fill(*pool, 1, {entry("a", 40000), entry("b", 40000)});
    ASSERT_EQ(m.entries().size(), 2u);
  }
  // Strings keep the capacity of the larger batch before: what a fresh one would not have.
  const Message next = fill(*pool, 2, {entry("c", 3000), entry("d", 3000)});
  EXPECT_EQ(next.id(), 2);
  ASSERT_EQ(next.rawEntries().size(), 2u);
  EXPECT_GE(next.rawEntries()[1].capacity(), 40000u) << "the storage given back is taken again";
  ASSERT_EQ(next.entries().size(), 2u);
  EXPECT_EQ(next.entries()[0].header().tablename(), "c") << "parsed afresh, not the old batch";
  EXPECT_EQ(next.entries()[1].header().tablename(), "d");
  EXPECT_EQ(next.entries()[1].storevalue().size(), 3000u);
  EXPECT_GE(next.entries()[1].storevalue().capacity(), 40000u) << "the parsed entry reuses its string";
}

TEST(MessageStorageTest, CopiesShareTheBatchAndItComesBackWhenTheLastGoes) {
  auto pool = MessagePool::create(1);
  std::optional<Message> copy;
  const std::string* raw = nullptr;
  {
    const Message m = fill(*pool, 1, {entry("a", 10)});
    raw = m.rawEntries().data();
    copy = m;
  }
  // Still held by the copy: a new batch gets new storage.
  {
    const Message m = fill(*pool, 2, {entry("b", 50000)});
    EXPECT_NE(m.rawEntries().data(), raw);
  }
  EXPECT_EQ(copy->entries()[0].header().tablename(), "a");
  copy.reset();
  // The pool keeps one: the first given back (the second batch's), not the copy's.
  const Message m = fill(*pool, 3, {entry("c", 10)});
  EXPECT_GE(m.rawEntries()[0].capacity(), 50000u);
}

TEST(MessageStorageTest, ABatchMayOutliveItsPoolAndCopiesParseItOnceFromSeveralThreads) {
  std::optional<Message> m;
  {
    auto pool = MessagePool::create(2);
    std::vector<std::string> raw;
    for (int i = 0; i < 200; ++i) raw.push_back(entry("t" + std::to_string(i), 100));
    raw.push_back("\xff");  // not an Entry
    m = fill(*pool, 5, raw);
  }
  std::vector<std::thread> readers;
  std::vector<std::size_t> unparsed(4);
  for (int t = 0; t < 4; ++t) {
    readers.emplace_back([copy = *m, &unparsed, t] { unparsed[t] = copy.unparsedEntries(); });
  }
  for (auto& r : readers) r.join();
  EXPECT_EQ(unparsed, (std::vector<std::size_t>{1, 1, 1, 1}));
  EXPECT_EQ(m->entries()[199].header().tablename(), "t199");
  EXPECT_FALSE(m->entries()[200].has_header()) << "an entry that does not parse is left empty";
}

}  // namespace
}  // namespace canal::client
