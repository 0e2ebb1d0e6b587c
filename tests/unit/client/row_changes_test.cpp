// Message::rowChanges and rowChangeViews: the ROWDATA entries of a batch with their RowChange,
// read into one reused object; an entry that does not parse ends the loop and is named.

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "canal/client/canal_connector.h"

namespace canal::client {
namespace {

namespace eb = canal::protocol::entry;

std::string entry(eb::EntryType type, const std::string& table, std::int64_t offset, int rows, bool corrupt = false) {
  eb::Entry e;
  e.set_entrytype(type);
  e.mutable_header()->set_schemaname("s");
  e.mutable_header()->set_tablename(table);
  e.mutable_header()->set_logfilename("mysql-bin.000001");
  e.mutable_header()->set_logfileoffset(offset);
  if (type == eb::ROWDATA) {
    eb::RowChange change;
    change.set_eventtype(eb::INSERT);
    for (int r = 0; r < rows; ++r) {
      auto* c = change.add_rowdatas()->add_aftercolumns();
      c->set_name("id");
      c->set_value(table + std::to_string(r));
    }
    e.set_storevalue(corrupt ? std::string("\xff\xff\xff", 3) : change.SerializeAsString());
  }
  return e.SerializeAsString();
}

TEST(RowChangesTest, YieldsEachRowDataEntryWithItsRowsThroughOneReusedRowChange) {
  const Message m(7, {entry(eb::TRANSACTIONBEGIN, "", 4, 0), entry(eb::ROWDATA, "a", 100, 2),
                      entry(eb::ROWDATA, "b", 200, 1), entry(eb::TRANSACTIONEND, "", 300, 0)});
  std::vector<std::string> seen;
  const eb::RowChange* object = nullptr;
  auto changes = m.rowChanges();
  for (const auto& [e, change] : changes) {
    if (object) {
      EXPECT_EQ(object, &change) << "one RowChange, reused";
    }
    object = &change;
    for (const auto& row : change.rowdatas()) seen.push_back(e.header().tablename() + ":" + row.aftercolumns(0).value());
  }
  EXPECT_TRUE(changes.ok());
  EXPECT_EQ(changes.error(), "");
  EXPECT_EQ(seen, (std::vector<std::string>{"a:a0", "a:a1", "b:b0"}));

  int none = 0;
  for (const auto& item : Message(8, {}).rowChanges()) none += item.change.rowdatas_size();
  EXPECT_EQ(none, 0);
  // The range keeps the batch's entries: a temporary Message may go (ASan checks it).
  int rows = 0;
  for (const auto& item : Message(m).rowChanges()) rows += item.change.rowdatas_size();
  EXPECT_EQ(rows, 3);
}

TEST(RowChangesTest, AnEntryThatDoesNotParseEndsTheLoopAndIsNamed) {
  const Message m(7, {entry(eb::ROWDATA, "a", 100, 1), entry(eb::ROWDATA, "bad", 250, 1, true),
                      entry(eb::ROWDATA, "c", 300, 1)});
  std::vector<std::string> tables;
  auto changes = m.rowChanges();
  for (const auto& [e, change] : changes) tables.push_back(e.header().tablename());
  EXPECT_EQ(tables, (std::vector<std::string>{"a"}));
  EXPECT_FALSE(changes.ok());
  EXPECT_EQ(changes.error(), "the RowChange of the entry at mysql-bin.000001:250 (s.bad) does not parse");
}

TEST(RowChangesTest, ViewsYieldTheSameRowsReadInPlaceAndNameTheEntryThatDoesNotParse) {
  const Message m(9, {entry(eb::TRANSACTIONBEGIN, "", 50, 0), entry(eb::ROWDATA, "a", 100, 2),
                      entry(eb::ROWDATA, "b", 200, 1), entry(eb::ROWDATA, "bad", 250, 1, true),
                      entry(eb::ROWDATA, "c", 300, 1)});
  std::vector<std::string> seen;
  const RowChangeReader* reader = nullptr;
  auto changes = m.rowChangeViews();
  for (const auto& [e, change] : changes) {
    if (reader) {
      EXPECT_EQ(reader, &change) << "one reader, reused";
    }
    reader = &change;
    EXPECT_EQ(change.eventType(), eb::INSERT);
    for (std::size_t r = 0; r < change.rows(); ++r) {
      const ColumnView* id = change.after(r).find("id");
      ASSERT_NE(id, nullptr);
      seen.push_back(e.header().tablename() + ":" + std::string(id->value));
    }
  }
  EXPECT_EQ(seen, (std::vector<std::string>{"a:a0", "a:a1", "b:b0"}));
  EXPECT_FALSE(changes.ok());
  EXPECT_EQ(changes.error(), "the RowChange of the entry at mysql-bin.000001:250 (s.bad) does not parse");

  // The range keeps the batch: the views stay valid after a temporary Message (ASan checks it).
  std::size_t rows = 0;
  for (const auto& item : Message(m).rowChangeViews()) {
    rows += item.change.rows();
    if (item.change.rows() > 0) {
      EXPECT_FALSE(item.change.after(0)[0].value.empty());
    }
  }
  EXPECT_EQ(rows, 3u);
}

}  // namespace
}  // namespace canal::client
