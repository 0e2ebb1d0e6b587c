#include "forwarder/connect_check.h"

#include <librdkafka/rdkafka.h>
#include <mysql.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>

#include "forwarder/forwarder.h"
#include "forwarder/http_client.h"
#include "forwarder/rabbitmq/rabbitmq_sink.h"
#include "forwarder/redis/redis_sink.h"
#include "forwarder/sql/sql_sink.h"
#include "publish/rabbitmq_publisher.h"
#include "publish/table_pattern.h"

namespace canal::forwarder {
namespace {

using Json = nlohmann::json;

void checkSource(const ForwarderConfig& config, std::vector<std::string>& problems) {
  const SourceConfig& s = config.source;
  // One attempt, bounded: a check does not wait for a server to come.
  client::ConnectorOptions once;
  once.retries = 0;
  once.connectTimeout = std::chrono::seconds(5);
  once.failoverTimeout = std::chrono::seconds(10);
  auto connector = connectorFor(s, once);
  const client::Status connected = connector->connect();
  connector->disconnect();
  if (connected) return;
  const std::string key = s.zookeeper.empty() ? "source.address " + s.address : "source.zookeeper " + s.zookeeper;
  const bool login = connected.message().find("auth") != std::string::npos;
  problems.push_back(key + ": " + connected.message() + (login ? " (source.user / source.password)" : ""));
}

void checkElasticsearch(const std::string& at, const ElasticsearchSinkConfig& es, std::vector<std::string>& problems) {
  HttpOptions o;
  o.user = es.user;
  o.password = es.password;
  o.caFile = es.caFile;
  o.verifyTls = es.verifyTls;
  o.timeout = std::chrono::milliseconds(10000);
  auto http = HttpClient::create(o);
  if (!http) {
    problems.push_back(at + ".url " + es.url + ": " + http.status().message());
    return;
  }
  auto r = (*http)->request("GET", es.url + "/");
  const Json body = r ? Json::parse(r->body, nullptr, false) : Json();
  if (!r) {
    problems.push_back(at + ".url " + es.url + ": " + r.status().message());
  } else if (r->status == 401 || r->status == 403) {
    problems.push_back(at + ".url " + es.url + ": " + std::to_string(r->status) + " (" + at + ".user / " + at +
                       ".password)");
  } else if (r->status != 200 || !body.is_object() || !body.contains("version")) {
    problems.push_back(at + ".url " + es.url + ": not an Elasticsearch answer (" + std::to_string(r->status) + ")");
  }
  for (const auto& [alias, file] : es.reindex.indexFiles) {
    std::ifstream in(file);
    if (!in) {
      problems.push_back(at + ".reindex.indexes." + alias + " " + file + ": cannot be read");
      continue;
    }
    const Json index = Json::parse(in, nullptr, false);
    if (!index.is_object()) problems.push_back(at + ".reindex.indexes." + alias + " " + file + ": not a JSON object");
  }
  const ReindexConfig& rc = es.reindex;
  if (!rc.destination.empty() && !rc.snapshotUrl.empty()) {
    HttpOptions so;
    so.user = rc.snapshotUser;
    so.password = rc.snapshotPassword;
    so.timeout = std::chrono::milliseconds(10000);
    auto server = HttpClient::create(so);
    auto answer = server ? (*server)->request("GET", rc.snapshotUrl + "/destinations/" + rc.destination + "/snapshots")
                         : client::Result<HttpResponse>(server.status());
    if (!answer) {
      problems.push_back(at + ".reindex.snapshot_url " + rc.snapshotUrl + ": " + answer.status().message());
    } else if (answer->status == 401 || answer->status == 403) {
      problems.push_back(at + ".reindex.snapshot_password: canal-server answers " + std::to_string(answer->status) +
                         ": " + answer->body);
    } else if (answer->body.find("does not run on this server") != std::string::npos) {
      problems.push_back(at + ".reindex.destination " + rc.destination + ": " + answer->body);
    }
  }
}

// From the source database (when documents read one): the columns of each table the documents
// read, and a table for each of the mappings' expressions.
void checkSourceTables(const std::string& at, const ElasticsearchSinkConfig& es, std::vector<std::string>& problems) {
  if (es.documents.empty()) return;
  const DatabaseConfig& d = es.database;
  std::unique_ptr<MYSQL, decltype(&mysql_close)> db(mysql_init(nullptr), &mysql_close);
  const unsigned timeout = 10;
  mysql_options(db.get(), MYSQL_OPT_CONNECT_TIMEOUT, &timeout);
  if (!mysql_real_connect(db.get(), d.socket.empty() ? d.host.c_str() : nullptr, d.user.c_str(), d.password.c_str(),
                          nullptr, static_cast<unsigned>(d.port), d.socket.empty() ? nullptr : d.socket.c_str(), 0)) {
    problems.push_back(at + ".database " + (d.socket.empty() ? d.host + ":" + std::to_string(d.port) : d.socket) +
                       ": " + mysql_error(db.get()));
    return;
  }
  // schema.table -> its columns (empty: no such table).
  const auto columnsOf = [&](const std::string& table) {
    std::set<std::string> columns;
    const auto dot = table.find('.');
    if (dot == std::string::npos) return columns;
    std::string schema = table.substr(0, dot), name = table.substr(dot + 1);
    std::string escapedSchema(schema.size() * 2 + 1, '\0'), escapedName(name.size() * 2 + 1, '\0');
    escapedSchema.resize(mysql_real_escape_string(db.get(), escapedSchema.data(), schema.data(), schema.size()));
    escapedName.resize(mysql_real_escape_string(db.get(), escapedName.data(), name.data(), name.size()));
    const std::string sql = "SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = '" +
                            escapedSchema + "' AND TABLE_NAME = '" + escapedName + "'";
    if (mysql_query(db.get(), sql.c_str()) != 0) return columns;
    MYSQL_RES* result = mysql_store_result(db.get());
    if (!result) return columns;
    while (MYSQL_ROW row = mysql_fetch_row(result)) {
      if (row[0]) columns.insert(row[0]);
    }
    mysql_free_result(result);
    return columns;
  };
  // Every table of the source but the server's own schemas, as schema.table.
  std::vector<std::string> tables;
  if (mysql_query(db.get(), "SELECT CONCAT(TABLE_SCHEMA, '.', TABLE_NAME) FROM information_schema.TABLES WHERE "
                            "TABLE_SCHEMA NOT IN ('mysql', 'information_schema', 'performance_schema', 'sys')") == 0) {
    if (MYSQL_RES* result = mysql_store_result(db.get())) {
      while (MYSQL_ROW row = mysql_fetch_row(result)) {
        if (row[0]) tables.emplace_back(row[0]);
      }
      mysql_free_result(result);
    }
  }
  for (std::size_t i = 0; i < es.mappings.size(); ++i) {
    auto pattern = publish::TablePattern::create(es.mappings[i].table);
    if (!pattern) continue;  // refused by the configuration check already
    if (std::none_of(tables.begin(), tables.end(), [&](const std::string& t) { return pattern->matches(t); })) {
      problems.push_back(at + ".mappings[" + std::to_string(i) + "].table " + es.mappings[i].table +
                         ": matches no table on the source database");
    }
  }
  for (std::size_t i = 0; i < es.documents.size(); ++i) {
    const DocumentMapping& m = es.documents[i];
    const std::string key = at + ".documents[" + std::to_string(i) + "]";
    const auto main = columnsOf(m.table);
    if (main.empty()) {
      problems.push_back(key + ".table " + m.table + ": no such table on the source database");
      continue;
    }
    for (const std::string& c : m.id) {
      if (!main.count(c)) problems.push_back(key + ".id: " + m.table + " has no column " + c);
    }
    if (!m.routing.empty() && !main.count(m.routing)) {
      problems.push_back(key + ".routing: " + m.table + " has no column " + m.routing);
    }
    for (std::size_t j = 0; j < m.joins.size(); ++j) {
      const DocumentJoin& join = m.joins[j];
      const std::string joinKey = key + ".joins[" + std::to_string(j) + "]";
      const auto joined = columnsOf(join.table);
      if (joined.empty()) {
        problems.push_back(joinKey + ".table " + join.table + ": no such table on the source database");
        continue;
      }
      for (const auto& [mainColumn, joinedColumn] : join.on) {
        if (!main.count(mainColumn)) problems.push_back(joinKey + ".on: " + m.table + " has no column " + mainColumn);
        if (!joined.count(joinedColumn)) {
          problems.push_back(joinKey + ".on: " + join.table + " has no column " + joinedColumn);
        }
      }
    }
  }
}

void checkKafka(const std::string& at, const KafkaSinkConfig& k, std::vector<std::string>& problems) {
  char error[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  rd_kafka_conf_set(conf, "bootstrap.servers", k.brokers.c_str(), error, sizeof error);
  for (const auto& [name, value] : k.properties) {
    if (rd_kafka_conf_set(conf, name.c_str(), value.c_str(), error, sizeof error) != RD_KAFKA_CONF_OK) {
      problems.push_back(at + ".properties." + name + ": " + error);
      rd_kafka_conf_destroy(conf);
      return;
    }
  }
  // The client's own log lines (a broker refusing connections, every second) are not the check's.
  rd_kafka_conf_set_log_cb(conf, [](const rd_kafka_t*, int, const char*, const char*) {});
  rd_kafka_t* producer = rd_kafka_new(RD_KAFKA_PRODUCER, conf, error, sizeof error);
  if (!producer) {
    problems.push_back(at + ": " + error);
    return;
  }
  const rd_kafka_metadata_t* metadata = nullptr;
  const rd_kafka_resp_err_t err = rd_kafka_metadata(producer, 0, nullptr, &metadata, 5000);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    problems.push_back(at + ".brokers " + k.brokers + ": " + rd_kafka_err2str(err));
  } else {
    rd_kafka_metadata_destroy(metadata);
  }
  rd_kafka_destroy(producer);
}

void checkRedis(const std::string& at, const RedisSinkConfig& r, std::vector<std::string>& problems) {
  // The connection the sink opens: the login, the database and the write script.
  auto sink = RedisSink::create("check", r, [](const std::string&) {});
  const client::Status s = sink ? (*sink)->connect() : sink.status();
  if (s) return;
  const bool login = s.message().find("authentication refused") != std::string::npos;
  problems.push_back(at + (login ? ".password" : ".host") + ": " + s.message());
}

void checkRabbitMq(const std::string& at, const RabbitMqSinkConfig& r, std::vector<std::string>& problems) {
  publish::RabbitMqOptions o = publisherOptions(r);
  o.timeout = std::chrono::milliseconds(10000);
  auto publisher = publish::RabbitMqPublisher::create(o);
  // Nothing to send: the connection, the login and the declarations (as the sink makes them).
  const client::Status s = publisher ? (*publisher)->publish({}) : publisher.status();
  if (!s) problems.push_back(at + " (" + r.host + "): " + s.message());
}

void checkSql(const std::string& at, const SqlSinkConfig& c, const std::string& name, std::vector<std::string>& problems) {
  // The connection the sink opens: the login, the database, the position table.
  auto sink = SqlSink::create(name, c, [](const std::string&) {});
  const client::Status s = sink ? (*sink)->connect() : sink.status();
  if (!s) problems.push_back(at + " (" + (c.unixSocket.empty() ? c.host : c.unixSocket) + "): " + s.message());
}

}  // namespace

std::vector<std::string> checkConnections(const ForwarderConfig& config) {
  std::vector<std::string> problems;
  checkSource(config, problems);
  for (std::size_t i = 0; i < config.sinks.size(); ++i) {
    const SinkConfig& s = config.sinks[i];
    const std::string at = "sinks[" + std::to_string(i) + "]";
    switch (s.kind) {
      case SinkConfig::Kind::kKafka:
        checkKafka(at + ".kafka", s.kafka, problems);
        break;
      case SinkConfig::Kind::kRedis:
        checkRedis(at + ".redis", s.redis, problems);
        break;
      case SinkConfig::Kind::kRabbitMq:
        checkRabbitMq(at + ".rabbitmq", s.rabbitMq, problems);
        break;
      case SinkConfig::Kind::kSql:
        checkSql(at + ".sql", s.sql, s.name, problems);
        break;
      default:
        checkElasticsearch(at + ".elasticsearch", s.elasticsearch, problems);
        checkSourceTables(at + ".elasticsearch", s.elasticsearch, problems);
        break;
    }
  }
  return problems;
}

}  // namespace canal::forwarder
