// `canal-forwarder reindex` against the Elasticsearch test server (index creation, _aliases,
// alias resolution as the API documents them), a real MariaDB and canal-server's snapshot API:
// the first sync of an existing table creates index and alias; a reindex while the running
// forwarder and a writer go on moves the alias only to a complete index; a reindex killed with
// -9 mid-load leaves the alias alone and the next run starts again cleanly.

#include <nlohmann/json.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <random>

#include "forwarder/http_client.h"
#include "forwarder/reindex.h"
#include "forwarder_fixture.h"
#include "tests/support/elasticsearch_server.h"
#include "tests/support/http_get.h"

namespace canal::forwarder {
namespace {

using namespace std::chrono_literals;
using Json = nlohmann::json;

class ReindexTest : public ReindexFixture {
 protected:
  void SetUp() override {
    ForwarderTest::SetUp();
    if (HasFatalFailure()) return;
    ASSERT_TRUE(es_.start());
    ASSERT_TRUE(db_->execute("CREATE TABLE s.t (id INT PRIMARY KEY, v INT)"));
    std::string rows = "INSERT INTO s.t VALUES ";
    for (int i = 1; i <= kRows; ++i) rows += (i > 1 ? ",(" : "(") + std::to_string(i) + ", 0)";
    ASSERT_TRUE(db_->execute(rows));
    std::ofstream(dir_->path() / "t-index.json") << R"({"settings": {"number_of_shards": 1},
      "mappings": {"properties": {"id": {"type": "long"}, "v": {"type": "long"}}}})";
  }

  ForwarderConfig config(int rowsPerSecond = 0) const {
    ForwarderConfig c = baseConfig();
    SinkConfig sink;
    sink.name = "es";
    sink.kind = SinkConfig::Kind::kElasticsearch;
    sink.elasticsearch.url = es_.url();
    IndexMapping m;
    m.table = "s.t";
    m.index = "t";
    sink.elasticsearch.mappings = {m};
    ReindexConfig& r = sink.elasticsearch.reindex;
    r.destination = "reindex";
    r.indexFiles["t"] = (dir_->path() / "t-index.json").string();
    r.snapshotUrl = snapshotUrl();
    r.snapshotPassword = "admin";
    r.stateDir = (dir_->path() / "state").string();
    r.chunkSize = 500;
    r.rowsPerSecond = rowsPerSecond;
    c.sinks = {sink};
    return c;
  }
  // The same as YAML, for the canal-forwarder binary.
  void writeYaml(int rowsPerSecond, const std::string& extra = "") {
    writeBinaryConfig(extra + "source: {address: '" + server_->address() +
                      "', batch_size: 200, poll_timeout_ms: 200}\n"
                      "sinks:\n  - type: elasticsearch\n    elasticsearch:\n      url: " + es_.url() +
                      "\n      mappings: [{table: s.t, index: t}]\n      reindex:\n        destination: reindex\n"
                      // Relative paths: beside forwarder.yml, not where the test runs the binary from.
                      "        indexes: {t: t-index.json}\n        snapshot_url: http://127.0.0.1:" +
                      std::to_string(server_->metricsPort()) +
                      "\n        snapshot_password: admin\n        chunk_size: 500\n        rows_per_second: " +
                      std::to_string(rowsPerSecond) + "\n        state_dir: state\n");
  }

  // The table as id -> v.
  std::map<std::string, std::string> table() {
    auto rows = db_->query("SELECT id, v FROM s.t");
    EXPECT_TRUE(rows.isOk());
    std::map<std::string, std::string> out;
    for (const auto& r : *rows) out[*r[0]] = *r[1];
    return out;
  }
  // The documents behind `name` as id -> v.
  std::map<std::string, std::string> index(const std::string& name) const {
    std::map<std::string, std::string> out;
    for (const auto& [id, d] : es_.documents(name)) {
      const Json j = Json::parse(d.source);
      out[id] = j["v"].is_string() ? j["v"].get<std::string>() : std::to_string(j["v"].get<long long>());
    }
    return out;
  }
  std::string reindexLogs() { return binaryLogs(); }

  static constexpr int kRows = 3000;
  testing::ElasticsearchServer es_;
};

