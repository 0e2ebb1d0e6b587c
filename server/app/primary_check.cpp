#include "server/app/primary_check.h"

#include "server/common/ascii.h"
#include "server/convert/table_filter.h"
#include "server/mysql/mysql_connection.h"
#include "server/snapshot/chunk_query.h"

namespace canal::app {
namespace {

// The value of a server variable ("" when the server has none by that name).
std::string variable(mysql::MysqlConnection& c, const std::string& name) {
  auto r = c.query("SHOW GLOBAL VARIABLES LIKE '" + name + "'");
  if (!r || r->rows.empty() || r->rows[0].size() < 2 || !r->rows[0][1]) return "";
  return *r->rows[0][1];
}

void checkOne(const mysql::ConnectOptions& server, const char* addressKey, const instance::DestinationOptions& o,
              const std::string& file, std::vector<std::string>& problems) {
  const std::string where = server.host + ":" + std::to_string(server.port) + " (" + addressKey + " in " + file + ")";
  auto connected = mysql::MysqlConnection::connect(server);
  if (!connected) {
    const bool denied = connected.status().message().find("error 1045") != std::string::npos;
    problems.push_back(where + ": " + connected.status().message() +
                       (denied ? " (canal.instance.dbUsername / canal.instance.dbPassword name the login)" : ""));
    return;
  }
  mysql::MysqlConnection& c = **connected;
  const std::string logBin = asciiLower(variable(c, "log_bin"));
  if (logBin != "on" && logBin != "1") problems.push_back(where + ": the binary log is off (log_bin = " + logBin + ")");
  const std::string format = asciiLower(variable(c, "binlog_format"));
  if (format != "row") {
    problems.push_back(where + ": binlog_format is " + format + "; row changes need ROW (SET GLOBAL binlog_format = ROW)");
  }
  const std::string image = asciiLower(variable(c, "binlog_row_image"));
  if (!image.empty() && image != "full") {
    problems.push_back(where + ": binlog_row_image is " + image +
                       "; with anything but FULL, columns a change did not touch arrive empty");
  }
  auto grants = c.query("SHOW GRANTS");
  if (grants) {
    std::string all;
    for (const auto& row : grants->rows) {
      if (!row.empty() && row[0]) all += asciiLower(*row[0]) + "\n";
    }
    const bool everything = all.find("grant all privileges on *.*") != std::string::npos;
    if (!everything && all.find("replication slave") == std::string::npos) {
      problems.push_back(where + ": user " + server.user + " lacks REPLICATION SLAVE (GRANT REPLICATION SLAVE ON *.* TO ...)");
    }
    if (!everything && all.find("replication client") == std::string::npos &&
        all.find("binlog monitor") == std::string::npos && all.find("super") == std::string::npos) {
      problems.push_back(where + ": user " + server.user +
                         " lacks REPLICATION CLIENT (BINLOG MONITOR on MariaDB 10.5+) to read the binlog position");
    }
  } else {
    problems.push_back(where + ": SHOW GRANTS: " + grants.status().message());
  }
  auto filter = convert::TableFilter::create(o.tableFilter);
  if (!filter) return;  // refused by the configuration check already
  auto tables = snapshot::matchingTables(c, **filter);
  if (!tables) {
    problems.push_back(where + ": listing the tables: " + tables.status().message());
  } else if (tables->empty()) {
    problems.push_back(where + ": canal.instance.filter.regex '" + o.tableFilter.regex + "' (in " + file +
                       ") matches no table there");
  }
}

}  // namespace

std::vector<std::string> checkPrimaries(const instance::DestinationOptions& options, const std::string& file) {
  std::vector<std::string> problems;
  checkOne(options.master, "canal.instance.master.address", options, file, problems);
  if (options.standby) checkOne(*options.standby, "canal.instance.standby.address", options, file, problems);
  return problems;
}

}  // namespace canal::app
