// The console's sessions, CSRF checks, secret masking, rate history and routes, over a fake
// server (ConsoleBackend), with hostile requests among them.

#include "server/console/console.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "server/console/properties_mask.h"

namespace canal::console {
namespace {

using Json = nlohmann::json;
using namespace std::chrono_literals;

class FakeBackend final : public ConsoleBackend {
 public:
  std::string login(const std::string& authorization) override {
    return authorization == "Basic YWRtaW46c2VjcmV0" ? "admin" : "";  // admin:secret
  }
  std::string loginUnavailable() override { return unavailable; }
  std::string statusJson() override { return status; }
  Status destinationAction(const std::string& name, const std::string& action) override {
    actions.push_back(action + " " + name);
    return Status::ok();
  }
  http::Response snapshots(const std::string& method, const std::string& name, const std::string&) override {
    actions.push_back("snapshot " + method + " " + name);
    http::Response r;
    r.status = 202;
    return r;
  }
  Result<std::string> instanceFile(const std::string& name) override {
    if (name != "a") return Status::notFound("no destination " + name);
    return file;
  }
  Status checkInstanceFile(const std::string&, const std::string& text, std::vector<std::string>* warnings) override {
    checked.push_back(text);
    warnings->push_back("a warning");
    if (text.find("slaveId = banana") != std::string::npos) {
      return Status::invalidArgument("canal.instance.mysql.slaveId: 'banana' is not a number");
    }
    return Status::ok();
  }
  Status saveInstanceFile(const std::string&, const std::string& text) override {
    file = text;
    ++saves;
    return Status::ok();
  }
  Status addDestination(const std::string& name, const std::string&) override {
    actions.push_back("add " + name);
    return Status::ok();
  }

  std::string unavailable;
  std::string status = R"({"destinations": [{"name": "a", "rows": 10, "binlogBytes": 1000}]})";
  std::string file = "# the primary\ncanal.instance.master.address = 127.0.0.1:3306\n"
                     "canal.instance.dbPassword = canal\ncanal.instance.mysql.slaveId = 12\n";
  std::vector<std::string> actions;
  std::vector<std::string> checked;
  int saves = 0;
};

http::Request request(std::string method, std::string path, std::string body = "") {
  http::Request r;
  r.method = std::move(method);
  r.path = std::move(path);
  if (const auto q = r.path.find('?'); q != std::string::npos) {
    r.query = r.path.substr(q + 1);
    r.path.resize(q);
  }
  r.body = std::move(body);
  r.peer = "127.0.0.1";
  return r;
}

std::string header(const http::Response& r, const std::string& name) {
  for (const auto& [k, v] : r.headers) {
    if (k == name) return v;
  }
  return {};
}

class ConsoleTest : public ::testing::Test {
 protected:
  // Logs in; the requests of `as` carry the session's cookie and, when `token`, its CSRF token.
  void logIn() {
    auto r = request("POST", "/console/api/login");
    r.authorization = "Basic YWRtaW46c2VjcmV0";
    const http::Response answer = console_.handle(r);
    ASSERT_EQ(answer.status, 200) << answer.body;
    const std::string cookie = header(answer, "Set-Cookie");
    EXPECT_NE(cookie.find("HttpOnly"), std::string::npos) << cookie;
    EXPECT_NE(cookie.find("SameSite=Strict"), std::string::npos) << cookie;
    cookie_ = cookie.substr(0, cookie.find(';'));
    token_ = Json::parse(answer.body)["csrfToken"];
  }
  http::Response as(http::Request r, bool token = true) {
    r.cookie = "theme=dark; " + cookie_;
    if (token) r.csrfToken = token_;
    return console_.handle(r);
  }

