// Canal's Java producer settings (canal.properties kafka.*) as librdkafka settings.

#include <gtest/gtest.h>

#include "publish/kafka_publisher.h"

namespace canal::forwarder {
namespace {

TEST(KafkaSettingsTest, CanalsStockSettingsTranslate) {
  const std::map<std::string, std::string> stock = {
      {"bootstrap.servers", "127.0.0.1:9092"}, {"acks", "all"}, {"compression.type", "none"},
      {"batch.size", "16384"}, {"linger.ms", "1"}, {"max.request.size", "1048576"},
      {"buffer.memory", "33554432"}, {"max.in.flight.requests.per.connection", "1"}, {"retries", "0"},
      {"kerberos.enable", "false"}, {"kerberos.krb5.file", "../conf/kerberos/krb5.conf"},
      {"kerberos.jaas.file", "../conf/kerberos/jaas.conf"}};
  std::vector<std::string> warnings;
  auto out = publish::librdkafkaSettings(stock, &warnings);
  ASSERT_TRUE(out.isOk()) << out.status().toString();
  EXPECT_EQ(out->at("message.max.bytes"), "1048576");
  EXPECT_EQ(out->at("queue.buffering.max.kbytes"), "32768");
  EXPECT_EQ(out->at("retries"), "0");
  EXPECT_EQ(out->count("max.request.size"), 0u);
  EXPECT_EQ(out->count("kerberos.enable"), 0u);
  EXPECT_EQ(out->count("security.protocol"), 0u) << "Kerberos off adds nothing";
  EXPECT_TRUE(warnings.empty());
}

TEST(KafkaSettingsTest, JaasTextBecomesSaslCredentials) {
  std::vector<std::string> warnings;
  auto out = publish::librdkafkaSettings(
      {{"sasl.jaas.config",
        "org.apache.kafka.common.security.scram.ScramLoginModule required username=\"alice\" password=\"alice-secret\";"},
       {"sasl.mechanism", "SCRAM-SHA-512"},
       {"security.protocol", "SASL_PLAINTEXT"},
       {"key.serializer", "org.apache.kafka.common.serialization.StringSerializer"}},
      &warnings);
  ASSERT_TRUE(out.isOk()) << out.status().toString();
  EXPECT_EQ(out->at("sasl.username"), "alice");
  EXPECT_EQ(out->at("sasl.password"), "alice-secret");
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_NE(warnings[0].find("kafka.key.serializer"), std::string::npos) << warnings[0];
}

TEST(KafkaSettingsTest, UnknownAndJavaOnlySettingsAreRefusedByName) {
  auto unknown = publish::librdkafkaSettings({{"no.such.setting", "1"}}, nullptr);
  ASSERT_FALSE(unknown.isOk());
  EXPECT_NE(unknown.status().message().find("kafka.no.such.setting"), std::string::npos) << unknown.status().message();
  auto truststore = publish::librdkafkaSettings({{"ssl.truststore.location", "/x.jks"}}, nullptr);
  ASSERT_FALSE(truststore.isOk());
  EXPECT_NE(truststore.status().message().find("ssl.ca.location"), std::string::npos);
  auto badValue = publish::librdkafkaSettings({{"max.request.size", "lots"}}, nullptr);
  ASSERT_FALSE(badValue.isOk());
  EXPECT_NE(badValue.status().message().find("kafka.max.request.size (librdkafka message.max.bytes)"),
            std::string::npos)
      << badValue.status().message();
}

}  // namespace
}  // namespace canal::forwarder
