#pragma once

// The snapshot tests' fixture: a destination on a real MariaDB with a client subscribed, a
// snapshot runner beside it, and how a consumer rebuilds a table from the entries it reads.

#include <gtest/gtest.h>

#include <atomic>
#include <functional>
#include <map>
#include <set>
#include <random>
#include <thread>

#include "canal/protocol/entry_protocol.pb.h"
#include "server/app/destination_parts.h"
#include "server/instance/destination.h"
#include "server/snapshot/snapshot_runner.h"
#include "tests/support/mariadb_server.h"
#include "tests/support/mariadb_test.h"
#include "tests/support/process.h"

namespace canal::snapshot::test {

namespace eb = canal::protocol::entry;
using namespace std::chrono_literals;

inline bool isSnapshot(const eb::Entry& e) {
  for (const auto& p : e.header().props()) {
    if (p.key() == "snapshot") return p.value() == "true";
  }
  return false;
}

class SnapshotTest : public canal::testing::MariaDbTest {
 protected:
  // `watermarkTable`: canal.instance.snapshot.watermark.table.
  void start(const std::string& watermarkTable = "", const convert::RenderOptions& render = {}) {
    instance::DestinationOptions o;
    o.name = "example";
    o.master = replicaLogin();
    o.pump.render = render;
    o.snapshotWatermarkTable = watermarkTable;
    o.dump.heartbeatSeconds = 1;
    auto created = app::makeDestination(o);
    ASSERT_TRUE(created.isOk()) << created.status().toString();
    d_ = std::move(*created);
    d_->start();
    ASSERT_TRUE(testing::waitUntil(10s, [&] { return d_->following(); }));
    ASSERT_TRUE(d_->clients().subscribe(1001, "").isOk());
    runner_ = std::make_unique<SnapshotRunner>("example", replicaLogin(), d_->snapshots(), o.pump.render, watermarkTable);
  }

  // Reads and acks one batch; false when it came empty.
  bool drain(const std::function<void(const eb::Entry&)>& visit) {
    auto batch = d_->clients().get(1001, 1000, store::GetWait{store::GetWait::Kind::kFor, 100ms});
    EXPECT_TRUE(batch.isOk()) << batch.status().toString();
    if (!batch.isOk() || batch->id == -1) return false;
    for (const std::string& bytes : batch->entries) {
      eb::Entry e;
      EXPECT_TRUE(e.ParseFromString(bytes));
      visit(e);
    }
    EXPECT_TRUE(d_->clients().ack(1001, batch->id).isOk());
    return true;
  }

  // Creates s.marker and drains, passing every entry to `visit`, until its DDL arrives: every
  // change made before is then read.
  void drainThroughMarker(const std::function<void(const eb::Entry&)>& visit) {
    ASSERT_TRUE(db_->execute("CREATE TABLE s.marker (id INT)").isOk());
    bool marker = false;
    const auto deadline = std::chrono::steady_clock::now() + 60s;
    while (!marker && std::chrono::steady_clock::now() < deadline) {
      drain([&](const eb::Entry& e) {
        if (e.header().tablename() == "marker") marker = true;
        visit(e);
      });
    }
    ASSERT_TRUE(marker);
  }

  void TearDown() override {
    runner_.reset();
    if (d_) d_->stop();
  }

  std::unique_ptr<instance::Destination> d_;
  std::unique_ptr<SnapshotRunner> runner_;

  // With binlog_row_metadata = `metadata`, snapshots a table of every column type and copies it
  // with INSERT ... SELECT; the two renderings of each row must be the same.
  void typesCase(const std::string& metadata);
  // Snapshots 200,000 rows while writers change them; the consumer must end equal to the table.
  // `seen` collects the tables whose entries reached the consumer; `chunks` the snapshot's chunks.
  void writersCase(const std::string& watermarkTable, std::set<std::string>& seen, std::uint64_t& chunks);
};

// The table as a consumer rebuilds it: key -> the row's values (NULL as "\\N").
using Rows = std::map<std::string, std::vector<std::string>>;

inline std::vector<std::string> valuesOf(const google::protobuf::RepeatedPtrField<eb::Column>& columns) {
  std::vector<std::string> out;
  for (const auto& c : columns) out.push_back(c.isnull() ? "\\N" : c.value());
  return out;
}

// What each key went through, for failure messages.
inline std::map<std::string, std::string> traceOf;
inline void apply(const eb::Entry& e, const std::string& table, Rows& rows, std::size_t& snapshotRows) {
  if (e.entrytype() != eb::ROWDATA || e.header().tablename() != table) return;
  eb::RowChange rc;
  ASSERT_TRUE(rc.ParseFromString(e.storevalue()));
  if (rc.isddl()) return;
  for (const auto& row : rc.rowdatas()) {
    const std::string k = row.aftercolumns_size() ? row.aftercolumns(0).value() : row.beforecolumns(0).value();
    const std::string kb = row.beforecolumns_size() ? row.beforecolumns(0).value() : k;
    const std::string t = std::to_string(rc.eventtype()) + (isSnapshot(e) ? "S" : "") + "@" + std::to_string(e.header().logfileoffset()) + " ";
    traceOf[k] += t;
    if (kb != k) traceOf[kb] += t;
    if (rc.eventtype() == eb::DELETE || rc.eventtype() == eb::UPDATE) rows.erase(row.beforecolumns(0).value());
    if (rc.eventtype() == eb::INSERT || rc.eventtype() == eb::UPDATE) {
      rows[row.aftercolumns(0).value()] = valuesOf(row.aftercolumns());
    }
    if (isSnapshot(e)) ++snapshotRows;
  }
}

}  // namespace canal::snapshot::test
