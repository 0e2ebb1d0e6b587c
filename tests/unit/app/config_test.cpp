#include "server/app/config.h"

#include <gtest/gtest.h>

#include <map>

#include "tests/support/fixtures.h"

namespace canal::app {
namespace {

PropertiesFile props(std::string_view text, const std::string& name) {
  auto r = PropertiesFile::parse(text, name);
  EXPECT_TRUE(r.isOk()) << r.status().toString();
  return std::move(r).value();
}

EnvLookup noEnv() {
  return [](const std::string&) -> std::optional<std::string> { return std::nullopt; };
}

// docs/configuration.md carries the output of `canal-server --list-keys`.
TEST(Config, TheKeyReferenceInTheDocsIsCurrent) {
  const std::string doc = testing::readFile(std::string(CANAL_SOURCE_DIR) + "/docs/configuration.md");
  const std::string begin = "<!-- keys:begin -->\n```text\n";
  const std::string end = "```\n<!-- keys:end -->";
  const auto from = doc.find(begin);
  const auto to = doc.find(end);
  ASSERT_NE(from, std::string::npos);
  ASSERT_NE(to, std::string::npos);
  EXPECT_EQ(doc.substr(from + begin.size(), to - from - begin.size()), describeKeys())
      << "regenerate the reference in docs/configuration.md with build/bin/canal-server --list-keys";
}

TEST(Config, ShippedFilesLoadWithoutWarnings) {
  const std::string root = CANAL_SOURCE_DIR;
  auto canal = PropertiesFile::load(root + "/conf/canal.properties");
  ASSERT_TRUE(canal.isOk()) << canal.status().toString();
  auto instance = PropertiesFile::load(root + "/conf/example/instance.properties");
  ASSERT_TRUE(instance.isOk()) << instance.status().toString();
  Warnings warnings;
  auto server = loadServerConfig(*canal, noEnv(), &warnings);
  ASSERT_TRUE(server.isOk()) << server.status().toString();
  EXPECT_EQ(server->port, 11111);
  EXPECT_EQ(server->metricsPort, 11112);
  EXPECT_EQ(server->destinations, std::vector<std::string>{"example"});
  EXPECT_EQ(server->globalInstanceMode, InstanceMode::kFile);
  EXPECT_EQ(server->fileDataDir, "../data") << "apart from the configuration";
  auto example = loadInstanceConfig("example", *server, *canal, *instance, &warnings);
  ASSERT_TRUE(example.isOk()) << example.status().toString();
  EXPECT_EQ(example->master.address, "127.0.0.1:3306");
  EXPECT_FALSE(example->master.position.has_value());
  EXPECT_EQ(example->filterRegex, ".*\\..*");
  EXPECT_EQ(example->filterBlackRegex, "mysql\\.slave_.*");
  EXPECT_EQ(example->bufferSize, 16384);
  EXPECT_EQ(example->batchMode, BatchMode::kMemSize);
  EXPECT_TRUE(warnings.empty()) << warnings.front();
}

TEST(Config, DefaultsComeFromTheKeyTable) {
  auto server = loadServerConfig(props("", "canal.properties"), noEnv(), nullptr);
  ASSERT_TRUE(server.isOk()) << server.status().toString();
  EXPECT_EQ(server->port, 11111);
  EXPECT_EQ(server->confDir, "../conf");
  EXPECT_TRUE(server->autoScan);
  auto instance = loadInstanceConfig("d1", *server, props("", "canal.properties"), props("", "instance.properties"), nullptr);
  ASSERT_TRUE(instance.isOk()) << instance.status().toString();
  EXPECT_EQ(instance->dbUsername, "canal");
  EXPECT_EQ(instance->bufferMemUnit, 1024);
  EXPECT_EQ(instance->acceptedBinlogImages, (std::vector<std::string>{"FULL", "MINIMAL", "NOBLOB"}));
}

TEST(Config, BadValueNamesFileLineAndKey) {
  auto server = loadServerConfig(props("canal.port = 11111\n\ncanal.port = 70000\n", "conf/canal.properties"), noEnv(), nullptr);
  ASSERT_FALSE(server.isOk());
  EXPECT_EQ(server.status().where(), "conf/canal.properties:3");
  EXPECT_NE(server.status().message().find("canal.port"), std::string::npos);
  EXPECT_NE(server.status().message().find("out of range"), std::string::npos);

  auto s = loadServerConfig(props("", "canal.properties"), noEnv(), nullptr);
  ASSERT_TRUE(s.isOk());
  auto notPow2 = loadInstanceConfig("d", *s, props("", "canal.properties"),
                                    props("a=1\ncanal.instance.memory.buffer.size = 1000\n", "conf/d/instance.properties"), nullptr);
  ASSERT_FALSE(notPow2.isOk());
  EXPECT_EQ(notPow2.status().toString(),
            "InvalidArgument: conf/d/instance.properties:2: canal.instance.memory.buffer.size: '1000' is not a power of 2");

  auto badBool = loadInstanceConfig("d", *s, props("canal.instance.gtidon = yes\n", "canal.properties"),
                                    props("", "instance.properties"), nullptr);
  ASSERT_FALSE(badBool.isOk());
  EXPECT_EQ(badBool.status().where(), "canal.properties:1");

  auto badAddress = loadInstanceConfig("d", *s, props("", "c"), props("canal.instance.master.address = db", "i"), nullptr);
  ASSERT_FALSE(badAddress.isOk());
  EXPECT_NE(badAddress.status().message().find("host:port"), std::string::npos);

  auto badMode = loadInstanceConfig("d", *s, props("", "c"), props("canal.instance.memory.batch.mode = BYTES", "i"), nullptr);
  ASSERT_FALSE(badMode.isOk());
  EXPECT_NE(badMode.status().message().find("MEMSIZE|ITEMSIZE"), std::string::npos);
}

TEST(Config, UnknownKeysAreWarnedByName) {
  Warnings warnings;
  auto server = loadServerConfig(props("canal.port=1\ncanal.prot = 2\nkafka.acks = all\ncanal.instance.example.lazy = true\n",
                                       "canal.properties"),
                                 noEnv(), &warnings);
  ASSERT_TRUE(server.isOk());
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_EQ(warnings[0], "canal.properties:2: unknown key 'canal.prot'");

  warnings.clear();
  auto instance = loadInstanceConfig("d", *server, props("", "c"),
                                     props("canal.instance.master.adress = x\ncanal.port = 3\n", "i"), &warnings);
  ASSERT_TRUE(instance.isOk());
  ASSERT_EQ(warnings.size(), 2u);
  EXPECT_EQ(warnings[0], "i:1: unknown key 'canal.instance.master.adress'");
  EXPECT_NE(warnings[1].find("server key"), std::string::npos);
}

TEST(Config, InstanceFileOverridesCanalProperties) {
  auto server = loadServerConfig(props("", "c"), noEnv(), nullptr);
  ASSERT_TRUE(server.isOk());
  auto canal = props("canal.instance.memory.buffer.size = 1024\ncanal.instance.filter.rows = true\n", "c");
  auto instance = loadInstanceConfig("d", *server, canal,
                                     props("canal.instance.memory.buffer.size = 4096\ncanal.instance.filter.rows =\n"
                                           "canal.instance.master.position = 154\ncanal.instance.master.journal.name = mysql-bin.000001\n",
                                           "i"),
                                     nullptr);
  ASSERT_TRUE(instance.isOk()) << instance.status().toString();
  EXPECT_EQ(instance->bufferSize, 4096);
  EXPECT_TRUE(instance->filterRows);  // an empty value counts as unset
  EXPECT_EQ(instance->master.position, 154);
  EXPECT_EQ(instance->master.journalName, "mysql-bin.000001");
}

TEST(Config, EnvironmentOverridesServerKeys) {
  std::map<std::string, std::string> env = {{"canal.port", "12345"}};
  EnvLookup lookup = [&](const std::string& k) -> std::optional<std::string> {
    auto it = env.find(k);
    if (it == env.end()) return std::nullopt;
    return it->second;
  };
  auto server = loadServerConfig(props("canal.port = 11111\n", "c"), lookup, nullptr);
  ASSERT_TRUE(server.isOk());
  EXPECT_EQ(server->port, 12345);
  env["canal.port"] = "x";
  auto bad = loadServerConfig(props("", "c"), lookup, nullptr);
  ASSERT_FALSE(bad.isOk());
  EXPECT_EQ(bad.status().where(), "environment variable canal.port");
}

TEST(Config, Placeholders) {
  auto server = loadServerConfig(props("canal.conf.dir = /etc/canal\ncanal.file.data.dir = ${canal.conf.dir}/data\n", "c"),
                                 noEnv(), nullptr);
  ASSERT_TRUE(server.isOk()) << server.status().toString();
  EXPECT_EQ(server->fileDataDir, "/etc/canal/data");
  auto instance = loadInstanceConfig("orders", *server, props("", "c"),
                                     props("canal.instance.defaultDatabaseName = ${canal.instance.destination}\n"
                                           "canal.instance.detecting.sql = ${missing:select 2}\n",
                                           "i"),
                                     nullptr);
  ASSERT_TRUE(instance.isOk()) << instance.status().toString();
  EXPECT_EQ(instance->defaultDatabaseName, "orders");
  EXPECT_EQ(instance->detectingSql, "select 2");
  auto unresolved = loadInstanceConfig("d", *server, props("", "c"), props("canal.instance.detecting.sql = ${nope}\n", "i"), nullptr);
  ASSERT_FALSE(unresolved.isOk());
  EXPECT_NE(unresolved.status().message().find("${nope}"), std::string::npos);
}

TEST(Config, UserWithoutPasswordIsRefused) {
  auto r = loadServerConfig(props("canal.user = canal\n", "c"), noEnv(), nullptr);
  ASSERT_FALSE(r.isOk());
  EXPECT_NE(r.status().message().find("canal.passwd"), std::string::npos);
  auto badHash = loadServerConfig(props("canal.user = canal\ncanal.passwd = canal\n", "c"), noEnv(), nullptr);
  ASSERT_FALSE(badHash.isOk());
  EXPECT_EQ(badHash.status().where(), "c:2");
  auto ok = loadServerConfig(props("canal.user = canal\ncanal.passwd = E3619321C1A937C46A0D8BD1DAC39F93B27D4458\n", "c"),
                             noEnv(), nullptr);
  EXPECT_TRUE(ok.isOk()) << ok.status().toString();
}

TEST(Config, ModesAndPerDestinationOverride) {
  auto canal = props("canal.instance.global.spring.xml = classpath:spring/memory-instance.xml\n"
                     "canal.instance.orders.spring.xml = classpath:spring/default-instance.xml\n",
                     "c");
  auto server = loadServerConfig(canal, noEnv(), nullptr);
  ASSERT_TRUE(server.isOk()) << server.status().toString();
  EXPECT_EQ(server->globalInstanceMode, InstanceMode::kMemory);
  auto orders = loadInstanceConfig("orders", *server, canal, props("", "i"), nullptr);
  ASSERT_TRUE(orders.isOk());
  EXPECT_EQ(orders->mode, InstanceMode::kDefault);
  auto other = loadInstanceConfig("other", *server, canal, props("", "i"), nullptr);
  ASSERT_TRUE(other.isOk());
  EXPECT_EQ(other->mode, InstanceMode::kMemory);
  auto unsupported = loadServerConfig(props("canal.serverMode = rocketMQ\n", "c"), noEnv(), nullptr);
  ASSERT_FALSE(unsupported.isOk());
  EXPECT_NE(unsupported.status().message().find("'rocketMQ' is not one of tcp|kafka|rabbitMQ (rocketMQ and pulsarMQ are not supported"),
            std::string::npos)
      << unsupported.status().message();
}

// Canal's MQ keys as Canal reads them: kafka.* passed on (1.1.4 names too), no client port,
// BEGIN/END dropped unless the file says otherwise, a topic required.
TEST(Config, MqModeKeys) {
  const auto canal = props("canal.serverMode = Kafka\nkafka.bootstrap.servers = k1:9092\nkafka.acks = all\n"
                           "canal.mq.lingerMs = 7\ncanal.mq.flatMessage = false\ncanal.mq.canalBatchSize = 20\n"
                           "rabbitmq.host = r1\nrabbitmq.password = secret\n",
                           "c");
  auto server = loadServerConfig(canal, noEnv(), nullptr);
  ASSERT_TRUE(server.isOk()) << server.status().toString();
  EXPECT_EQ(server->serverMode, ServerMode::kKafka);
  EXPECT_TRUE(server->withoutNetty);
  EXPECT_FALSE(server->mqFlatMessage);
  EXPECT_EQ(server->mqCanalBatchSize, 20);
  EXPECT_EQ(server->kafka.at("bootstrap.servers"), "k1:9092");
  EXPECT_EQ(server->kafka.at("acks"), "all");
  EXPECT_EQ(server->kafka.at("linger.ms"), "7");
  EXPECT_EQ(server->rabbitMq.host, "r1");
  EXPECT_EQ(server->rabbitMq.password, "secret");
  auto instance = loadInstanceConfig("example", *server, canal, props("canal.mq.topic = t\ncanal.mq.partitionsNum = 3\n", "i"), nullptr);
  ASSERT_TRUE(instance.isOk()) << instance.status().toString();
  EXPECT_TRUE(instance->filterTransactionEntry);
  EXPECT_EQ(instance->mqPartitionsNum, 3);
  EXPECT_EQ(instance->mqPositionTopic, "canal_mq_positions");
  auto kept = loadInstanceConfig("example", *server, canal,
                                 props("canal.mq.topic = t\ncanal.instance.filter.transaction.entry = false\n", "i"), nullptr);
  ASSERT_TRUE(kept.isOk());
  EXPECT_FALSE(kept->filterTransactionEntry);
  auto noTopic = loadInstanceConfig("example", *server, canal, props("", "i"), nullptr);
  ASSERT_FALSE(noTopic.isOk());
  EXPECT_NE(noTopic.status().message().find("canal.mq.topic is empty"), std::string::npos);
  auto tcp = loadServerConfig(props("", "c"), noEnv(), nullptr);
  ASSERT_TRUE(tcp.isOk());
  EXPECT_FALSE(tcp->withoutNetty);
}

TEST(Config, DestinationExpression) {
  auto server = loadServerConfig(props("canal.destinations.expr = shard{1-3}\n", "c"), noEnv(), nullptr);
  ASSERT_TRUE(server.isOk());
  auto names = destinationNames(*server);
  ASSERT_TRUE(names.isOk());
  EXPECT_EQ(*names, (std::vector<std::string>{"shard1", "shard2", "shard3"}));
  for (const char* bad : {"shard", "shard{3-1}", "shard{a-2}", "s{1-2}{3-4}"}) {
    auto s = loadServerConfig(props(std::string("canal.destinations.expr = ") + bad + "\n", "c"), noEnv(), nullptr);
    ASSERT_TRUE(s.isOk());
    EXPECT_FALSE(destinationNames(*s).isOk()) << bad;
  }
}

TEST(Config, DescribeKeysHidesSecrets) {
  const std::string text = describeKeys();
  EXPECT_NE(text.find("canal.instance.memory.buffer.size"), std::string::npos);
  EXPECT_NE(text.find("canal.instance.dbPassword  (secret, default '****')"), std::string::npos);
  EXPECT_EQ(text.find("default 'canal')\n      database password"), std::string::npos);
}

}  // namespace
}  // namespace canal::app
