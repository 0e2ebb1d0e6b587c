#pragma once

// The I/O of one client connection: frames read within the server's limits (the length checked,
// the body grown as it arrives and counted in the receive budget), replies queued and written in
// order, reading held back while the replies queued exceed maxPendingOutput, the authentication
// and idle deadlines, closing. What a frame means is the handler's (CanalSession).
// Thread contract: everything on `strand`; the server reads `receiving` and, under its mutex,
// `countedUnauthenticated` from any thread.

#include <atomic>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "server/net/frame_buffer.h"
#include "server/net/server_core.h"

namespace canal::net {

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(ServerCore& server, tcp::socket socket);
  virtual ~Connection() = default;
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Sets the socket up and names its peer, then runs onStart() on the strand.
  void start();
  // Once: logged (unless `why` is empty), the socket closed, the handler told, the connection
  // forgotten by the server.
  void close(const std::string& why);

  ServerCore& server;
  asio::strand<asio::io_context::executor_type> strand;
  // Under the server's mutex: counted among the unauthenticated (until it authenticates, goes,
  // or is chosen to make room), and when it was accepted.
  bool countedUnauthenticated = true;
  const Clock::time_point accepted = Clock::now();
  std::string address;                    // the peer's IP address
  std::atomic<std::size_t> receiving{0};  // bytes of the frame being read, in the server's count

 protected:
  // The first thing a connection does (on the strand): send a greeting, arm a deadline, read.
  virtual void onStart() = 0;
  // A frame read whole; false when the next must not be read yet (the handler calls readNext()
  // or readHeader() when it may).
  virtual bool onFrame(std::string_view body) = 0;
  // Closing: what the handler holds goes (timers, waits).
  virtual void onClose() {}

  // Queues a frame (the bytes of `frame` from `start` on); `done` runs on the strand once it is
  // written.
  void send(std::string frame, std::function<void()> done = {}, std::size_t start = 0);
  // Reads the next frame, unless the replies queued for the client exceed maxPendingOutput: then
  // it is read once they drain (a client that sends without reading is held back).
  void readNext();
  // Reads the next frame now, whatever is queued (a client that goes away while a request waits
  // is noticed).
  void readHeader();
  // A peer that does not authenticate in time costs nothing further.
  void armAuthDeadline();
  // Authenticated: `reply` is sent, and from then on frames may be up to maxFrameLength and the
  // idle deadlines run (`readIdle` / `writeIdle`; zero leaves the default, an hour).
  void loggedIn(std::string reply, std::chrono::milliseconds readIdle, std::chrono::milliseconds writeIdle);

  bool closed() const { return closed_; }
  bool authenticated() const { return authenticated_; }
  bool reading() const { return readArmed_; }
  bool readPaused() const { return readPaused_; }
  const std::string& peer() const { return peer_; }
  // Netty's name of the channel, as Canal's error texts give it.
  const std::string& channel() const { return channel_; }
  Clock::time_point requestStart() const { return requestStart_; }

 private:
  void writeNext();
  void readBody();
  void armIdle();
  void releaseBody();  // the frame buffer goes, and with it its bytes from the server's count
  // Clients that write a frame's length and its body separately without TCP_NODELAY hold the
  // body back until the length is acknowledged: acknowledged at once (Linux).
  void ackNow();

  struct Outgoing {
    std::string frame;
    std::size_t start = 0;       // where the frame starts in `frame`
    std::function<void()> done;  // runs once it is written
  };

  tcp::socket socket_;
  asio::steady_timer idleTimer_;
  bool closed_ = false;
  bool authenticated_ = false;
  unsigned char header_[4]{};
  FrameBuffer body_;
  std::size_t bodyLength_ = 0;     // of the frame being read
  std::size_t pendingOutput_ = 0;  // bytes queued for writing
  bool readPaused_ = false;        // the next frame is read once the queued replies drain
  bool readArmed_ = false;         // a frame is being read
  std::deque<Outgoing> writes_;
  std::chrono::milliseconds readIdle_{3600000};
  std::chrono::milliseconds writeIdle_{3600000};
  Clock::time_point lastRead_ = Clock::now();
  Clock::time_point lastWrite_ = Clock::now();
  Clock::time_point requestStart_;  // when the frame being handled was read
  std::string peer_;
  std::string channel_;
};

}  // namespace canal::net
