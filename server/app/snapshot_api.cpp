#include "server/app/snapshot_api.h"

#include <openssl/evp.h>

#include <nlohmann/json.hpp>

#include "canal/protocol/password_scramble.h"
#include "server/common/ascii.h"
#include "server/mysql/mysql_connection.h"
#include "server/snapshot/snapshot_runner.h"

namespace canal::app {
namespace {

using Json = nlohmann::json;

HttpResponse reply(int status, Json body) { return HttpResponse{status, "application/json", body.dump() + "\n"}; }
HttpResponse error(int status, const std::string& message) { return reply(status, {{"error", message}}); }

std::string decodeBase64(const std::string& text) {
  std::string out(text.size(), '\0');
  const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(text.data()), static_cast<int>(text.size()));
  if (n < 0) return {};
  out.resize(static_cast<std::size_t>(n));
  std::size_t padding = 0;
  for (auto it = text.rbegin(); it != text.rend() && *it == '='; ++it) ++padding;
  out.resize(out.size() - std::min(padding, out.size()));
  return out;
}

bool authorized(const HttpRequest& request, const AdminLogin& admin) {
  const std::string prefix = "Basic ";
  if (request.authorization.rfind(prefix, 0) != 0) return false;
  const std::string login = decodeBase64(request.authorization.substr(prefix.size()));
  const auto colon = login.find(':');
  if (colon == std::string::npos || login.substr(0, colon) != admin.user) return false;
  return asciiLower(protocol::passwordHash(login.substr(colon + 1))) == asciiLower(admin.passwordHash);
}

}  // namespace

HttpResponse handleSnapshotRequest(const HttpRequest& request, const AdminLogin& admin,
                                   const DestinationManager& destinations) {
  // /destinations/<name>/snapshots
  const std::string prefix = "/destinations/";
  const std::string suffix = "/snapshots";
  if (request.path.size() <= prefix.size() + suffix.size() ||
      request.path.compare(request.path.size() - suffix.size(), suffix.size(), suffix) != 0) {
    return error(404, "not found; snapshots are at /destinations/<name>/snapshots");
  }
  const std::string name =
      request.path.substr(prefix.size(), request.path.size() - prefix.size() - suffix.size());
  if (admin.passwordHash.empty()) {
    return error(403, "snapshots are requested as canal.admin.user; set canal.admin.passwd first");
  }
  if (!authorized(request, admin)) {
    return error(401, "HTTP Basic authentication as canal.admin.user is required");
  }
  const auto snapshots = destinations.snapshots(name);
  if (!snapshots) return error(404, "destination " + name + " does not run on this server");
  if (request.method == "GET") {
    const auto progress = snapshots->progress();
    if (!progress) return error(404, "destination " + name + " has had no snapshot yet");
    return HttpResponse{200, "application/json", progress->toJson() + "\n"};
  }
  if (request.method == "DELETE") {
    snapshots->cancel();
    return reply(200, {{"cancelled", true}});
  }
  if (request.method != "POST") return error(405, "GET, POST or DELETE");

  const Json body = Json::parse(request.body.empty() ? "{}" : request.body, nullptr, false);
  if (body.is_discarded() || !body.is_object()) return error(400, "the body is not a JSON object");
  std::string regex;
  if (body.contains("tables")) {
    if (!body["tables"].is_array()) return error(400, "\"tables\" is not an array of names or Canal regexes");
    for (const Json& t : body["tables"]) {
      if (!t.is_string()) return error(400, "\"tables\" holds something that is not a string");
      regex += (regex.empty() ? "" : ",") + t.get<std::string>();
    }
  }
  if (regex.empty()) return error(400, "\"tables\" is missing: say which tables to snapshot");
  snapshot::SnapshotRequest r;
  r.where = body.value("where", std::string());
  if (body.contains("chunkSize") && (!body["chunkSize"].is_number_unsigned() || body["chunkSize"] == 0)) {
    return error(400, "\"chunkSize\" is not a positive integer");
  }
  if (body.contains("rowsPerSecond") && !body["rowsPerSecond"].is_number_unsigned()) {
    return error(400, "\"rowsPerSecond\" is not a non-negative integer");
  }
  r.rowsPerSecond = body.value("rowsPerSecond", std::uint64_t{0});

  convert::TableFilterSpec spec;
  spec.regex = regex;
  auto filter = convert::TableFilter::create(spec);
  if (!filter) return error(400, "\"tables\": " + filter.status().message());
  const auto running = destinations.running(name);
  if (!running) return error(404, "destination " + name + " does not run on this server");
  r.chunkSize = body.value("chunkSize", running->options().snapshotChunkSize);
  auto connection = mysql::MysqlConnection::connect(running->options().master);
  if (!connection) return error(503, connection.status().toString());
  auto tables = snapshot::matchingTables(**connection, **filter);
  if (!tables) return error(503, tables.status().toString());
  if (tables->empty()) return error(400, "no table of the primary matches " + regex);
  const auto streamFilter = running->tableFilter();
  for (const auto& [database, table] : *tables) {
    if (streamFilter && !streamFilter->accepts(database, table)) {
      return error(400, "table " + database + "." + table +
                            " is not in the destination's table filter: its changes would not follow its rows");
    }
  }
  r.tables = *tables;
  auto started = snapshots->start(std::move(r));
  if (!started) return error(started.status().code() == StatusCode::kInvalidArgument ? 400 : 503,
                             started.status().toString());
  Json names = Json::array();
  for (const auto& [database, table] : *tables) names.push_back(database + "." + table);
  return reply(202, {{"id", *started}, {"tables", names}});
}

}  // namespace canal::app
