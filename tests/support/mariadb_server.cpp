#include "tests/support/mariadb_server.h"

#include <signal.h>

#include <mysql.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace canal::testing {
namespace {

using namespace std::chrono_literals;

using MysqlPtr = std::unique_ptr<MYSQL, void (*)(MYSQL*)>;

Result<MysqlPtr> connectRoot(const std::string& socket) {
  MysqlPtr conn(mysql_init(nullptr), mysql_close);
  if (!conn) return Status::internal("mysql_init failed");
  unsigned int timeout = 5;
  mysql_options(conn.get(), MYSQL_OPT_CONNECT_TIMEOUT, &timeout);
  if (!mysql_real_connect(conn.get(), nullptr, "root", nullptr, nullptr, 0, socket.c_str(), CLIENT_MULTI_STATEMENTS)) {
    return Status::unavailable(mysql_error(conn.get()), socket);
  }
  return conn;
}

// Connects as root and sends `sql`; the connection is returned for reading its results.
Result<MysqlPtr> runRoot(const std::string& socket, const std::string& sql) {
  auto conn = connectRoot(socket);
  if (!conn) return conn.status();
  if (mysql_real_query(conn->get(), sql.data(), sql.size()) != 0) {
    return Status::invalidArgument(std::string(mysql_error(conn->get())) + " in: " + sql);
  }
  return conn;
}

}  // namespace

Result<std::unique_ptr<MariaDbServer>> MariaDbServer::start(const MariaDbOptions& options) {
  std::unique_ptr<MariaDbServer> server(new MariaDbServer());
  server->options_ = options;
  server->dir_ = std::make_unique<TempDir>("canal-mariadb");
  const auto& root = server->dir_->path();
  server->dataDir_ = (root / "data").string();
  server->socket_ = (root / "mysqld.sock").string();
  // A private tmpdir: servers bootstrapping at the same time must not share temporary files.
  const std::string tmpDir = (root / "tmp").string();
  std::filesystem::create_directories(tmpDir);

  std::vector<std::string> install = {"mariadb-install-db", "--no-defaults", "--datadir=" + server->dataDir_,
                                      "--auth-root-authentication-method=normal", "--skip-test-db",
                                      "--skip-name-resolve", "--tmpdir=" + tmpDir};
  if (::geteuid() == 0) install.push_back("--user=root");
  std::string output;
  if (runCommand(install, &output) != 0) {
    return Status::unavailable("mariadb-install-db failed: " + output, server->dataDir_);
  }
  CANAL_RETURN_IF_ERROR(server->launch());

  const auto& o = server->options_;
  for (const std::string host : {"localhost", "127.0.0.1"}) {
    const std::string account = "'" + o.replicaUser + "'@'" + host + "'";
    CANAL_RETURN_IF_ERROR(server->execute("CREATE USER " + account + " IDENTIFIED BY '" + o.replicaPassword + "'"));
    CANAL_RETURN_IF_ERROR(server->execute("GRANT SELECT, REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO " + account));
    CANAL_RETURN_IF_ERROR(server->execute("CREATE USER IF NOT EXISTS 'root'@'" + host + "'"));
    CANAL_RETURN_IF_ERROR(server->execute("GRANT ALL ON *.* TO 'root'@'" + host + "' WITH GRANT OPTION"));
  }
  return server;
}

Status MariaDbServer::launch() {
  // Retry with a new port if another process took the one we picked.
  for (int attempt = 0; attempt < 3; ++attempt) {
    if (port_ == 0 || attempt > 0) port_ = freePort();
    std::vector<std::string> args = {"mariadbd",
                                     "--no-defaults",
                                     "--datadir=" + dataDir_,
                                     "--socket=" + socket_,
                                     "--port=" + std::to_string(port_),
                                     "--bind-address=127.0.0.1",
                                     "--pid-file=" + (dir_->path() / "mysqld.pid").string(),
                                     "--log-error=" + (dir_->path() / "error.log").string(),
                                     "--server-id=" + std::to_string(options_.serverId),
                                     "--log-bin=mysql-bin",
                                     "--binlog-format=" + options_.binlogFormat,
                                     "--binlog-row-image=" + options_.binlogRowImage,
                                     "--binlog-checksum=" + options_.binlogChecksum,
                                     "--skip-name-resolve",
                                     "--tmpdir=" + (dir_->path() / "tmp").string(),
                                     "--innodb-buffer-pool-size=32M",
                                     "--innodb-log-file-size=16M",
                                     "--performance-schema=OFF",
                                     "--max-connections=200"};
    if (::geteuid() == 0) args.push_back("--user=root");
    for (const auto& extra : options_.extraArgs) args.push_back(extra);
    CANAL_RETURN_IF_ERROR(process_.start(args, (dir_->path() / "mariadbd.out").string()));
    bool exited = false;
    const bool up = waitUntil(60s, [&] {
      if (!process_.running()) {
        exited = true;
        return true;
      }
      return connectRoot(socket_).isOk();
    });
    if (up && !exited) return Status::ok();
    process_.stop();
    if (!up) return Status::unavailable("mariadbd did not accept connections within 60 s: " + errorLog(), dataDir_);
    if (errorLog().find("Address already in use") == std::string::npos) {
      return Status::unavailable("mariadbd exited at start: " + errorLog(), dataDir_);
    }
  }
  return Status::unavailable("mariadbd could not bind a free port", dataDir_);
}

