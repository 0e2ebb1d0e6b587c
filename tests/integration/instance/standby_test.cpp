// A destination with a standby (canal.instance.standby.address): after the primary dies and the
// destination reads the standby, the cursors it records name the standby (their sourceAddress),
// and a destination started again from them reads the standby, where those positions are, even
// when the old primary is back.

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "canal/protocol/entry_protocol.pb.h"
#include "server/app/destination_parts.h"
#include "server/instance/destination.h"
#include "server/meta/meta_dat.h"
#include "server/meta/meta_store.h"
#include "tests/support/mariadb_server.h"
#include "tests/support/mariadb_test.h"
#include "tests/support/process.h"
#include "tests/support/temp_dir.h"

namespace canal::instance {
namespace {

namespace eb = canal::protocol::entry;
using testing::MariaDbServer;
using namespace std::chrono_literals;

class StandbyTest : public canal::testing::MariaDbTest {
 protected:
  void SetUp() override {
    MariaDbTest::SetUp();
    if (HasFatalFailure()) return;
    testing::MariaDbOptions options;
    options.serverId = 2;
    options.extraArgs = {"--log-slave-updates"};
    auto standby = MariaDbServer::start(options);
    ASSERT_TRUE(standby.isOk()) << standby.status().toString();
    standby_ = std::move(*standby);
    // The primary's binlog is numbered past the standby's: one server's positions read on the
    // other are wrong, not merely refused.
    for (int i = 0; i < 3; ++i) ASSERT_TRUE(db_->execute("FLUSH BINARY LOGS").isOk());
    ASSERT_TRUE(standby_->replicateFrom(*db_).isOk());
    ASSERT_TRUE(db_->execute("CREATE DATABASE s").isOk());
    ASSERT_TRUE(db_->execute("CREATE TABLE s.t (id INT PRIMARY KEY, name VARCHAR(16))").isOk());
  }
  void TearDown() override {
    if (d_) d_->stop();
  }

  void start() {
    DestinationOptions o;
    o.name = "example";
    o.master = replicaLogin();
    mysql::ConnectOptions standby = o.master;
    standby.port = standby_->port();
    o.standby = standby;
    o.detecting = replica::DetectingOptions{"select 1", 200ms, 2};
    o.dump.heartbeatSeconds = 1;
    auto created = app::makeDestination(o, std::make_unique<meta::FileMetaStore>(
                                               "example", metaPath(), std::chrono::milliseconds(0)));
    ASSERT_TRUE(created.isOk()) << created.status().toString();
    d_ = std::move(*created);
    d_->start();
    // Started without a cursor, it reads from the primary's end as of its first run: the rows
    // the test writes come after that.
    ASSERT_TRUE(testing::waitUntil(20s, [&] { return d_->following(); }));
    ASSERT_TRUE(d_->clients().subscribe(1001, "").isOk());
  }
  std::string metaPath() const { return (dir_.path() / "meta.dat").string(); }

  // The names of the rows inserted into s.t, read and acked until `last` arrives.
  std::vector<std::string> namesThrough(const std::string& last) {
    std::vector<std::string> names;
    const auto deadline = std::chrono::steady_clock::now() + 60s;
    while (std::chrono::steady_clock::now() < deadline) {
      auto batch = d_->clients().get(1001, 100, store::GetWait{store::GetWait::Kind::kFor, 200ms});
      EXPECT_TRUE(batch.isOk()) << batch.status().toString();
      if (!batch.isOk()) break;
      for (const std::string& bytes : batch->entries) {
        eb::Entry e;
        EXPECT_TRUE(e.ParseFromString(bytes));
        if (e.entrytype() != eb::ROWDATA || e.header().tablename() != "t") continue;
        eb::RowChange rc;
        EXPECT_TRUE(rc.ParseFromString(e.storevalue()));
        for (const auto& row : rc.rowdatas()) names.push_back(row.aftercolumns(1).value());
      }
      if (batch->id != -1) {
        EXPECT_TRUE(d_->clients().ack(1001, batch->id).isOk());
      }
      if (!names.empty() && names.back() == last) return names;
    }
    ADD_FAILURE() << "row " << last << " never arrived; reading " << d_->stats().reading << ", stream error "
                  << d_->streamError().toString();
    return names;
  }

  // host:port of the client cursor's sourceAddress in meta.dat.
  std::string recordedSource() {
    auto stored = meta::FileMetaStore("example", metaPath(), std::chrono::milliseconds(0)).load();
    if (!stored.isOk() || stored->clients.empty() || !stored->clients[0].cursor) return "no cursor";
    const auto& c = *stored->clients[0].cursor;
    return c.sourceHost + ":" + std::to_string(c.sourcePort);
  }

  testing::TempDir dir_{"canal-standby"};
  std::unique_ptr<MariaDbServer> standby_;
  std::unique_ptr<Destination> d_;
};

TEST_F(StandbyTest, ARestartAfterTheSwitchReadsTheStandbyEvenWithThePrimaryBack) {
  start();
  ASSERT_FALSE(HasFatalFailure());
  const std::string primary = db_->host() + ":" + std::to_string(db_->port());
  const std::string standby = db_->host() + ":" + std::to_string(standby_->port());
  ASSERT_TRUE(db_->execute("INSERT INTO s.t VALUES (1, 'a1'), (2, 'a2')").isOk());
  EXPECT_EQ(namesThrough("a2"), (std::vector<std::string>{"a1", "a2"}));
  EXPECT_EQ(recordedSource(), primary);

  ASSERT_TRUE(standby_->waitCaughtUp(*db_).isOk());
  db_->kill();
  ASSERT_TRUE(standby_->execute("STOP SLAVE").isOk());
  ASSERT_TRUE(standby_->execute("INSERT INTO s.t VALUES (3, 'b3')").isOk());
  EXPECT_EQ(namesThrough("b3"), (std::vector<std::string>{"b3"}));
  EXPECT_EQ(d_->stats().reading, standby);
  EXPECT_EQ(recordedSource(), standby) << "the acked position is in the standby's binlog";

  // The old primary comes back with its own binlog; the destination is started again.
  d_->stop();
  d_.reset();
  ASSERT_TRUE(db_->restart().isOk());
  ASSERT_TRUE(db_->execute("INSERT INTO s.t VALUES (90, 'stale')").isOk());
  start();
  ASSERT_FALSE(HasFatalFailure());
  ASSERT_TRUE(standby_->execute("INSERT INTO s.t VALUES (4, 'b4'), (5, 'b5')").isOk());
  EXPECT_EQ(namesThrough("b5"), (std::vector<std::string>{"b4", "b5"}))
      << "the standby's rows after the acked one, once, and nothing of the old primary";
  EXPECT_EQ(d_->stats().reading, standby);
  EXPECT_EQ(recordedSource(), standby);
}

}  // namespace
}  // namespace canal::instance