TEST_F(ReindexTest, FirstSyncThenAReindexWhileWritesGoOnMovesTheAliasOnlyToACompleteIndex) {
  // The first sync of an existing table: index and alias made the same way.
  std::vector<std::string> lines;
  ASSERT_TRUE(reindex(config(), "t", [&](const std::string& l) { lines.push_back(l); }).isOk())
      << joinLines(lines);
  const auto first = es_.aliasTargets("t");
  ASSERT_EQ(first.size(), 1u);
  EXPECT_EQ(first[0].rfind("t_", 0), 0u) << first[0];
  EXPECT_NE(es_.indexBody(first[0]).find("number_of_shards"), std::string::npos) << "the index file's settings";
  EXPECT_EQ(index("t"), table());

  // The running forwarder keeps the alias's index current; a writer changes rows meanwhile.
  startForwarder(config());
  std::atomic<bool> writing{true};
  std::thread writer([&] {
    std::mt19937 random(7);
    int next = kRows + 1;
    while (writing) {
      if (random() % 3 == 0) {
        (void)db_->execute("INSERT INTO s.t VALUES (" + std::to_string(next++) + ", 1)");
      } else {
        (void)db_->execute("UPDATE s.t SET v = v + 1 WHERE id = " + std::to_string(1 + random() % kRows));
      }
      std::this_thread::sleep_for(1ms);  // a steady stream, not a flood
    }
  });
  // Every index the alias is seen on holds at least the rows there were before (no row is
  // ever deleted here): never a half-built one.
  AliasWatch watch(es_, "t");
  lines.clear();
  const client::Status second = reindex(config(), "t", [&](const std::string& l) { lines.push_back(l); });
  writing = false;
  writer.join();
  watch.stop();
  ASSERT_TRUE(second.isOk()) << second.toString() << "\n" << joinLines(lines);
  const auto now = es_.aliasTargets("t");
  ASSERT_EQ(now.size(), 1u);
  EXPECT_NE(now[0], first[0]);
  EXPECT_EQ(watch.seen(), (std::set<std::string>{first[0], now[0]}));
  EXPECT_GE(watch.smallest(), static_cast<std::size_t>(kRows));
  const auto indices = es_.indexNames();
  EXPECT_EQ(std::count(indices.begin(), indices.end(), first[0]), 0) << "the previous index is deleted";

  // Once the running forwarder caught up, the documents behind the alias are the table.
  const auto expected = table();
  const bool equal = testing::waitUntil(30s, [&] { return index("t") == expected; });
  if (!equal) {
    const auto docs = index("t");
    std::string diff;
    int shown = 0;
    for (const auto& [id, v] : expected) {
      const auto it = docs.find(id);
      if ((it == docs.end() || it->second != v) && shown++ < 10) {
        diff += id + ": table " + v + ", index " + (it == docs.end() ? "missing" : it->second) + "\n";
      }
    }
    ADD_FAILURE() << "index and table differ (" << docs.size() << " documents, " << expected.size() << " rows):\n"
                  << diff << joinLines(lines) << logText();
  }
  EXPECT_TRUE(es_.violations().empty()) << joinLines(es_.violations());
}

// The snapshot endpoint answers 503 while the primary cannot be reached (a passing condition):
// the reindex says so, asks again, and completes once the primary is back.
TEST_F(ReindexTest, AReindexWaitsOutAPrimaryThatCannotBeReached) {
  db_->kill();
  std::mutex mutex;
  std::vector<std::string> lines;
  client::Status result;
  std::thread run([&] {
    result = reindex(config(), "t", [&](const std::string& l) {
      std::lock_guard<std::mutex> lock(mutex);
      lines.push_back(l);
    });
  });
  const bool asked = testing::waitUntil(60s, [&] {
    std::lock_guard<std::mutex> lock(mutex);
    return std::any_of(lines.begin(), lines.end(), [](const std::string& l) {
      return l.find(": 503 ") != std::string::npos && l.find("asking again") != std::string::npos;
    });
  });
  ASSERT_TRUE(db_->restart().isOk());
  run.join();
  ASSERT_TRUE(asked) << joinLines(lines);
  ASSERT_TRUE(result.isOk()) << result.toString() << "\n" << joinLines(lines);
  EXPECT_EQ(index("t"), table());
}

