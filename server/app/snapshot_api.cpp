#include "server/app/snapshot_api.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <nlohmann/json.hpp>

#include "canal/protocol/password_scramble.h"
#include "server/common/ascii.h"
#include "server/mysql/mysql_connection.h"
#include "server/snapshot/chunk_query.h"
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

}  // namespace

bool adminAuthorized(const std::string& authorization, const AdminLogin& admin) {
  const std::string prefix = "Basic ";
  if (admin.passwordHash.empty() || authorization.rfind(prefix, 0) != 0) return false;
  const std::string login = decodeBase64(authorization.substr(prefix.size()));
  const auto colon = login.find(':');
  if (colon == std::string::npos || login.substr(0, colon) != admin.user) return false;
  const std::string given = asciiLower(protocol::passwordHash(login.substr(colon + 1)));
  const std::string stored = asciiLower(admin.passwordHash);
  // In constant time: how long the comparison takes says nothing of how much matched.
  return given.size() == stored.size() && CRYPTO_memcmp(given.data(), stored.data(), given.size()) == 0;
}

Result<SnapshotBody> parseSnapshotBody(const std::string& text) {
  const Json body = Json::parse(text.empty() ? "{}" : text, nullptr, false);
  if (body.is_discarded() || !body.is_object()) return Status::invalidArgument("the body is not a JSON object");
  SnapshotBody out;
  for (const auto& [key, value] : body.items()) {
    if (key == "tables") {
      if (!value.is_array() || value.empty()) {
        return Status::invalidArgument("\"tables\" is not a non-empty array of names or Canal regexes");
      }
      for (const Json& t : value) {
        if (!t.is_string() || t.get_ref<const std::string&>().empty()) {
          return Status::invalidArgument("\"tables\" holds " + t.dump() + ", not a table name or Canal regex");
        }
        out.tables += (out.tables.empty() ? "" : ",") + t.get<std::string>();
      }
    } else if (key == "where") {
      if (!value.is_string()) return Status::invalidArgument("\"where\" is " + value.dump() + ", not a string");
      out.request.where = value.get<std::string>();
      CANAL_RETURN_IF_ERROR(snapshot::checkWhere(out.request.where));
    } else if (key == "chunkSize") {
      if (!value.is_number_unsigned() || value.get<std::uint64_t>() == 0 ||
          value.get<std::uint64_t>() > snapshot::SnapshotRequest::kMaxChunkSize) {
        return Status::invalidArgument("\"chunkSize\" is " + value.dump() + ", not an integer in [1, " +
                                       std::to_string(snapshot::SnapshotRequest::kMaxChunkSize) + "]");
      }
      out.request.chunkSize = value.get<std::size_t>();
      out.chunkSizeGiven = true;
    } else if (key == "rowsPerSecond") {
      if (!value.is_number_unsigned() || value.get<std::uint64_t>() > snapshot::SnapshotRequest::kMaxRowsPerSecond) {
        return Status::invalidArgument("\"rowsPerSecond\" is " + value.dump() + ", not an integer in [0, " +
                                       std::to_string(snapshot::SnapshotRequest::kMaxRowsPerSecond) + "]");
      }
      out.request.rowsPerSecond = value.get<std::uint64_t>();
    } else if (key == "parallel") {
      if (!value.is_number_unsigned() || value.get<std::uint64_t>() == 0 ||
          value.get<std::uint64_t>() > snapshot::SnapshotRequest::kMaxParallel) {
        return Status::invalidArgument("\"parallel\" is " + value.dump() + ", not an integer in [1, " +
                                       std::to_string(snapshot::SnapshotRequest::kMaxParallel) + "]");
      }
      out.request.parallel = value.get<std::size_t>();
      out.parallelGiven = true;
    } else {
      return Status::invalidArgument("unknown field \"" + key +
                                     "\" (tables, where, chunkSize, rowsPerSecond, parallel)");
    }
  }
  if (out.tables.empty()) return Status::invalidArgument("\"tables\" is missing: say which tables to snapshot");
  return out;
}

