#include "tests/support/fake_primary.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/sha.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>
#include <cstring>
#include <optional>

#include "server/binlog/event_stream.h"
#include "server/binlog/event_type.h"
#include "server/binlog/events.h"
#include "server/common/byte_writer.h"
#include "server/common/byte_reader.h"
#include "server/common/gtid_set.h"
#include "tests/support/fixtures.h"

namespace canal::testing {
namespace {

constexpr std::uint32_t kClientLongPassword = 1;
constexpr std::uint32_t kClientConnectWithDb = 8;
constexpr std::uint32_t kClientProtocol41 = 512;
constexpr std::uint32_t kClientTransactions = 8192;
constexpr std::uint32_t kClientSecureConnection = 32768;
constexpr std::uint32_t kClientMultiResults = 1u << 17;
constexpr std::uint32_t kClientPluginAuth = 1u << 19;
constexpr std::uint32_t kServerCapabilities = kClientLongPassword | kClientConnectWithDb | kClientProtocol41 |
                                              kClientTransactions | kClientSecureConnection | kClientMultiResults |
                                              kClientPluginAuth;

void putLenenc(std::string& s, std::string_view v) {
  s.push_back(static_cast<char>(v.size()));  // short strings only
  s.append(v);
}

class Connection {
 public:
  explicit Connection(int fd) : fd_(fd) {}  // the caller closes fd

  bool send(std::string_view payload) {
    std::string packet;
    packet.push_back(static_cast<char>(payload.size() & 0xff));
    packet.push_back(static_cast<char>((payload.size() >> 8) & 0xff));
    packet.push_back(static_cast<char>((payload.size() >> 16) & 0xff));
    packet.push_back(static_cast<char>(seq_++));
    packet.append(payload);
    std::size_t off = 0;
    while (off < packet.size()) {
      const ssize_t n = ::send(fd_, packet.data() + off, packet.size() - off, MSG_NOSIGNAL);
      if (n <= 0) return false;
      off += static_cast<std::size_t>(n);
    }
    return true;
  }
  // Reads one packet; false when the client went away.
  bool receive(std::string& payload) {
    unsigned char header[4];
    if (!readExactly(header, 4)) return false;
    const std::size_t length = header[0] | header[1] << 8 | header[2] << 16;
    seq_ = static_cast<std::uint8_t>(header[3] + 1);
    payload.resize(length);
    return readExactly(reinterpret_cast<unsigned char*>(payload.data()), length);
  }
  void resetSequence() { seq_ = 0; }
  // A text result set of string columns (NULL cells as nullopt).
  bool resultSet(const std::vector<std::string>& names, const std::vector<std::vector<std::optional<std::string>>>& rows) {
    if (!send(std::string(1, static_cast<char>(names.size())))) return false;
    for (const auto& name : names) {
      std::string column;
      for (const char* part : {"def", "", "", ""}) putLenenc(column, part);
      putLenenc(column, name);
      putLenenc(column, name);
      column.push_back(0x0c);
      appendLe(column, 33, 2);     // utf8
      appendLe(column, 256, 4);    // length
      column.push_back(static_cast<char>(0xfd));  // VAR_STRING
      appendLe(column, 0, 2);
      column.push_back(0);
      appendLe(column, 0, 2);
      if (!send(column)) return false;
    }
    const std::string eof("\xfe\x00\x00\x02\x00", 5);
    if (!send(eof)) return false;
    for (const auto& row : rows) {
      std::string r;
      for (const auto& cell : row) {
        if (cell) putLenenc(r, *cell);
        else r.push_back(static_cast<char>(0xfb));
      }
      if (!send(r)) return false;
    }
    return send(eof);
  }
  bool ok() { return send(std::string("\x00\x00\x00\x02\x00\x00\x00", 7)); }
  bool error(std::uint16_t code, const std::string& message) {
    std::string p("\xff", 1);
    appendLe(p, code, 2);
    p += "#HY000" + message;
    return send(p);
  }

