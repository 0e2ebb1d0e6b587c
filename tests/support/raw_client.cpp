#include "tests/support/raw_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "canal/protocol/frame_codec.h"

namespace canal::testing {

namespace pb = canal::protocol::packet;

RawClient::RawClient(int port, const std::string& source) {
  fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
  if (!source.empty()) {
    sockaddr_in from{};
    from.sin_family = AF_INET;
    ::inet_pton(AF_INET, source.c_str(), &from.sin_addr);
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&from), sizeof from) != 0) return;
  }
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
}

RawClient::~RawClient() { ::close(fd_); }

bool RawClient::sendRaw(const std::string& bytes) {
  return ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(bytes.size());
}

bool RawClient::send(pb::PacketType type, const google::protobuf::Message& body) {
  pb::Packet p;
  p.set_type(type);
  p.set_body(body.SerializeAsString());
  return sendRaw(protocol::encodeFrame(p.SerializeAsString()));
}

std::optional<std::string> RawClient::read(int timeoutMs) {
  timeval tv{timeoutMs / 1000, (timeoutMs % 1000) * 1000};
  ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  const std::string header = readExactly(4);
  if (header.size() != 4) return std::nullopt;
  const std::uint32_t n = (std::uint32_t{static_cast<unsigned char>(header[0])} << 24) |
                          (std::uint32_t{static_cast<unsigned char>(header[1])} << 16) |
                          (std::uint32_t{static_cast<unsigned char>(header[2])} << 8) |
                          static_cast<unsigned char>(header[3]);
  std::string body = readExactly(n);
  if (body.size() != n) return std::nullopt;
  return body;
}

bool RawClient::closedByServer(int timeoutMs) {
  timeval tv{timeoutMs / 1000, (timeoutMs % 1000) * 1000};
  ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  char buffer[4096];
  for (;;) {
    const ssize_t r = ::recv(fd_, buffer, sizeof buffer, 0);
    if (r == 0) return true;
    if (r < 0) return false;
  }
}

void RawClient::setReceiveBuffer(int bytes) { ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &bytes, sizeof bytes); }

std::string RawClient::readExactly(std::size_t n) {
  std::string out(n, '\0');
  std::size_t got = 0;
  while (got < n) {
    const ssize_t r = ::recv(fd_, out.data() + got, n - got, 0);
    if (r <= 0) return out.substr(0, got);
    got += static_cast<std::size_t>(r);
  }
  return out;
}

pb::Ack ackOf(const std::string& payload) {
  pb::Packet p;
  pb::Ack a;
  if (!p.ParseFromString(payload) || p.type() != pb::ACK || !a.ParseFromString(p.body())) a.set_error_code(-1);
  return a;
}

}  // namespace canal::testing
