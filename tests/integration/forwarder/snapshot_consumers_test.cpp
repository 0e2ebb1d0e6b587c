// A snapshot of a composite-key table taken while a writer updates, deletes, inserts and moves
// primary keys, followed at the same time by the three consumers a user runs: canal-forwarder
// (Redis hashes and Elasticsearch documents), canal-tail (FlatMessage lines) and an SDK consumer
// written as README shows it (default options: the batch sequence check on). Canal serves one
// consumer per destination, so each follows a destination of its own on the same primary. Each
// applies what it gets in order and must end equal to the table, with no error on the way.

#include <nlohmann/json.hpp>
#include <cstdlib>
#include <random>
#include <sstream>

#include "forwarder_fixture.h"
#include "tests/support/background_writer.h"
#include "tests/support/http_get.h"
#include "tests/support/redis_server.h"

namespace canal::forwarder {
namespace {

using Json = nlohmann::json;
using Rows = std::map<std::string, std::string>;  // "region:n" -> "name|price"

// Rows of each region; CANAL_SNAPSHOT_CONSUMERS_ROWS (rows per region) runs it larger by hand.
const int kRowsPerRegion = [] {
  const char* rows = std::getenv("CANAL_SNAPSHOT_CONSUMERS_ROWS");
  return rows && std::atoi(rows) > 0 ? std::atoi(rows) : 2000;
}();
// Waits grow with the table: a second more per 1,000 of its rows.
const std::chrono::seconds kWait(60 + 3 * kRowsPerRegion / 1000);
const char* const kRegions[] = {"eu", "us", "ap"};

// How the snapshot of s.pair starts in each destination the consumers follow.
enum class Start { kOnDemand, kInitial };

class SnapshotConsumersTest : public ForwarderTest {
 protected:
  std::string serverProperties() const override {
    return "canal.admin.user = admin\ncanal.admin.passwd = 4ACFE3202A5FF5CF467898FC58AAB1D615029441\n";  // "admin"
  }
  void prepareServer(const std::filesystem::path& conf) override {
    for (const char* name : {"tail", "sdk"}) {
      std::filesystem::create_directories(conf / name);
      std::filesystem::copy_file(conf / "example" / "instance.properties", conf / name / "instance.properties");
    }
    std::ifstream in(conf / "canal.properties");
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const std::string from = "canal.destinations = example";
    const auto at = text.find(from);
    ASSERT_NE(at, std::string::npos);
    text.replace(at, from.size(), "canal.destinations = example,tail,sdk");
    std::ofstream(conf / "canal.properties") << text;
  }

  void SetUp() override {
    ForwarderTest::SetUp();
    if (HasFatalFailure()) return;
    ASSERT_TRUE(db_->execute("CREATE TABLE s.pair (region VARCHAR(8), n INT, name VARCHAR(32), price INT, "
                             "PRIMARY KEY (region, n))"));
    for (const char* region : kRegions) {
      std::string values;
      for (int n = 1; n <= kRowsPerRegion; ++n) {
        values += (n > 1 ? ",('" : "('") + std::string(region) + "'," + std::to_string(n) + ",'r" + std::to_string(n) +
                  "'," + std::to_string(n) + ")";
      }
      ASSERT_TRUE(db_->execute("INSERT INTO s.pair VALUES " + values));
    }
    auto redis = testing::RedisServer::start("pw");
    ASSERT_TRUE(redis.isOk()) << redis.status().toString();
    redis_ = std::move(*redis);
    ASSERT_TRUE(es_.start());
  }

  ForwarderConfig config() const { return redisAndElasticsearch(redis_->port(), es_.url(), "s.pair", "pairs"); }

  Rows table() {
    Rows rows;
    auto result = db_->query("SELECT region, n, name, price FROM s.pair");
    EXPECT_TRUE(result.isOk());
    if (result.isOk()) {
      for (const auto& r : *result) rows[*r[0] + ":" + *r[1]] = *r[2] + "|" + *r[3];
    }
    return rows;
  }
  Rows redisRows() {
    Rows rows;
    testing::RedisClient redis(*redis_);
    const auto keys = redis.keys("s:pair:*");
    if (!keys) return rows;
    for (const std::string& key : *keys) {
      auto hash = redis.hash(key);
      if (hash) rows[key.substr(7)] = (*hash)["name"] + "|" + (*hash)["price"];
    }
    return rows;
  }
  Rows indexedRows() {
    Rows rows;
    for (const auto& [id, document] : es_.documents("pairs")) {
      const Json source = Json::parse(document.source, nullptr, false);
      if (!source.is_object()) continue;
      const auto text = [&](const char* field) {
        const Json& v = source.contains(field) ? source[field] : Json();
        return v.is_string() ? v.get<std::string>() : v.dump();
      };
      rows[text("region") + ":" + text("n")] = text("name") + "|" + text("price");
    }
    return rows;
  }