TEST_F(ReindexTest, AReindexKilledMidLoadLeavesTheAliasAndTheNextRunStartsAgain) {
  writeYaml(0);
  ASSERT_TRUE(startReindexBinary());
  ASSERT_EQ(binary_.wait(std::chrono::minutes(2)), 0) << reindexLogs();  // the first sync
  const auto before = es_.aliasTargets("t");
  ASSERT_EQ(before.size(), 1u);

  writeYaml(1000);  // about 3 s of snapshot: time to be killed in
  ASSERT_TRUE(startReindexBinary());
  ASSERT_TRUE(testing::waitUntil(30s, [&] { return lastBinaryLog().find("snapshot of") != std::string::npos; }))
      << reindexLogs();
  binary_.kill();
  EXPECT_EQ(es_.aliasTargets("t"), before) << "the alias stays on the complete index";
  EXPECT_EQ(es_.indexNames().size(), 2u) << "the half-built index is there until the next run";

  writeYaml(0);
  ASSERT_TRUE(startReindexBinary());
  ASSERT_EQ(binary_.wait(std::chrono::minutes(2)), 0) << reindexLogs();
  EXPECT_NE(reindexLogs().find("stopped before the swap; dropping"), std::string::npos) << reindexLogs();
  EXPECT_NE(reindexLogs().find("cancelled its snapshot"), std::string::npos) << reindexLogs();
  const auto after = es_.aliasTargets("t");
  ASSERT_EQ(after.size(), 1u);
  EXPECT_NE(after, before);
  EXPECT_EQ(es_.indexNames(), after) << "the half-built and the previous index are gone";
  EXPECT_EQ(index("t"), table());
}

// The first sync while a forwarder already writes to the name: its first write creates a plain
// index there (done here by one write through _bulk, while the snapshot is paced at 1000 rows/s
// for 3000 rows), which the swap replaces by the alias in the same request.
TEST_F(ReindexTest, ANameCreatedAsAPlainIndexDuringTheFirstSyncIsReplacedByTheAlias) {
  std::mutex mutex;
  std::vector<std::string> lines;
  const auto said = [&](const std::string& what) {
    std::lock_guard<std::mutex> lock(mutex);
    return std::any_of(lines.begin(), lines.end(), [&](const std::string& l) { return l.find(what) != std::string::npos; });
  };
  client::Status result;
  std::thread first([&] {
    result = reindex(config(1000), "t", [&](const std::string& l) {
      std::lock_guard<std::mutex> lock(mutex);
      lines.push_back(l);
    });
  });
  ASSERT_TRUE(testing::waitUntil(30s, [&] { return said("snapshot of"); }));
  auto http = HttpClient::create(HttpOptions{});
  ASSERT_TRUE(http.isOk());
  const auto written = (*http)->request("POST", es_.url() + "/_bulk",
                                        "{\"index\":{\"_index\":\"t\",\"_id\":\"1\"}}\n{\"id\":1,\"v\":0}\n",
                                        "application/x-ndjson");
  const auto indices = es_.indexNames();
  first.join();
  ASSERT_TRUE(written.isOk() && written->status == 200);
  ASSERT_EQ(std::count(indices.begin(), indices.end(), "t"), 1) << "t is a plain index before the swap";
  ASSERT_TRUE(result.isOk()) << result.toString() << "\n" << joinLines(lines);
  EXPECT_TRUE(said("was created as a plain index meanwhile")) << joinLines(lines);
  const auto targets = es_.aliasTargets("t");
  ASSERT_EQ(targets.size(), 1u);
  EXPECT_NE(targets[0], "t");
  EXPECT_EQ(index("t"), table());
  EXPECT_TRUE(es_.violations().empty()) << joinLines(es_.violations());
}

