// Byte-exact encoding and decoding of Canal packets and entries, against the bytes Canal's own
// classes write: handshake, authentication, ACK and MESSAGES frames and a Java client's session
// (docs/protocol.md), and the entries of one UPDATE transaction.

#include <gtest/gtest.h>

#include "canal/protocol/password_scramble.h"

#include "canal/protocol/canal_protocol.pb.h"
#include "canal/protocol/entry_protocol.pb.h"
#include "canal/protocol/frame_codec.h"
#include "tests/support/hex.h"

namespace canal::protocol {
namespace {

using namespace canal::protocol::packet;
using namespace canal::protocol::entry;
using canal::testing::fromHex;
using canal::testing::toHex;

std::string serialize(const google::protobuf::MessageLite& m) {
  std::string out;
  EXPECT_TRUE(m.SerializeToString(&out));
  return out;
}

packet::Packet serverPacket(packet::PacketType type, const google::protobuf::MessageLite* body) {
  Packet p;
  p.set_version(1);
  p.set_type(type);
  if (body) p.set_body(serialize(*body));
  return p;
}

TEST(ProtocolBytes, HandshakeFrame) {
  Handshake h;
  h.set_seeds(fromHex("01 02 03 04 05 06 07 08"));
  const std::string frame = encodeFrame(serialize(serverPacket(HANDSHAKE, &h)));
  EXPECT_EQ(toHex(frame), toHex(fromHex("00 00 00 10 | 10 01 18 01 2a 0a 12 08 01 02 03 04 05 06 07 08")));
}

TEST(ProtocolBytes, ClientAuthFromJavaClientDecodes) {
  Packet p;
  ASSERT_TRUE(p.ParseFromString(fromHex("18 02 2a 0a 18 80 dd db 01 20 80 dd db 01")));
  EXPECT_EQ(p.type(), CLIENTAUTHENTICATION);
  EXPECT_FALSE(p.has_version());
  ClientAuth auth;
  ASSERT_TRUE(auth.ParseFromString(p.body()));
  EXPECT_EQ(auth.username(), "");
  EXPECT_EQ(auth.password(), "");
  ASSERT_TRUE(auth.has_net_read_timeout());
  EXPECT_EQ(auth.net_read_timeout(), 3600000);
  EXPECT_EQ(auth.net_write_timeout(), 3600000);
  // Re-encoding gives the same bytes (field order and presence as the Java client).
  EXPECT_EQ(toHex(serialize(p)), "18 02 2a 0a 18 80 dd db 01 20 80 dd db 01");
}

TEST(ProtocolBytes, AckOkIsVersionAndTypeOnly) {
  Ack ack;
  EXPECT_EQ(serialize(ack), "");
  EXPECT_EQ(toHex(encodeFrame(serialize(serverPacket(ACK, &ack)))), "00 00 00 04 10 01 18 03");
}

TEST(ProtocolBytes, AckError) {
  Ack ack;
  ack.set_error_code(400);
  ack.set_error_message("auth failed for user:x");
  EXPECT_EQ(toHex(serialize(serverPacket(ACK, &ack))),
            toHex(fromHex("10 01 18 03 2a 1b 08 90 03 12 16 61 75 74 68 20 66 61 69 6c 65 64 20 66 6f 72 20 75 "
                          "73 65 72 3a 78")));
}

TEST(ProtocolBytes, OneofMembersAreWrittenEvenWhenZero) {
  Ack ack;
  ack.set_error_code(0);  // explicitly set: on the wire, unlike a plain proto3 field
  EXPECT_EQ(toHex(serialize(ack)), "08 00");
  Get get;
  get.set_auto_ack(false);
  EXPECT_EQ(toHex(serialize(get)), "30 00");
}

TEST(ProtocolBytes, RollbackAndSubscriptionFromJavaClient) {
  ClientRollback rollback;
  rollback.set_destination("example");
  rollback.set_client_id("1001");
  Packet p;
  p.set_type(CLIENTROLLBACK);
  p.set_body(serialize(rollback));
  EXPECT_EQ(toHex(serialize(p)), toHex(fromHex("18 0c 2a 0f 0a 07") + "example" + fromHex("12 04") + "1001"));

  Sub sub;
  sub.set_destination("example");
  sub.set_client_id("1001");
  Packet s;
  s.set_type(SUBSCRIPTION);
  s.set_body(serialize(sub));
  EXPECT_EQ(toHex(serialize(s)), toHex(fromHex("18 04 2a 0f 0a 07") + "example" + fromHex("12 04") + "1001"));
}

TEST(ProtocolBytes, GetFromJavaClient) {
  const std::string wire = fromHex("18 06 2a 20 0a 07") + "example" + fromHex("12 04") + "1001" +
                           fromHex("18 64 20 ff ff ff ff ff ff ff ff ff 01 28 02 30 00");
  Packet p;
  ASSERT_TRUE(p.ParseFromString(wire));
  ASSERT_EQ(p.type(), GET);
  Get get;
  ASSERT_TRUE(get.ParseFromString(p.body()));
  EXPECT_EQ(get.destination(), "example");
  EXPECT_EQ(get.client_id(), "1001");
  EXPECT_EQ(get.fetch_size(), 100);
  ASSERT_TRUE(get.has_timeout());
  EXPECT_EQ(get.timeout(), -1);
  EXPECT_EQ(get.unit(), 2);
  ASSERT_TRUE(get.has_auto_ack());
  EXPECT_FALSE(get.auto_ack());
  EXPECT_EQ(toHex(serialize(p)), toHex(wire));
}

TEST(ProtocolBytes, ClientAckFromJavaClient) {
  ClientAck ack;
  ack.set_destination("example");
  ack.set_client_id("1001");
  ack.set_batch_id(5);
  Packet p;
  p.set_type(CLIENTACK);
  p.set_body(serialize(ack));
  EXPECT_EQ(toHex(serialize(p)), toHex(fromHex("18 08 2a 11 0a 07") + "example" + fromHex("12 04") + "1001" + fromHex("18 05")));
}

TEST(ProtocolBytes, EmptyBatchFrame) {
  Messages m;
  m.set_batch_id(-1);
  EXPECT_EQ(toHex(encodeFrame(serialize(serverPacket(MESSAGES, &m)))),
            "00 00 00 11 10 01 18 07 2a 0b 08 ff ff ff ff ff ff ff ff ff 01");
}

TEST(ProtocolBytes, RawMessagesPacketHasNoVersion) {
  Messages m;
  m.set_batch_id(1);
  m.add_messages("ab");
  Packet p;
  p.set_type(MESSAGES);
  p.set_body(serialize(m));
  EXPECT_EQ(toHex(serialize(p)), "18 07 2a 06 08 01 12 02 61 62");
}

// Builds the header of the worked UPDATE (file mysql-bin.000003, server 1) for an event at `offset` of `length` bytes.
Header workedHeader(std::int64_t offset, std::int64_t length) {
  Header h;
  h.set_version(1);
  h.set_logfilename("mysql-bin.000003");
  h.set_logfileoffset(offset);
  h.set_serverid(1);
  h.set_serverencode("UTF-8");
  h.set_executetime(1700000000000LL);
  h.set_sourcetype(MYSQL);
  h.set_schemaname("");
  h.set_tablename("");
  h.set_eventlength(length);
  return h;
}

TEST(EntryBytes, TransactionBegin) {
  Entry e;
  *e.mutable_header() = workedHeader(1279, 80);
  e.set_entrytype(TRANSACTIONBEGIN);
  TransactionBegin begin;
  begin.set_threadid(42);
  e.set_storevalue(serialize(begin));
  const std::string expected = fromHex("0a 2f 08 01 12 10") + "mysql-bin.000003" +
                               fromHex("18 ff 09 20 01 2a 05") + "UTF-8" +
                               fromHex("30 80 d0 95 ff bc 31 38 02 42 00 4a 00 50 50 10 01 1a 02 20 2a");
  EXPECT_EQ(toHex(serialize(e)), toHex(expected));

  // A Java client reading the header sees eventType UPDATE (the proto2 default) while the field
  // is absent, and the explicit empty schema name is present.
  Entry parsed;
  ASSERT_TRUE(parsed.ParseFromString(expected));
  EXPECT_FALSE(parsed.header().has_eventtype());
  EXPECT_EQ(parsed.header().eventtype(), UPDATE);
  EXPECT_TRUE(parsed.header().has_schemaname());
}

Column column(int index, int sqlType, const std::string& name, bool key, bool updated, const char* value,
              const std::string& mysqlType) {
  Column c;
  c.set_index(index);
  c.set_sqltype(sqlType);
  c.set_name(name);
  c.set_iskey(key);
  c.set_updated(updated);
  c.set_isnull(value == nullptr);
  if (value) c.set_value(value);
  c.set_mysqltype(mysqlType);
  return c;
}

TEST(EntryBytes, WorkedUpdate) {
  Header h = workedHeader(1455, 75);
  h.set_schemaname("test");
  h.set_tablename("user");
  h.set_eventtype(UPDATE);
  Pair* rows = h.add_props();
  rows->set_key("rowsCount");
  rows->set_value("1");
  EXPECT_EQ(toHex(serialize(h)),
            toHex(fromHex("08 01 12 10 6d 79 73 71 6c 2d 62 69 6e 2e 30 30 30 30 30 33 18 af 0b 20 01 2a 05 55 54 46 "
                          "2d 38 30 80 d0 95 ff bc 31 38 02 42 04 74 65 73 74 4a 04 75 73 65 72 50 4b 58 02 62 0e 0a "
                          "09 72 6f 77 73 43 6f 75 6e 74 12 01 31")));

  RowChange change;
  change.set_tableid(108);
  change.set_eventtype(UPDATE);
  change.set_isddl(false);
  RowData* row = change.add_rowdatas();
  *row->add_beforecolumns() = column(0, 4, "id", true, false, "1", "int(11)");
  *row->add_beforecolumns() = column(1, 12, "name", false, false, "foo", "varchar(32)");
  *row->add_beforecolumns() = column(2, 3, "balance", false, false, "1.50", "decimal(10,2)");
  *row->add_beforecolumns() = column(3, 2005, "remark", false, false, nullptr, "text");
  *row->add_aftercolumns() = column(0, 4, "id", true, false, "1", "int(11)");
  *row->add_aftercolumns() = column(1, 12, "name", false, true, "bar", "varchar(32)");
  *row->add_aftercolumns() = column(2, 3, "balance", false, false, "1.50", "decimal(10,2)");
  *row->add_aftercolumns() = column(3, 2005, "remark", false, false, nullptr, "text");

  const std::string bytes = serialize(change);
  const std::string prefix = fromHex("08 6c 10 02 50 00 62 8a 02 0a 1a 08 00 10 04 1a 02 69 64 20 01 28 00 30 00 42 01 31 "
                                     "52 07 69 6e 74 28 31 31 29");
  ASSERT_GE(bytes.size(), prefix.size());
  EXPECT_EQ(toHex(bytes.substr(0, prefix.size())), toHex(prefix));
  EXPECT_EQ(serialize(*row).size(), 266u);  // "RowData of 266 bytes"

  // Two columns as Canal writes them: a changed VARCHAR and a NULL TEXT.
  EXPECT_EQ(toHex(serialize(row->aftercolumns(1))),
            toHex(fromHex("08 01 10 0c 1a 04") + "name" + fromHex("20 00 28 01 30 00 42 03") + "bar" + fromHex("52 0b") +
                  "varchar(32)"));
  EXPECT_EQ(toHex(serialize(row->beforecolumns(3))),
            toHex(fromHex("08 03 10 d5 0f 1a 06") + "remark" + fromHex("20 00 28 00 30 01 52 04") + "text"));

  // Decoding keeps explicit presence: isNull=false is present, value absent for NULL.
  RowChange parsed;
  ASSERT_TRUE(parsed.ParseFromString(bytes));
  EXPECT_TRUE(parsed.has_isddl());
  const Column& remark = parsed.rowdatas(0).aftercolumns(3);
  EXPECT_TRUE(remark.isnull());
  EXPECT_FALSE(remark.has_value());
  EXPECT_TRUE(parsed.rowdatas(0).aftercolumns(0).has_isnull());
  EXPECT_EQ(parsed.rowdatas(0).aftercolumns(1).value(), "bar");

  TransactionEnd end;
  end.set_transactionid("77");
  EXPECT_EQ(toHex(serialize(end)), "12 02 37 37");
}

TEST(EntryBytes, NegativeSqlTypeIsTenByteVarint) {
  Column c;
  c.set_sqltype(-5);  // BIGINT
  EXPECT_EQ(toHex(serialize(c)), "10 fb ff ff ff ff ff ff ff ff 01");
}

TEST(EntryBytes, AbsentFieldsReadAsProto2Defaults) {
  Entry e;
  ASSERT_TRUE(e.ParseFromString(""));
  EXPECT_EQ(e.entrytype(), ROWDATA);
  EXPECT_EQ(e.header().version(), 1);
  EXPECT_EQ(e.header().sourcetype(), MYSQL);
  RowChange rc;
  EXPECT_EQ(rc.eventtype(), UPDATE);
  EXPECT_FALSE(rc.isddl());
}

}  // namespace
}  // namespace canal::protocol

// Password scramble test vectors (docs/protocol.md, "Authentication").
TEST(PasswordScramble, SpecVectors) {
  const std::string seed("\x01\x02\x03\x04\x05\x06\x07\x08", 8);
  EXPECT_EQ(canal::protocol::scramblePassword("canal", seed), "7de44690d8e53782cb61804a2455c284a3bbfb06");
  EXPECT_EQ(canal::protocol::scramblePassword("", seed), "ed26d729f84a104ddef91f5ba7b5174f537fad40");
}