  void requestSnapshot(const std::string& destination) {
    const auto r = testing::httpRequest("POST", snapshotsUrl(destination), R"({"tables": ["s.pair"], "chunkSize": 500})",
                                        "admin", "admin");
    ASSERT_EQ(r.status, 202) << destination << ": " << r.body;
  }
  std::string snapshotState(const std::string& destination) {
    const auto r = testing::httpRequest("GET", snapshotsUrl(destination), "", "admin", "admin");
    const Json j = Json::parse(r.body, nullptr, false);
    return r.status == 200 && j.is_object() && j["state"].is_string() ? j["state"].get<std::string>() : "";
  }
  std::string snapshotsUrl(const std::string& destination) const {
    return "http://127.0.0.1:" + std::to_string(server_->metricsPort()) + "/destinations/" + destination + "/snapshots";
  }

  // The forwarder, canal-tail and an SDK consumer follow the snapshot while a writer changes the
  // rows; then each ends equal to the table.
  void followSnapshotUnderAWriter(Start how);

  std::unique_ptr<testing::RedisServer> redis_;
  testing::ElasticsearchServer es_;
};

// The rows canal-tail's FlatMessage lines leave when applied in order; `errors` receives what
// canal-tail said on stderr besides whom it follows and its progress lines.
Rows applyTailLines(const std::string& text, std::string& errors) {
  Rows rows;
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.empty()) continue;
    const Json m = Json::parse(line, nullptr, false);
    if (!m.is_object()) {
      const bool progress = line.rfind("canal-tail: following ", 0) == 0 ||
                            (line.rfind("canal-tail: ", 0) == 0 && line.find(" entries, ") != std::string::npos);
      if (!progress) errors += line + "\n";
      continue;
    }
    if (m.value("table", "") != "pair" || !m["data"].is_array()) continue;
    const std::string type = m.value("type", "");
    for (std::size_t i = 0; i < m["data"].size(); ++i) {
      const Json& row = m["data"][i];
      const Json old = m["old"].is_array() && i < m["old"].size() ? m["old"][i] : Json::object();
      const auto field = [&](const Json& image, const char* name) { return image[name].get<std::string>(); };
      const std::string key = field(row, "region") + ":" + field(row, "n");
      if (type == "DELETE") {
        rows.erase(key);
      } else if (type == "INSERT" || type == "UPDATE") {
        if (type == "UPDATE") {
          const std::string region = old.contains("region") ? field(old, "region") : field(row, "region");
          const std::string n = old.contains("n") ? field(old, "n") : field(row, "n");
          rows.erase(region + ":" + n);
        }
        rows[key] = field(row, "name") + "|" + field(row, "price");
      }
    }
  }
  return rows;
}

// A consumer as README writes it: getWithoutAck, rowChangeViews, ack; every option at its
// default. Applies each row in order; any status that is not OK is kept as an error.
class SdkConsumer {
 public:
  explicit SdkConsumer(const std::string& address)
      : thread_([this, address] {
          auto connector = client::newSingleConnector(address, "sdk", "", "");
          if (auto s = connector->connect(); !s) return fail(s.toString());
          if (auto s = connector->subscribe(); !s) return fail(s.toString());
          while (running_) {
            auto message = connector->getWithoutAck(1000, std::chrono::milliseconds(200));
            if (!message) return fail(message.status().toString());
            if (message->empty()) continue;
            Rows applied;
            {
              std::lock_guard<std::mutex> lock(mutex_);
              applied = rows_;
            }
            auto changes = message->rowChangeViews();
            for (const auto& [entry, change] : changes) {
              if (change.isDdl() || entry.header().tablename() != "pair") continue;
              const auto type = static_cast<eb::EventType>(change.eventType());
              for (std::size_t r = 0; r < change.rows(); ++r) {
                if (type == eb::DELETE || type == eb::UPDATE) applied.erase(keyOf(change.before(r)));
                if (type == eb::INSERT || type == eb::UPDATE) applied[keyOf(change.after(r))] = valueOf(change.after(r));
              }
            }
            if (!changes.ok()) return fail(changes.error());
            if (auto s = connector->ack(message->id()); !s) return fail(s.toString());
            std::lock_guard<std::mutex> lock(mutex_);
            rows_ = std::move(applied);
          }
        }) {}
  ~SdkConsumer() {
    running_ = false;
    thread_.join();
  }
  Rows rows() {
    std::lock_guard<std::mutex> lock(mutex_);
    return rows_;
  }
  std::string error() {
    std::lock_guard<std::mutex> lock(mutex_);
    return error_;
  }

 private:
  template <typename Columns>
  static std::string column(const Columns& columns, std::string_view name) {
    for (const auto& c : columns) {
      if (c.name == name) return std::string(c.value);
    }
    return "?";
  }
  template <typename Columns>
  static std::string keyOf(const Columns& columns) {
    return column(columns, "region") + ":" + column(columns, "n");
  }
  template <typename Columns>
  static std::string valueOf(const Columns& columns) {
    return column(columns, "name") + "|" + column(columns, "price");
  }
  void fail(const std::string& what) {
    std::lock_guard<std::mutex> lock(mutex_);
    error_ = what;
  }