 private:
  bool readExactly(unsigned char* out, std::size_t n) {
    std::size_t got = 0;
    while (got < n) {
      const ssize_t r = ::recv(fd_, out + got, n - got, 0);
      if (r <= 0) return false;
      got += static_cast<std::size_t>(r);
    }
    return true;
  }
  int fd_;
  std::uint8_t seq_ = 0;
};

std::string sha1(std::string_view data) {
  unsigned char digest[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(data.data()), data.size(), digest);
  return std::string(reinterpret_cast<char*>(digest), SHA_DIGEST_LENGTH);
}

// What a client sends for `password` under mysql_native_password with `salt`.
std::string nativeScramble(const std::string& password, const std::string& salt) {
  if (password.empty()) return {};
  const std::string stage1 = sha1(password);
  const std::string stage2 = sha1(stage1);
  const std::string mix = sha1(salt + stage2);
  std::string out(20, '\0');
  for (int i = 0; i < 20; ++i) out[i] = static_cast<char>(stage1[i] ^ mix[i]);
  return out;
}

std::string upper(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

}  // namespace

Result<std::unique_ptr<FakePrimary>> FakePrimary::start(const FakePrimaryOptions& options) {
  std::unique_ptr<FakePrimary> p(new FakePrimary());
  p->options_ = options;
  try {
    p->binlog_ = readFile(options.binlogPath);
  } catch (const std::exception& e) {
    return Status::ioError(e.what(), options.binlogPath);
  }
  p->listenFd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  if (p->listenFd_ < 0 || ::bind(p->listenFd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::listen(p->listenFd_, 4) != 0 || ::getsockname(p->listenFd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    return Status::ioError(std::string("fake primary cannot listen: ") + std::strerror(errno));
  }
  p->port_ = ntohs(addr.sin_port);
  p->thread_ = std::thread([raw = p.get()] { raw->serve(); });
  return p;
}

FakePrimary::~FakePrimary() {
  stopping_ = true;
  if (listenFd_ >= 0) ::shutdown(listenFd_, SHUT_RDWR);
  if (thread_.joinable()) thread_.join();
  {
    std::lock_guard<std::mutex> lock(mutex_);
    for (const int fd : sessionFds_) ::shutdown(fd, SHUT_RDWR);  // unblocks their reads
  }
  for (auto& t : sessions_) t.join();
  if (listenFd_ >= 0) ::close(listenFd_);
}

std::vector<std::string> FakePrimary::commands() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return commands_;
}

void FakePrimary::serve() {
  while (!stopping_) {
    pollfd pfd{listenFd_, POLLIN, 0};
    if (::poll(&pfd, 1, 100) <= 0) continue;
    const int fd = ::accept4(listenFd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      sessionFds_.insert(fd);
    }
    sessions_.emplace_back([this, fd] {
      session(fd);
      std::lock_guard<std::mutex> lock(mutex_);
      sessionFds_.erase(fd);
      ::close(fd);
    });
  }
}

void FakePrimary::session(int fd) {
  Connection c(fd);
  auto note = [&](std::string s) {
    std::lock_guard<std::mutex> lock(mutex_);
    commands_.push_back(std::move(s));
  };
  // Handshake v10 with a 20-byte salt.
  const std::string salt = "abcdefghij0123456789";
  std::string hs;
  hs.push_back(10);
  hs += options_.serverVersion;
  hs.push_back('\0');
  appendLe(hs, 7, 4);  // connection id
  hs += salt.substr(0, 8);
  hs.push_back('\0');
  appendLe(hs, kServerCapabilities & 0xffff, 2);
  hs.push_back(static_cast<char>(255));  // utf8mb4_0900_ai_ci
  appendLe(hs, 2, 2);                          // SERVER_STATUS_AUTOCOMMIT
  appendLe(hs, kServerCapabilities >> 16, 2);
  hs.push_back(21);
  hs.append(10, '\0');
  hs += salt.substr(8);
  hs.push_back('\0');
  hs += "mysql_native_password";
  hs.push_back('\0');
  if (!c.send(hs)) return;

  std::string packet;
  if (!c.receive(packet)) return;
  ByteReader r(packet);
  const std::uint32_t clientCaps = r.u32();
  r.skip(4 + 1 + 23);  // max packet, charset, filler
  const std::string user(r.nulTerminated());
  std::string_view auth;
  if (clientCaps & kClientSecureConnection) auth = r.bytes(r.u8());
  if (r.failed() || user != options_.user || auth != nativeScramble(options_.password, salt)) {
    note("AUTH FAILED " + user);
    c.error(1045, "Access denied for user '" + user + "'");
    return;
  }
  note("AUTH " + user);
  if (!c.ok()) return;

  for (;;) {
    c.resetSequence();
    if (!c.receive(packet) || packet.empty()) return;
    const auto command = static_cast<std::uint8_t>(packet[0]);
    const std::string_view args = std::string_view(packet).substr(1);
    if (command == 0x01) return;  // COM_QUIT
    if (command == 0x03) {        // COM_QUERY
      const std::string sql(args);
      note("QUERY " + sql);
      const std::string statement = upper(sql);
      // MySQL 8.4 renamed SHOW MASTER STATUS; each version knows only its own name.
      const bool renamed = options_.serverVersion.rfind("8.4", 0) == 0 || options_.serverVersion.rfind("9.", 0) == 0;
      const std::string size = std::to_string(binlog_.size());
      if (statement.find("SELECT @@GLOBAL.BINLOG_CHECKSUM") != std::string::npos) {
        if (!c.resultSet({"@@global.binlog_checksum"}, {{options_.checksum}})) return;
      } else if (statement == (renamed ? "SHOW BINARY LOG STATUS" : "SHOW MASTER STATUS")) {
        if (!c.resultSet({"File", "Position", "Binlog_Do_DB", "Binlog_Ignore_DB", "Executed_Gtid_Set"},
                         {{options_.binlogName, size, "", "", ""}})) {
          return;
        }
      } else if (statement == "SHOW BINARY LOGS") {
        if (!c.resultSet({"Log_name", "File_size", "Encrypted"}, {{options_.binlogName, size, "No"}})) return;
      } else if (upper(sql).rfind("SET ", 0) == 0) {
        if (!c.ok()) return;
      } else {
        if (!c.error(1064, "the fake primary does not run: " + sql)) return;
      }
      continue;
    }
    if (command == 0x15) {  // COM_REGISTER_SLAVE
      note("REGISTER_SLAVE");
      if (!c.ok()) return;
      continue;
    }
    if (command != 0x12 && command != 0x1e) {
      if (!c.error(1047, "unknown command")) return;
      continue;
    }
    // The dump: which transactions the replica already has (GTID), then the stream.
    MysqlGtidSet have;
    std::uint64_t startPosition = 4;
    ByteReader d(args);
    if (command == 0x12) {
      note("BINLOG_DUMP");
      startPosition = d.u32();
    } else {
      note("BINLOG_DUMP_GTID");
      d.skip(2 + 4);
      d.skip(d.u32());
      d.skip(8);
      const std::uint32_t size = d.u32();
      if (auto requested = MysqlGtidSet::decode(d.bytes(size), "BINLOG_DUMP_GTID")) have = std::move(*requested);
    }
    // The artificial ROTATE naming the file, with a CRC32 when the stream has them.
    const bool crc = options_.checksum == "CRC32";
    std::string rotate;
    appendLe(rotate, 0, 4);
    rotate.push_back(binlog::kRotateEvent);
    appendLe(rotate, 1, 4);
    const std::size_t size = 19 + 8 + options_.binlogName.size() + (crc ? 4 : 0);
    appendLe(rotate, static_cast<std::uint32_t>(size), 4);
    appendLe(rotate, 0, 4);
    appendLe(rotate, 0x20, 2);  // LOG_EVENT_ARTIFICIAL_F
    appendLe(rotate, static_cast<std::uint32_t>(startPosition), 4);
    appendLe(rotate, 0, 4);
    rotate += options_.binlogName;
    if (crc) {
      rotate.append(4, '\0');
      const std::uint32_t sum = binlog::eventCrc32(rotate);
      rotate.resize(rotate.size() - 4);
      appendLe(rotate, sum, 4);
    }
    if (!c.send(std::string("\0", 1) + rotate)) return;

    binlog::EventStream stream(binlog_, options_.binlogName);
    binlog::RawEvent e;
    bool skipping = false;
    std::size_t sent = 0;
    while (!stopping_) {
      if (options_.dieAfterEvents > 0 && sent == options_.dieAfterEvents) {
        stopping_ = true;  // no more connections either
        ::shutdown(listenFd_, SHUT_RDWR);
        return;
      }
      auto more = stream.next(e);
      if (!more || !*more) break;
      const bool isFde = e.header.type == binlog::kFormatDescriptionEvent;
      if (e.header.type == binlog::kGtidLogEvent || e.header.type == binlog::kAnonymousGtidLogEvent) {
        auto g = binlog::decodeGtid(e.body, e.header.type == binlog::kAnonymousGtidLogEvent, "fake");
        skipping = g && !g->anonymous && have.contains(g->sid, g->gno);
      }
      if (!isFde && (skipping || e.offset < startPosition)) continue;
      if (!c.send(std::string("\0", 1) + std::string(e.bytes))) return;
      ++sent;
    }
    // Like a primary with nothing more to send: keep the link open until the replica leaves.
    while (!stopping_) {
      pollfd pfd{fd, POLLIN, 0};
      if (::poll(&pfd, 1, 100) > 0) return;
    }
    return;
  }
}

}  // namespace canal::testing
