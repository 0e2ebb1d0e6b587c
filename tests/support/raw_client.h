#pragma once

// A Canal protocol client at the byte level, for tests of the server: a socket to localhost that
// writes Packets in frames and reads whole frames back, as Canal's Java client does.

#include <cstdint>
#include <optional>
#include <string>

#include "canal/protocol/canal_protocol.pb.h"

namespace canal::testing {

class RawClient {
 public:
  // To 127.0.0.1:`port`, from `source` when given (another loopback address: 127.0.0.2 ...).
  explicit RawClient(int port, const std::string& source = "");
  ~RawClient();
  RawClient(const RawClient&) = delete;
  RawClient& operator=(const RawClient&) = delete;

  bool connected() const { return connected_; }
  // False when not every byte could be sent.
  bool sendRaw(const std::string& bytes);
  bool send(protocol::packet::PacketType type, const google::protobuf::Message& body);
  // The next frame's payload; nullopt on EOF or after `timeoutMs` without one.
  std::optional<std::string> read(int timeoutMs = 5000);
  // True when the server closed the connection (EOF within `timeoutMs`, whatever arrives before).
  bool closedByServer(int timeoutMs = 5000);
  // Shrinks the socket's receive buffer (before the server sends much): a client that stops
  // reading then stalls the server's writes soon.
  void setReceiveBuffer(int bytes);

 private:
  std::string readExactly(std::size_t n);
  int fd_ = -1;
  bool connected_ = false;
};

// The Ack in a frame's payload; an empty Ack with error code -1 when it is not one.
protocol::packet::Ack ackOf(const std::string& payload);

}  // namespace canal::testing