  std::mutex mutex_;
  Rows rows_;
  std::string error_;
  std::atomic<bool> running_{true};
  std::thread thread_;
};

void SnapshotConsumersTest::followSnapshotUnderAWriter(Start how) {
  testing::BackgroundWriter writer(*db_, 37, [](std::mt19937& random) {
    const std::string region = kRegions[random() % 3];
    const int n = 1 + static_cast<int>(random() % (kRowsPerRegion + 200));
    const std::string where = " WHERE region = '" + region + "' AND n = " + std::to_string(n);
    switch (random() % 5) {
      case 0: return "DELETE FROM s.pair" + where;
      case 1:  // the key moves, within the region or to another one
        return "UPDATE IGNORE s.pair SET region = '" + std::string(kRegions[random() % 3]) + "', n = n + " +
               std::to_string(1 + random() % 300) + where;
      case 2:
        return "INSERT INTO s.pair VALUES ('" + region + "', " + std::to_string(n) +
               ", 'w', 1) ON DUPLICATE KEY UPDATE name = 'w2', price = price + 1";
      default: return "UPDATE s.pair SET price = price + 1, name = CONCAT('u', n)" + where;
    }
  });
  if (how == Start::kInitial) {
    // A restart in memory mode keeps no position: each destination begins with its initial
    // snapshot, paced to last about three seconds under the writer.
    server_->stop();
    for (const char* destination : {"example", "tail", "sdk"}) {
      std::ofstream(server_->root() / "conf" / destination / "instance.properties", std::ios::app)
          << "\ncanal.instance.snapshot.mode = initial\ncanal.instance.snapshot.tables = s\\.pair\n"
          << "canal.instance.snapshot.chunk.size = 500\ncanal.instance.snapshot.rows.per.second = " << kRowsPerRegion << "\n";
    }
    ASSERT_TRUE(server_->start());
    waitUntilServing();
    if (HasFatalFailure()) return;
  }
  startForwarder(config());
  testing::ChildProcess tail;
  const std::string tailOutput = (dir_->path() / "tail.out").string();
  ASSERT_TRUE(tail.start({CANAL_TAIL_BINARY, "--address", server_->address(), "--destination", "tail"}, tailOutput));
  SdkConsumer sdk(server_->address());

  if (how == Start::kOnDemand) {
    for (const char* destination : {"example", "tail", "sdk"}) requestSnapshot(destination);
  }
  const bool done = testing::waitUntil(kWait + std::chrono::seconds(30), [&] {
    for (const char* destination : {"example", "tail", "sdk"}) {
      if (snapshotState(destination) != "done") return false;
    }
    return true;
  }, std::chrono::milliseconds(200));
  writer.stop();
  ASSERT_TRUE(done) << server_->logTail();
  ASSERT_GT(writer.statements(), 100);

  const Rows want = table();
  std::string tailErrors;
  Rows tailRows;
  const auto equal = [&](const Rows& have) { return have == want; };
  EXPECT_TRUE(testing::waitUntil(kWait, [&] { return equal(sdk.rows()) || !sdk.error().empty(); }));
  EXPECT_EQ(sdk.error(), "");
  EXPECT_TRUE(equal(sdk.rows())) << "SDK consumer: " << sdk.rows().size() << " rows, table " << want.size();
  EXPECT_TRUE(testing::waitUntil(kWait, [&] {
    std::ifstream in(tailOutput);
    tailErrors.clear();
    tailRows = applyTailLines(std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()), tailErrors);
    return equal(tailRows);
  })) << "canal-tail: " << tailRows.size() << " rows, table " << want.size() << "\n" << tailErrors;
  EXPECT_TRUE(tail.running()) << tail.logTail();
  EXPECT_EQ(tailErrors, "");
  EXPECT_TRUE(testing::waitUntil(kWait, [&] { return equal(redisRows()); }))
      << "redis: " << redisRows().size() << " rows, table " << want.size() << "\n" << logText();
  EXPECT_TRUE(testing::waitUntil(kWait, [&] { return equal(indexedRows()); }))
      << "elasticsearch: " << indexedRows().size() << " rows, table " << want.size() << "\n" << logText();
  EXPECT_FALSE(finished_) << result_.toString();
  EXPECT_EQ(logText().find("out of sequence"), std::string::npos) << logText();
  std::printf("[ figures ] %s snapshot of %d rows under a writer (%d statements), followed by the forwarder, canal-tail "
              "and the SDK: all equal to the table\n", how == Start::kInitial ? "initial" : "on-demand", 3 * kRowsPerRegion, writer.statements());
}

TEST_F(SnapshotConsumersTest, ForwarderCanalTailAndTheSdkFollowASnapshotUnderAWriterAndEndEqualToTheTable) {
  followSnapshotUnderAWriter(Start::kOnDemand);
}

TEST_F(SnapshotConsumersTest, ForwarderCanalTailAndTheSdkFollowAnInitialSnapshotUnderAWriterAndEndEqualToTheTable) {
  followSnapshotUnderAWriter(Start::kInitial);
}

}  // namespace
}  // namespace canal::forwarder