  FakeBackend backend_;
  Console console_{backend_};
  std::string cookie_;
  std::string token_;
};

TEST_F(ConsoleTest, ThePageIsServedWithItsPolicyAndTheApiOnlyToASession) {
  const auto page = console_.handle(request("GET", "/console/"));
  EXPECT_EQ(page.status, 200);
  EXPECT_EQ(page.contentType, "text/html; charset=utf-8");
  EXPECT_NE(page.body.find("console.js"), std::string::npos);
  EXPECT_NE(header(page, "Content-Security-Policy").find("script-src 'self'"), std::string::npos);
  EXPECT_EQ(header(page, "X-Frame-Options"), "DENY");
  EXPECT_EQ(console_.handle(request("GET", "/console/console.js")).contentType, "text/javascript; charset=utf-8");
  EXPECT_EQ(console_.handle(request("GET", "/console")).status, 302);
  EXPECT_EQ(console_.handle(request("GET", "/console/../../etc/passwd")).status, 404);
  EXPECT_EQ(console_.handle(request("POST", "/console/console.js")).status, 405);

  EXPECT_EQ(console_.handle(request("GET", "/console/api/status")).status, 401);
  auto forged = request("GET", "/console/api/status");
  forged.cookie = "canal_console=0123456789abcdef0123456789abcdef";
  EXPECT_EQ(console_.handle(forged).status, 401);
  auto wrong = request("POST", "/console/api/login");
  wrong.authorization = "Basic YWRtaW46d3Jvbmc=";  // admin:wrong
  EXPECT_EQ(console_.handle(wrong).status, 401);
  EXPECT_EQ(console_.sessions().size(), 0u);
  backend_.unavailable = "set canal.admin.passwd";
  auto r = request("POST", "/console/api/login");
  r.authorization = "Basic YWRtaW46c2VjcmV0";
  EXPECT_EQ(console_.handle(r).status, 403);
}

TEST_F(ConsoleTest, AStateChangeNeedsTheSessionsCsrfToken) {
  logIn();
  const auto status = as(request("GET", "/console/api/status"), false);  // a read needs no token
  EXPECT_EQ(status.status, 200);
  EXPECT_EQ(status.body, backend_.status);
  EXPECT_EQ(as(request("POST", "/console/api/destinations/b/stop"), false).status, 403);
  auto wrong = request("POST", "/console/api/destinations/b/stop");
  wrong.cookie = cookie_;
  wrong.csrfToken = std::string(token_.size(), '0');
  EXPECT_EQ(console_.handle(wrong).status, 403);
  EXPECT_EQ(as(request("PUT", "/console/api/destinations/a/config", R"({"properties": "x = 1"})"), false).status, 403);
  EXPECT_TRUE(backend_.actions.empty());
  EXPECT_EQ(backend_.saves, 0);

  EXPECT_EQ(as(request("POST", "/console/api/destinations/b/stop")).status, 200);
  EXPECT_EQ(as(request("POST", "/console/api/destinations/b/restart")).status, 200);
  EXPECT_EQ(as(request("POST", "/console/api/destinations/b/snapshots", "{}")).status, 202);
  EXPECT_EQ(backend_.actions, (std::vector<std::string>{"stop b", "restart b", "snapshot POST b"}));

  EXPECT_EQ(as(request("POST", "/console/api/logout")).status, 200);
  EXPECT_EQ(as(request("GET", "/console/api/status")).status, 401);
}

TEST_F(ConsoleTest, HostileNamesAndBodiesAreRefusedBeforeTheServerSeesThem) {
  logIn();
  for (const char* path : {"/console/api/destinations/../stop", "/console/api/destinations/.x/stop",
                           "/console/api/destinations/a%2fb/stop", "/console/api/destinations/a/reboot",
                           "/console/api/destinations/a", "/console/api/nothing"}) {
    EXPECT_EQ(as(request("POST", path)).status, 404) << path;
  }
  for (const char* body : {"", "[]", "{\"name\": \"../../etc\", \"properties\": \"\"}", "{\"name\": 1}",
                           "{\"name\": \"c\"}", "{\"name\": \"\", \"properties\": \"\"}"}) {
    EXPECT_EQ(as(request("POST", "/console/api/destinations", body)).status, 400) << body;
  }
  for (const char* body : {"", "{}", "{\"properties\": 5}", "not json"}) {
    EXPECT_EQ(as(request("PUT", "/console/api/destinations/a/config", body)).status, 400) << body;
  }
  EXPECT_EQ(as(request("GET", "/console/api/destinations/a/logs?level=loud")).status, 400);
  EXPECT_EQ(as(request("GET", "/console/api/destinations/a/logs?max=lots")).status, 400);
  EXPECT_EQ(as(request("GET", "/console/api/destinations/zz/config")).status, 404);
  EXPECT_TRUE(backend_.actions.empty());
  EXPECT_EQ(backend_.saves, 0);
  EXPECT_EQ(as(request("POST", "/console/api/destinations", R"({"name": "c", "properties": "x"})")).status, 201);
  EXPECT_EQ(backend_.actions, std::vector<std::string>{"add c"});
}

TEST_F(ConsoleTest, TheFileIsShownWithSecretsMaskedAndSavedWithThemBackOnlyWhenItPassesTheChecks) {
  logIn();
  const auto shown = as(request("GET", "/console/api/destinations/a/config"));
  ASSERT_EQ(shown.status, 200);
  const std::string text = Json::parse(shown.body)["properties"];
  EXPECT_EQ(text, "# the primary\ncanal.instance.master.address = 127.0.0.1:3306\n"
                  "canal.instance.dbPassword = ******\ncanal.instance.mysql.slaveId = 12\n");

  std::string bad = text;
  bad.replace(bad.find("slaveId = 12"), 12, "slaveId = banana");
  const auto refused = as(request("PUT", "/console/api/destinations/a/config", Json{{"properties", bad}}.dump()));
  EXPECT_EQ(refused.status, 400);
  EXPECT_EQ(Json::parse(refused.body)["error"], "canal.instance.mysql.slaveId: 'banana' is not a number");
  EXPECT_EQ(Json::parse(refused.body)["warnings"][0], "a warning");
  EXPECT_EQ(backend_.saves, 0);

  const std::string good = "# edited\n" + text;
  const auto checked = as(request("POST", "/console/api/destinations/a/config/check", Json{{"properties", good}}.dump()));
  EXPECT_EQ(checked.status, 200) << checked.body;
  EXPECT_EQ(backend_.saves, 0);
  const auto saved = as(request("PUT", "/console/api/destinations/a/config", Json{{"properties", good}}.dump()));
  EXPECT_EQ(saved.status, 200) << saved.body;
  EXPECT_EQ(backend_.file, "# edited\n# the primary\ncanal.instance.master.address = 127.0.0.1:3306\n"
                           "canal.instance.dbPassword = canal\ncanal.instance.mysql.slaveId = 12\n");
}

TEST(PropertiesMask, SecretsOfEveryFormAreMaskedAndRestoredByKey) {
  const std::string file = "! comment\ncanal.instance.dbPassword=canal\n  canal.aliyun.secretKey : k1 \r\n"
                           "canal.instance.tsdb.dbPassword =\ncanal.instance.dbUsername = canal\n";
  const std::string masked = maskSecrets(file);
  EXPECT_EQ(masked, "! comment\ncanal.instance.dbPassword=******\n  canal.aliyun.secretKey : ****** \r\n"
                    "canal.instance.tsdb.dbPassword =\ncanal.instance.dbUsername = canal\n");
  EXPECT_EQ(*unmaskSecrets(masked, file), file);
  // A typed value replaces the secret; a masked key the saved file lacks is refused by name.
  EXPECT_EQ(*unmaskSecrets("canal.instance.dbPassword = new\n", file), "canal.instance.dbPassword = new\n");
  const auto missing = unmaskSecrets("canal.mq.secretKey = ******\n", file);
  ASSERT_FALSE(missing.isOk());
  EXPECT_NE(missing.status().message().find("canal.mq.secretKey"), std::string::npos);
  EXPECT_FALSE(isSecretKey("canal.instance.master.address"));
}

TEST(WebSessions, IdleSessionsEndAndTheOldestGivesWayAtTheLimit) {
  http::WebSessions sessions("canal_console");
  const auto t0 = std::chrono::steady_clock::now();
  const http::Session a = sessions.open("admin", t0);
  EXPECT_EQ(a.id.size(), 32u);
  EXPECT_NE(a.id, a.csrfToken);
  EXPECT_TRUE(sessions.find("x=1;canal_console=" + a.id, t0 + 29min));
  EXPECT_TRUE(sessions.find("canal_console=" + a.id + "; y=2", t0 + 58min));  // used at 29 min
  EXPECT_FALSE(sessions.find("canal_console=" + a.id, t0 + 90min));
  EXPECT_FALSE(sessions.find("canal_console=", t0));
  EXPECT_FALSE(sessions.find("xcanal_console=" + a.id, t0));

  const http::Session first = sessions.open("admin", t0);
  for (std::size_t i = 1; i < http::WebSessions::kMaxSessions; ++i) sessions.open("admin", t0 + 1s);
  EXPECT_TRUE(sessions.find("canal_console=" + first.id, t0 + 1s));
  sessions.open("admin", t0 + 2s);
  EXPECT_EQ(sessions.size(), http::WebSessions::kMaxSessions);
  EXPECT_FALSE(sessions.find("canal_console=" + first.id, t0 + 2s));
  EXPECT_TRUE(http::WebSessions::tokenMatches(first, first.csrfToken));
  EXPECT_FALSE(http::WebSessions::tokenMatches(first, first.csrfToken.substr(1)));
}

TEST(RateHistory, RatesBetweenSamplesARestartCountingFromZeroAndAnHourKept) {
  RateHistory h;
  h.sample(0, {{"a", {100, 1000}}});
  h.sample(10'000, {{"a", {200, 3000}}, {"b", {5, 5}}});
  h.sample(20'000, {{"a", {50, 500}}});  // a restarted; b gone
  Json j = Json::parse(h.json());
  ASSERT_EQ(j["a"].size(), 2u);
  EXPECT_DOUBLE_EQ(j["a"][0]["rowsPerSecond"].get<double>(), 10.0);
  EXPECT_DOUBLE_EQ(j["a"][0]["bytesPerSecond"].get<double>(), 200.0);
  EXPECT_DOUBLE_EQ(j["a"][1]["rowsPerSecond"].get<double>(), 5.0);
  EXPECT_FALSE(j.contains("b"));
  h.sample(20'000 + RateHistory::kWindowMs, {{"a", {50, 500}}});
  j = Json::parse(h.json());
  EXPECT_EQ(j["a"].size(), 1u);  // only the last hour's samples
}

TEST(ConsoleHistory, TheTotalsOfStatusAreSampled) {
  FakeBackend backend;
  Console console(backend);
  console.sample(0);
  backend.status = R"({"destinations": [{"name": "a", "rows": 30, "binlogBytes": 3000}, {"name": 5}]})";
  console.sample(2000);
  auto login = request("POST", "/console/api/login");
  login.authorization = "Basic YWRtaW46c2VjcmV0";
  const auto answer = console.handle(login);
  auto get = request("GET", "/console/api/history");
  const std::string cookie = header(answer, "Set-Cookie");
  get.cookie = cookie.substr(0, cookie.find(';'));
  const Json j = Json::parse(console.handle(get).body);
  EXPECT_DOUBLE_EQ(j["a"][0]["rowsPerSecond"].get<double>(), 10.0);
}

}  // namespace
}  // namespace canal::console
