#include "tests/support/postgres_server.h"

#include <pwd.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <thread>

namespace canal::testing {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

// The newest installed server's bin directory (/usr/lib/postgresql/<version>/bin).
std::string serverBin() {
  std::vector<std::string> found;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator("/usr/lib/postgresql", ec)) {
    if (fs::exists(e.path() / "bin" / "postgres")) found.push_back((e.path() / "bin").string());
  }
  std::sort(found.begin(), found.end(), [](const std::string& a, const std::string& b) {
    return std::stoi(fs::path(a).parent_path().filename().string()) < std::stoi(fs::path(b).parent_path().filename().string());
  });
  return found.empty() ? "" : found.back();
}

// Gives `path` and everything under it to `user`.
void chownTree(const fs::path& path, uid_t uid, gid_t gid) {
  if (::chown(path.c_str(), uid, gid) != 0) return;
  std::error_code ec;
  for (const auto& e : fs::recursive_directory_iterator(path, ec)) {
    if (::lchown(e.path().c_str(), uid, gid) != 0) return;
  }
}

}  // namespace

Result<std::unique_ptr<PostgresServer>> PostgresServer::start() {
  std::unique_ptr<PostgresServer> server(new PostgresServer());
  server->bin_ = serverBin();
  if (server->bin_.empty()) {
    return Status::unavailable("PostgreSQL is not installed (/usr/lib/postgresql/*/bin/postgres missing; run "
                               "bin/install-deps.sh)");
  }
  server->dir_ = std::make_unique<TempDir>("canal-postgres");
  const fs::path root = server->dir_->path();
  fs::create_directories(root / "run");
  if (::geteuid() == 0) {
    const passwd* pg = ::getpwnam("postgres");
    if (!pg) return Status::unavailable("running as root, and there is no postgres user to run PostgreSQL as");
    chownTree(root, pg->pw_uid, pg->pw_gid);
  }
  std::string output;
  const int rc = runCommand(server->asServerUser({server->bin_ + "/initdb", "-D", (root / "data").string(), "-U", kUser,
                                                  "-A", "trust", "-E", "UTF8", "--locale=C", "-N"}),
                            &output);
  if (rc != 0) return Status::unavailable("initdb failed (" + std::to_string(rc) + "): " + output);
  CANAL_RETURN_IF_ERROR(server->launch());
  // The test database, created through the postgres database.
  if (Status s = PostgresClient(*server, "postgres").execute(std::string("CREATE DATABASE ") + kDatabase); !s) {
    return s.withContext("CREATE DATABASE test");
  }
  return server;
}

std::vector<std::string> PostgresServer::asServerUser(std::vector<std::string> argv) const {
  if (::geteuid() != 0) return argv;
  argv.insert(argv.begin(), {"setpriv", "--reuid=postgres", "--regid=postgres", "--clear-groups", "--"});
  return argv;
}

Status PostgresServer::launch() {
  const fs::path root = dir_->path();
  for (int attempt = 0; attempt < 20; ++attempt) {
    if (port_ == 0 || (attempt > 0 && attempt % 5 == 0)) port_ = freePort();
    CANAL_RETURN_IF_ERROR(process_.start(
        asServerUser({bin_ + "/postgres", "-D", (root / "data").string(), "-p", std::to_string(port_), "-k",
                      socketDir(), "-c", "listen_addresses=127.0.0.1", "-c", "max_connections=40", "-c",
                      "shared_buffers=32MB", "-c", "logging_collector=off"}),
        (root / ("postgres-" + std::to_string(attempt) + ".log")).string()));
    bool exited = false;
    const bool up = waitUntil(60s, [&] {
      if (!process_.running()) {
        exited = true;
        return true;
      }
      return PQping((conninfo("postgres") + " connect_timeout=2").c_str()) == PQPING_OK;
    });
    if (up && !exited) return Status::ok();
    const std::string log = process_.logTail();
    process_.stop();
    if (!up) return Status::unavailable("postgres did not accept connections within 60 s: " + log);
    // After a kill -9 the old server's backends may hold its shared memory a moment longer, or
    // another process took the port: start again.
    if (log.find("already in use") == std::string::npos && log.find("Address already") == std::string::npos &&
        log.find("lock file") == std::string::npos) {
      return Status::unavailable("postgres exited at start: " + log);
    }
    std::this_thread::sleep_for(200ms);
  }
  return Status::unavailable("postgres could not start: " + process_.logTail());
}

PostgresServer::~PostgresServer() { process_.stop(); }

std::string PostgresServer::conninfo(const std::string& database) const {
  return "host=" + socketDir() + " port=" + std::to_string(port_) + " user=" + kUser + " dbname=" + database;
}

PostgresClient::~PostgresClient() {
  if (conn_) PQfinish(conn_);
}

Status PostgresClient::connect() {
  if (conn_ && PQstatus(conn_) == CONNECTION_OK) return Status::ok();
  if (conn_) PQfinish(conn_);
  conn_ = PQconnectdb(server_.conninfo(database_).c_str());
  if (PQstatus(conn_) != CONNECTION_OK) {
    const std::string error = PQerrorMessage(conn_);
    PQfinish(conn_);
    conn_ = nullptr;
    return Status::unavailable("connecting to the test PostgreSQL's " + database_ + ": " + error);
  }
  return Status::ok();
}

Status PostgresClient::execute(const std::string& sql) {
  auto rows = query(sql);
  return rows.isOk() ? Status::ok() : rows.status();
}

Result<std::vector<std::vector<std::optional<std::string>>>> PostgresClient::query(const std::string& sql) {
  CANAL_RETURN_IF_ERROR(connect());
  std::unique_ptr<PGresult, void (*)(PGresult*)> r(PQexec(conn_, sql.c_str()), PQclear);
  const auto status = PQresultStatus(r.get());
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
    const std::string error = PQerrorMessage(conn_);
    if (PQstatus(conn_) != CONNECTION_OK) {
      PQfinish(conn_);
      conn_ = nullptr;
    }
    return Status::invalidArgument(error + " in: " + sql.substr(0, 200));
  }
  std::vector<std::vector<std::optional<std::string>>> out;
  for (int i = 0; i < PQntuples(r.get()); ++i) {
    auto& row = out.emplace_back();
    for (int j = 0; j < PQnfields(r.get()); ++j) {
      if (PQgetisnull(r.get(), i, j)) row.emplace_back();
      else row.emplace_back(std::string(PQgetvalue(r.get(), i, j), static_cast<std::size_t>(PQgetlength(r.get(), i, j))));
    }
  }
  return out;
}

}  // namespace canal::testing
