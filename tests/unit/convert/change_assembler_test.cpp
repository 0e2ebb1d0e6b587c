// The assembler on real binlogs: GTID-mode header fields (MySQL), the statement-context QUERY
// entries (ANNOTATE_ROWS, USER_VAR, INTVAR, RAND) and XA entries (MariaDB), as the server
// configures it.

#include "server/convert/binlog_changes.h"

#include <gtest/gtest.h>

#include <functional>

#include "canal/protocol/entry_protocol.pb.h"
#include "server/binlog/event_stream.h"
#include "server/convert/entry_encoder.h"
#include "server/convert/table_filter.h"
#include "tests/support/fixtures.h"

namespace canal::convert {
namespace {

std::vector<ChangeEntry> assemble(const std::string& relative, const std::function<void(ChangeAssembler&)>& configure) {
  const std::string data = testing::readFile(testing::fixtureDir() + "/" + relative);
  binlog::EventStream stream(data, relative);
  ChangeAssembler assembler(RenderOptions{});
  assembler.setTransactionEntries(true);
  configure(assembler);
  std::vector<ChangeEntry> entries;
  ChangeEntry out;
  binlog::RawEvent event;
  for (;;) {
    auto more = stream.next(event);
    EXPECT_TRUE(more.isOk()) << more.status().toString();
    if (!more.isOk() || !*more) break;
    const Status s = assembler.handleEach(event, stream.format(), "binlog.000001", stream.where(event.offset), out,
                                          [&] {
                                            entries.push_back(out);
                                            return Status::ok();
                                          });
    EXPECT_TRUE(s.isOk()) << s.toString();
  }
  return entries;
}

TEST(ChangeAssembler, MysqlGtidModeStampsTheExecutedSetAndTheTransactionsOwnGtid) {
  const std::string file = "mysql-8.0/mysql-enum-string-set.000001";
  const auto plain = assemble(file, [](ChangeAssembler&) {});
  const auto gtid = assemble(file, [](ChangeAssembler& a) { ASSERT_TRUE(a.setGtidMode("").isOk()); });
  ASSERT_EQ(plain.size(), gtid.size());
  int rowEntries = 0;
  for (std::size_t i = 0; i < gtid.size(); ++i) {
    EXPECT_TRUE(plain[i].gtid.empty() && plain[i].currentGtid.empty()) << "not in GTID mode";
    const ChangeEntry& e = gtid[i];
    // "uuid:gno"
    const std::size_t colon = e.currentGtid.find(':');
    ASSERT_EQ(colon, 36u) << e.currentGtid;
    const std::string gno = e.currentGtid.substr(colon + 1);
    ASSERT_FALSE(gno.empty());
    EXPECT_EQ(gno.find_first_not_of("0123456789"), std::string::npos) << e.currentGtid;
    // The dump started without a set: like Canal, everything up to the current one counts.
    EXPECT_EQ(e.gtid, e.currentGtid.substr(0, colon) + ":1-" + gno);
    EXPECT_FALSE(e.currentGtidSn.empty());
    EXPECT_FALSE(e.currentGtidLct.empty());
    if (!e.rows.empty()) ++rowEntries;
  }
  EXPECT_EQ(rowEntries, 3);

  // On the wire: Header.gtid, then the props in Canal's order.
  const ChangeEntry* rows = nullptr;
  for (const auto& e : gtid) {
    if (!e.rows.empty()) rows = &e;
  }
  ASSERT_NE(rows, nullptr);
  std::string bytes;
  EntryEncoder().encode(*rows, bytes);
  protocol::entry::Entry entry;
  ASSERT_TRUE(entry.ParseFromString(bytes));
  EXPECT_EQ(entry.header().gtid(), rows->gtid);
  ASSERT_EQ(entry.header().props_size(), 4);
  EXPECT_EQ(entry.header().props(0).key(), "curtGtid");
  EXPECT_EQ(entry.header().props(0).value(), rows->currentGtid);
  EXPECT_EQ(entry.header().props(1).key(), "curtGtidSn");
  EXPECT_EQ(entry.header().props(2).key(), "curtGtidLct");
  EXPECT_EQ(entry.header().props(3).key(), "rowsCount");

  // A start set that parses is the base; one that does not is refused.
  ChangeAssembler a(RenderOptions{});
  EXPECT_TRUE(a.setGtidMode("0-1-5, 1-2-7").isOk());
  EXPECT_FALSE(a.setGtidMode("0-1").isOk());
  EXPECT_FALSE(a.setGtidMode("not-a:gtid").isOk());
}

TEST(ChangeAssembler, StatementContextAndXaEntriesOfAMariaDbBinlog) {
  const std::string file = "mariadb-10.11-generated/crc32_full/mariadb-bin.000002";
  const auto without = assemble(file, [](ChangeAssembler&) {});
  const auto with = assemble(file, [](ChangeAssembler& a) { a.setContextEntries(true); });
  int annotate = 0, userVar = 0, intvar = 0, rand = 0, xa = 0;
  for (const ChangeEntry& e : with) {
    if (!e.props.empty()) ++xa;
    if (e.kind != EntryKind::kRowData || e.isDdlSet) continue;
    if (e.type == ChangeType::kXaCommit || e.type == ChangeType::kXaRollback) continue;
    EXPECT_EQ(e.type, ChangeType::kQuery);
    EXPECT_EQ(e.schema, std::optional<std::string>(""));
    EXPECT_EQ(e.table, std::optional<std::string>(""));
    if (e.sql.starts_with("SET @")) ++userVar;
    else if (e.sql.starts_with("SET INSERT_ID = ")) ++intvar;
    else if (e.sql.starts_with("SET SESSION rand_seed1 = ")) ++rand;
    else ++annotate;
  }
  // The README's event counts: 35 ANNOTATE_ROWS, 1 USER_VAR, 2 INTVAR, 1 RAND.
  EXPECT_EQ(annotate, 35);
  EXPECT_EQ(userVar, 1);
  EXPECT_EQ(intvar, 2);
  EXPECT_EQ(rand, 1);
  EXPECT_EQ(with.size(), without.size() + 39);
  EXPECT_GE(xa, 1) << "the XA transaction's XA END / XA COMMIT carry XA_TYPE and XA_XID";
  for (const ChangeEntry& e : with) {
    if (e.props.empty()) continue;
    ASSERT_EQ(e.props.size(), 2u);
    EXPECT_EQ(e.props[0].first, "XA_TYPE");
    EXPECT_EQ(e.props[1].first, "XA_XID");
    if (e.kind == EntryKind::kTransactionEnd) {
      EXPECT_EQ(e.props[0].second, "XA END");
      EXPECT_EQ(e.transactionId, "0");
    }
  }
}

// One-row transactions repeat their TABLE_MAP byte for byte and the assembler reuses what it made
// of it; a table filter set in the middle of the stream still applies from then on.
TEST(ChangeAssembler, AFilterSetMidStreamAppliesToRepeatedTableMaps) {
  const std::string file = "mariadb-10.11-generated/crc32_full/mariadb-bin.000002";
  const std::string data = testing::readFile(testing::fixtureDir() + "/" + file);
  const auto rowEntries = [&](std::size_t filterAfter) {
    binlog::EventStream stream(data, file);
    ChangeAssembler assembler(RenderOptions{});
    auto none = TableFilter::create(TableFilterSpec{"nothing\\.matches", "", "", ""});
    EXPECT_TRUE(none.isOk());
    std::size_t before = 0, after = 0, events = 0;
    ChangeEntry out;
    binlog::RawEvent event;
    for (;;) {
      auto more = stream.next(event);
      if (!more.isOk() || !*more) break;
      if (++events == filterAfter) assembler.setTableFilter(*none);
      const Status s = assembler.handleEach(event, stream.format(), "binlog.000001", stream.where(event.offset), out, [&] {
        if (out.kind == EntryKind::kRowData && out.columns) ++(events < filterAfter ? before : after);
        return Status::ok();
      });
      EXPECT_TRUE(s.isOk()) << s.toString();
    }
    return std::make_pair(before, after);
  };
  const auto all = rowEntries(0);
  ASSERT_GT(all.first + all.second, 10u);
  const auto split = rowEntries(200);
  EXPECT_GT(split.first, 0u) << "rows before the filter";
  EXPECT_EQ(split.second, 0u) << "rows of tables whose TABLE_MAP was seen before the filter";
}

}  // namespace
}  // namespace canal::convert
