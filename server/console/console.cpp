#include "server/console/console.h"

#include <spdlog/spdlog.h>

#include <cctype>

#include <nlohmann/json.hpp>

#include "server/common/logging.h"
#include "server/console/properties_mask.h"

namespace canal::console {
namespace {

using Json = nlohmann::json;

http::Response json(int status, const Json& body) { return http::jsonResponse(status, body.dump() + "\n"); }

http::Response error(int status, const std::string& message) { return json(status, {{"error", message}}); }

int httpStatusOf(const Status& s) {
  switch (s.code()) {
    case StatusCode::kInvalidArgument:
      return 400;
    case StatusCode::kNotFound:
      return 404;
    case StatusCode::kAborted:
      return 409;
    default:
      return 503;
  }
}

// The value of `key` in a query string (no decoding: the console's values are plain words).
std::string queryValue(const std::string& query, const std::string& key) {
  std::size_t at = 0;
  while (at <= query.size()) {
    std::size_t end = query.find('&', at);
    if (end == std::string::npos) end = query.size();
    if (query.compare(at, key.size() + 1, key + "=") == 0) return query.substr(at + key.size() + 1, end - at - key.size() - 1);
    at = end + 1;
  }
  return {};
}

bool validName(const std::string& name) {
  if (name.empty() || name.size() > 64 || name[0] == '.') return false;
  for (char c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-' && c != '.') return false;
  }
  return true;
}

// The "text" (or `field`) string of a JSON body.
Result<std::string> textField(const std::string& body, const char* field) {
  const Json j = Json::parse(body, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains(field) || !j[field].is_string()) {
    return Status::invalidArgument(std::string("the body is not a JSON object with a string \"") + field + "\"");
  }
  return j[field].get<std::string>();
}

}  // namespace

http::Response Console::handle(const http::Request& request) {
  const std::string& path = request.path;
  if (path == "/console") {
    http::Response r;
    r.status = 302;
    r.contentType = "text/plain; charset=utf-8";
    r.headers.emplace_back("Location", "/console/");
    return r;
  }
  const std::string api = "/console/api/";
  if (path.rfind(api, 0) == 0) return http::withPagePolicy(this->api(request, path.substr(api.size() - 1)));
  return http::webFile(consoleFiles(), request, path == "/console/" ? "index.html" : path.substr(std::string("/console/").size()));
}

http::Response Console::api(const http::Request& request, const std::string& path) {
  const auto now = std::chrono::steady_clock::now();
  if (path == "/login") {
    if (request.method != "POST") return error(405, "log in with POST");
    if (const std::string why = backend_.loginUnavailable(); !why.empty()) return error(403, why);
    const std::string user = backend_.login(request.authorization);
    if (user.empty()) {
      moduleLogger("console")->warn("console: failed login from {}", request.peer);
      return error(401, "wrong user or password");
    }
    const http::Session s = sessions_.open(user, now);
    moduleLogger("console")->info("console: {} logged in from {}", user, request.peer);
    http::Response r = json(200, {{"user", s.user}, {"csrfToken", s.csrfToken}});
    r.headers.emplace_back("Set-Cookie", sessions_.setCookie(s.id));
    return r;
  }
  const auto session = sessions_.find(request.cookie, now);
  if (!session) return error(401, "log in first");
  const bool changes = request.method != "GET" && request.method != "HEAD";
  if (changes && !http::WebSessions::tokenMatches(*session, request.csrfToken)) {
    moduleLogger("console")->warn("console: {} from {}: {} {} without a valid CSRF token refused", session->user,
                                  request.peer, request.method, request.path);
    return error(403, "the X-CSRF-Token header is missing or wrong; reload the page");
  }
  if (path == "/session" && request.method == "GET") {
    return json(200, {{"user", session->user}, {"csrfToken", session->csrfToken}});
  }
  if (path == "/logout" && request.method == "POST") {
    sessions_.close(session->id);
    http::Response r = json(200, {{"user", session->user}, {"loggedOut", true}});
    r.headers.emplace_back("Set-Cookie", sessions_.setCookie(""));
    return r;
  }
  if (path == "/status" && request.method == "GET") {
    http::Response r;
    r.body = backend_.statusJson();
    return r;
  }
  if (path == "/history" && request.method == "GET") {
    http::Response r;
    r.body = history_.json();
    return r;
  }
  if (path == "/destinations" && request.method == "POST") {
    const Json j = Json::parse(request.body, nullptr, false);
    if (j.is_discarded() || !j.is_object() || !j.contains("name") || !j["name"].is_string() ||
        !j.contains("properties") || !j["properties"].is_string()) {
      return error(400, "the body is not a JSON object with string \"name\" and \"properties\"");
    }
    const std::string name = j["name"].get<std::string>();
    if (!validName(name)) return error(400, "a destination's name is 1-64 letters, digits, '_', '-' or '.'");
    const Status s = backend_.addDestination(name, j["properties"].get<std::string>());
    audit(*session, request, "added destination " + name, s);
    return s.isOk() ? json(201, {{"name", name}}) : error(httpStatusOf(s), s.message());
  }
  const std::string prefix = "/destinations/";
  if (path.rfind(prefix, 0) == 0) return destinationApi(request, *session, path.substr(prefix.size()));
  return error(404, "no console API " + request.method + " " + request.path);
}

http::Response Console::destinationApi(const http::Request& request, const http::Session& session, const std::string& rest) {
  const auto slash = rest.find('/');
  if (slash == std::string::npos) return error(404, "no console API " + request.path);
  const std::string name = rest.substr(0, slash);
  const std::string what = rest.substr(slash + 1);
  if (!validName(name)) return error(404, "no destination " + name);
  const std::string& method = request.method;
  if (what == "logs" && method == "GET") {
    std::string level = queryValue(request.query, "level");
    if (level.empty()) level = "info";
    if (spdlog::level::from_str(level) == spdlog::level::off) {
      return error(400, "level is " + level + ", not one of trace, debug, info, warning, error, critical");
    }
    std::size_t max = 200;
    try {
      if (const std::string m = queryValue(request.query, "max"); !m.empty()) max = std::min<std::size_t>(std::stoul(m), 1000);
    } catch (const std::exception&) {
      return error(400, "max is not a number");
    }
    Json lines = Json::array();
    for (const RecentLogLine& l : recentLogLines(name, level, max)) {
      lines.push_back({{"time", l.timeMs}, {"level", l.level}, {"module", l.module}, {"text", l.text}});
    }
    return json(200, {{"destination", name}, {"level", level}, {"lines", std::move(lines)}});
  }
  if ((what == "start" || what == "stop" || what == "restart") && method == "POST") {
    const Status s = backend_.destinationAction(name, what);
    audit(session, request, what + " destination " + name, s);
    return s.isOk() ? json(200, {{"destination", name}, {"done", what}}) : error(httpStatusOf(s), s.message());
  }
  if (what == "snapshots") {
    http::Response r = backend_.snapshots(method, name, request.body);
    if (method != "GET") {
      audit(session, request, (method == "DELETE" ? "cancelled a snapshot of " : "started a snapshot of ") + name,
            r.status < 300 ? Status::ok() : Status::invalidArgument(r.body));
    }
    return r;
  }
  if (what == "config" && method == "GET") {
    auto text = backend_.instanceFile(name);
    if (!text) return error(httpStatusOf(text.status()), text.status().message());
    return json(200, {{"destination", name}, {"properties", maskSecrets(*text)}, {"mask", kSecretMask}});
  }
  if ((what == "config" && method == "PUT") || (what == "config/check" && method == "POST")) {
    auto edited = textField(request.body, "properties");
    if (!edited) return error(400, edited.status().message());
    auto saved = backend_.instanceFile(name);
    if (!saved) return error(httpStatusOf(saved.status()), saved.status().message());
    auto text = unmaskSecrets(*edited, *saved);
    if (!text) return error(400, text.status().message());
    std::vector<std::string> warnings;
    Status s = backend_.checkInstanceFile(name, *text, &warnings);
    if (s.isOk() && what == "config") s = backend_.saveInstanceFile(name, *text);
    if (what == "config") audit(session, request, "edited instance.properties of " + name, s);
    Json body = {{"destination", name}, {"ok", s.isOk()}, {"warnings", warnings}};
    if (!s.isOk()) body["error"] = s.message();
    return json(s.isOk() ? 200 : httpStatusOf(s), body);
  }
  return error(404, "no console API " + method + " " + request.path);
}

void Console::audit(const http::Session& session, const http::Request& request, const std::string& what, const Status& result) {
  auto log = moduleLogger("console");
  if (result.isOk()) {
    log->info("console: {} from {}: {}", session.user, request.peer, what);
  } else {
    log->warn("console: {} from {}: {} failed: {}", session.user, request.peer, what, result.message());
  }
}

void Console::sample(std::int64_t nowMs) {
  const Json status = Json::parse(backend_.statusJson(), nullptr, false);
  std::map<std::string, Totals> totals;
  if (status.is_object() && status.contains("destinations")) {
    for (const Json& d : status["destinations"]) {
      if (!d.is_object() || !d.contains("name") || !d["name"].is_string()) continue;
      Totals t;
      if (d.contains("rows") && d["rows"].is_number_unsigned()) t.rows = d["rows"].get<std::uint64_t>();
      if (d.contains("binlogBytes") && d["binlogBytes"].is_number_unsigned()) t.bytes = d["binlogBytes"].get<std::uint64_t>();
      totals[d["name"].get<std::string>()] = t;
    }
  }
  history_.sample(nowMs, totals);
}

}  // namespace canal::console