namespace {

// GET /destinations/<name>/tables/<database>.<table>: the table's columns as the primary has them.
HttpResponse answerTableRequest(const std::string& method, const std::string& name, const std::string& qualified,
                                const DestinationManager& destinations) {
  if (method != "GET") return error(405, "a table's definition is read with GET");
  const auto dot = qualified.find('.');
  if (dot == std::string::npos || dot == 0 || dot + 1 == qualified.size()) {
    return error(400, "the table is named database.table, not '" + qualified + "'");
  }
  const auto snapshots = destinations.snapshots(name);
  if (!snapshots) return error(404, "destination " + name + " does not run on this server");
  auto definition = snapshots->describe(qualified.substr(0, dot), qualified.substr(dot + 1));
  if (!definition) {
    return error(definition.status().code() == StatusCode::kNotFound ? 404 : 503, definition.status().toString());
  }
  nlohmann::json columns = nlohmann::json::array();
  for (const auto& c : (*definition)->columns) {
    columns.push_back({{"name", c.name}, {"mysqlType", c.columnType}, {"isKey", c.isPrimaryKey}});
  }
  return reply(200, {{"database", (*definition)->database}, {"table", (*definition)->table}, {"columns", columns}});
}

}  // namespace

HttpResponse handleSnapshotRequest(const HttpRequest& request, const AdminLogin& admin,
                                   const DestinationManager& destinations) {
  // /destinations/<name>/snapshots, /destinations/<name>/tables/<database>.<table>
  const std::string prefix = "/destinations/";
  const std::string suffix = "/snapshots";
  const std::string tables = "/tables/";
  const auto tablesAt = request.path.find(tables, prefix.size());
  const bool isTable = tablesAt != std::string::npos && tablesAt > prefix.size();
  if (!isTable && (request.path.size() <= prefix.size() + suffix.size() ||
                   request.path.compare(request.path.size() - suffix.size(), suffix.size(), suffix) != 0)) {
    return error(404, "not found; snapshots are at /destinations/<name>/snapshots");
  }
  const std::string name = isTable ? request.path.substr(prefix.size(), tablesAt - prefix.size())
                                   : request.path.substr(prefix.size(), request.path.size() - prefix.size() - suffix.size());
  if (admin.passwordHash.empty()) {
    return error(403, "snapshots are requested as canal.admin.user; set canal.admin.passwd first");
  }
  if (!adminAuthorized(request.authorization, admin)) {
    return error(401, "HTTP Basic authentication as canal.admin.user is required");
  }
  if (isTable) return answerTableRequest(request.method, name, request.path.substr(tablesAt + tables.size()), destinations);
  return answerSnapshotRequest(request.method, name, request.body, destinations);
}

HttpResponse answerSnapshotRequest(const std::string& method, const std::string& name, const std::string& body,
                                   const DestinationManager& destinations) {
  const auto snapshots = destinations.snapshots(name);
  if (!snapshots) return error(404, "destination " + name + " does not run on this server");
  if (method == "GET") {
    const auto progress = snapshots->progress();
    if (!progress) return error(404, "destination " + name + " has had no snapshot yet");
    return HttpResponse{200, "application/json", progress->toJson() + "\n"};
  }
  if (method == "DELETE") {
    const auto progress = snapshots->progress();
    if (!progress || progress->state != "running") return error(404, "no snapshot of " + name + " is running");
    snapshots->cancel();
    return reply(200, {{"cancelled", true}, {"id", progress->id}});
  }
  if (method != "POST") return error(405, "GET, POST or DELETE");

  auto parsed = parseSnapshotBody(body);
  if (!parsed) return error(400, parsed.status().message());
  snapshot::SnapshotRequest r = std::move(parsed->request);
  const std::string& regex = parsed->tables;
  convert::TableFilterSpec spec;
  spec.regex = regex;
  auto filter = convert::TableFilter::create(spec);
  if (!filter) return error(400, "\"tables\": " + filter.status().message());
  const auto running = destinations.running(name);
  if (!running) return error(404, "destination " + name + " does not run on this server");
  if (!parsed->chunkSizeGiven) r.chunkSize = running->options().snapshotChunkSize;
  if (!parsed->parallelGiven) r.parallel = running->options().snapshotParallel;
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
  if (!started) {
    if (const auto progress = snapshots->progress(); progress && progress->state == "running") {
      return error(409, "snapshot " + std::to_string(progress->id) + " of " + name + " is running; DELETE it first");
    }
    return error(started.status().code() == StatusCode::kInvalidArgument ? 400 : 503, started.status().toString());
  }
  Json names = Json::array();
  for (const auto& [database, table] : *tables) names.push_back(database + "." + table);
  return reply(202, {{"id", *started}, {"tables", names}});
}

}  // namespace canal::app