TEST_F(ReindexTest, TheRunningForwarderReindexesOnRequestWhileItsLoopGoesOn) {
  const std::string admin = "http://127.0.0.1:" + std::to_string(testing::freePort());
  writeYaml(1000, "admin: {listen: '" + admin.substr(7) + "', password: secret}\n");
  ASSERT_TRUE(startBinary());
  const auto call = [&](const std::string& method, const std::string& path) {
    return testing::httpRequest(method, admin + path, "", "admin", "secret");
  };
  ASSERT_TRUE(testing::waitUntil(30s, [&] { return call("GET", "/status").status == 200; })) << binaryLogs();
  EXPECT_EQ(testing::httpRequest("POST", admin + "/reindex/t").status, 401);
  EXPECT_EQ(call("GET", "/reindex/t").status, 404);

  // The first sync, asked of the running forwarder; a second request while it runs is refused.
  const auto started = call("POST", "/reindex/t");
  ASSERT_EQ(started.status, 202) << started.body;
  EXPECT_EQ(call("POST", "/reindex/t").status, 409);
  const auto state = [&] {
    const auto r = call("GET", "/reindex/t");
    const Json j = Json::parse(r.body, nullptr, false);
    return j.is_object() ? j.value("state", "") : "";
  };
  ASSERT_TRUE(testing::waitUntil(120s, [&] { return state() != "running"; })) << binaryLogs();
  ASSERT_EQ(state(), "done") << call("GET", "/reindex/t").body;
  ASSERT_EQ(es_.aliasTargets("t").size(), 1u);
  EXPECT_EQ(index("t"), table());

  // The live loop went on: a change made now reaches the alias's index.
  ASSERT_TRUE(db_->execute("UPDATE s.t SET v = 42 WHERE id = 7"));
  EXPECT_TRUE(testing::waitUntil(30s, [&] { return index("t")["7"] == "42"; })) << binaryLogs();
  EXPECT_GT(Json::parse(call("GET", "/status").body).value("batches", 0), 0) << binaryLogs();

  // A reindex stopped over the endpoint leaves the alias where it was; an unknown alias fails
  // naming why.
  const auto before = es_.aliasTargets("t");
  ASSERT_EQ(call("POST", "/reindex/t").status, 202);
  ASSERT_TRUE(testing::waitUntil(30s, [&] { return call("GET", "/reindex/t").body.find("snapshot of") != std::string::npos; }));
  EXPECT_EQ(call("DELETE", "/reindex/t").status, 202);
  ASSERT_TRUE(testing::waitUntil(60s, [&] { return state() != "running"; }));
  EXPECT_EQ(state(), "stopped");
  EXPECT_EQ(es_.aliasTargets("t"), before);
  // An alias no sink writes is refused at once (no thread started for it), however often asked.
  for (int i = 0; i < 200; ++i) {
    const auto refused = call("POST", "/reindex/nothing" + std::to_string(i));
    ASSERT_EQ(refused.status, 404) << refused.body;
    if (i == 0) {
      EXPECT_NE(refused.body.find("no elasticsearch mapping or document writes to the index"), std::string::npos)
          << refused.body;
    }
  }
  EXPECT_EQ(call("GET", "/reindex/nothing0").status, 404);
  // A connection that sends nothing holds nobody up (and not the stop below); password guesses
  // are answered 429 after a few, without reaching the check.
  const int port = std::stoi(admin.substr(admin.rfind(':') + 1));
  const int silent = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(static_cast<std::uint16_t>(port));
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::connect(silent, reinterpret_cast<sockaddr*>(&to), sizeof to), 0);
  EXPECT_EQ(call("GET", "/status").status, 200);
  std::vector<long> guesses;
  for (int i = 0; i < 8; ++i) guesses.push_back(testing::httpRequest("GET", admin + "/status", "", "admin", "guess").status);
  EXPECT_EQ(guesses.front(), 401);
  EXPECT_EQ(guesses.back(), 429);
  const auto stopping = std::chrono::steady_clock::now();
  const int exited = binary_.stop(std::chrono::seconds(30));
  EXPECT_TRUE(WIFEXITED(exited) && WEXITSTATUS(exited) == 0) << exited << binaryLogs();
  const auto took = std::chrono::steady_clock::now() - stopping;
  std::printf("[ figures ] canal-forwarder stopped %.2f s after SIGTERM with a silent connection open\n",
              std::chrono::duration<double>(took).count());
  EXPECT_LT(took, std::chrono::seconds(2)) << "the silent connection held the stop";
  ::close(silent);
}

}  // namespace
}  // namespace canal::forwarder