MariaDbServer::~MariaDbServer() {
  thaw();
  process_.stop();
}

void MariaDbServer::freeze() {
  if (process_.pid() > 0 && ::kill(process_.pid(), SIGSTOP) == 0) frozen_ = true;
}

void MariaDbServer::thaw() {
  if (frozen_ && process_.pid() > 0) ::kill(process_.pid(), SIGCONT);
  frozen_ = false;
}

Status MariaDbServer::execute(const std::string& sql) {
  auto conn = runRoot(socket_, sql);
  if (!conn) return conn.status();
  // Drain every result so the statements are complete; a later statement's error is reported.
  int more = 0;
  do {
    if (MYSQL_RES* res = mysql_store_result(conn->get())) mysql_free_result(res);
  } while ((more = mysql_next_result(conn->get())) == 0);
  if (more > 0) return Status::invalidArgument(std::string(mysql_error(conn->get())) + " in: " + sql);
  return Status::ok();
}

Result<MariaDbServer::BinlogEnd> MariaDbServer::binlogEnd() {
  auto rows = query("SHOW MASTER STATUS");
  if (!rows) return rows.status();
  if (rows->empty() || (*rows)[0].size() < 2 || !(*rows)[0][0] || !(*rows)[0][1]) {
    return Status::notFound("SHOW MASTER STATUS returned no binlog position (is log_bin on?)");
  }
  return BinlogEnd{*(*rows)[0][0], std::stoull(*(*rows)[0][1])};
}

std::string MariaDbServer::queryValue(const std::string& sql) {
  auto rows = query(sql);
  return rows.isOk() && !rows->empty() && !(*rows)[0].empty() && (*rows)[0][0] ? *(*rows)[0][0] : "";
}

Status MariaDbServer::replicateFrom(MariaDbServer& primary) {
  const std::string position = primary.queryValue("SELECT @@gtid_binlog_pos");
  CANAL_RETURN_IF_ERROR(execute("SET GLOBAL gtid_slave_pos = '" + position + "'"));
  CANAL_RETURN_IF_ERROR(execute("CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT=" + std::to_string(primary.port()) +
                                ", MASTER_USER='" + primary.options().replicaUser + "', MASTER_PASSWORD='" +
                                primary.options().replicaPassword + "', MASTER_USE_GTID=slave_pos"));
  return execute("START SLAVE");
}

Status MariaDbServer::waitCaughtUp(MariaDbServer& primary, std::chrono::milliseconds timeout) {
  const std::string primaryPosition = primary.queryValue("SELECT @@gtid_binlog_pos");
  if (waitUntil(timeout, [&] { return queryValue("SELECT @@gtid_slave_pos") == primaryPosition; })) return Status::ok();
  return Status::unavailable("replica at " + queryValue("SELECT @@gtid_slave_pos") + ", primary at " + primaryPosition);
}

Result<std::vector<std::vector<std::optional<std::string>>>> MariaDbServer::query(const std::string& sql) {
  auto conn = runRoot(socket_, sql);
  if (!conn) return conn.status();
  std::vector<std::vector<std::optional<std::string>>> rows;
  MYSQL_RES* res = mysql_store_result(conn->get());
  if (!res) return rows;
  const unsigned fields = mysql_num_fields(res);
  while (MYSQL_ROW row = mysql_fetch_row(res)) {
    const unsigned long* lengths = mysql_fetch_lengths(res);
    std::vector<std::optional<std::string>> out;
    for (unsigned i = 0; i < fields; ++i) {
      if (row[i]) out.emplace_back(std::string(row[i], lengths[i]));
      else out.emplace_back(std::nullopt);
    }
    rows.push_back(std::move(out));
  }
  mysql_free_result(res);
  return rows;
}

Status MariaDbServer::stop() {
  const int status = process_.stop(std::chrono::seconds(30));
  return status == 0 ? Status::ok() : Status::internal("mariadbd exit status " + std::to_string(status));
}

void MariaDbServer::kill() { process_.kill(); }

Status MariaDbServer::restart() {
  process_.stop();
  return launch();
}

std::string MariaDbServer::errorLog() const {
  std::ifstream in(dir_->path() / "error.log");
  std::stringstream text;
  text << in.rdbuf();
  std::string s = text.str();
  return s.size() > 4000 ? s.substr(s.size() - 4000) : s;
}

}  // namespace canal::testing
