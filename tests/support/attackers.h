#pragma once

// Hostile clients against canal-server's client port and HTTP port, each on a thread of its own
// until stop(): connections that send nothing (kept open, renewed as the server closes them),
// password guesses over fresh connections on both ports, and authenticated connections that
// announce 60 MiB frames and send part of them. They come from loopback addresses other than
// 127.0.0.1, so that a client on 127.0.0.1 is another address to the server's throttles.
// And what /proc says of a process (RSS, descriptors).

#include <atomic>
#include <mutex>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

#include <sys/types.h>

namespace canal::testing {

struct AttackOptions {
  int clientPort = 0;
  int httpPort = 0;
  std::string user = "canal";      // the client port's login (the large frames authenticate)
  std::string password = "canal";
  std::string httpPath = "/destinations/example/snapshots";  // guessed with admin:guess
  std::string idleSource = "127.0.0.2";
  std::string guessSource = "127.0.0.3";
  std::string frameSource = "127.0.0.4";
  int idleClientConnections = 300;
  int idleHttpConnections = 200;
  int guessers = 16;     // threads guessing on each port
  int largeFrames = 4;
  std::size_t frameBytes = 16u << 20;  // sent of each 60 MiB frame
};

struct AttackFigures {
  std::uint64_t idleOpened = 0;            // idle connections made, both ports, renewals included
  std::uint64_t clientGuesses = 0;         // answered on the client port
  std::uint64_t clientGuessesChecked = 0;  // of them answered as a wrong password (not throttled)
  std::uint64_t httpGuesses = 0;           // answered on the HTTP port
  std::uint64_t httpGuessesChecked = 0;    // of them 401 (not 429)
  std::uint64_t framesSent = 0;            // partial frames sent in full
  std::uint64_t framesClosed = 0;          // their connections closed by the server
};

class Attackers {
 public:
  explicit Attackers(AttackOptions options);
  ~Attackers();
  Attackers(const Attackers&) = delete;
  Attackers& operator=(const Attackers&) = delete;

  void start();
  // Stops the threads; the idle connections stay open until destruction (an attacker still
  // connected while the server stops).
  void stop();
  AttackFigures figures() const;

 private:
  void idle(int port, int count);
  void guessClientPort();
  void guessHttp();
  void largeFrame();

  AttackOptions options_;
  std::atomic<bool> running_{false};
  std::vector<std::thread> threads_;
  std::vector<int> kept_;  // idle descriptors left open by stop()
  std::mutex keptMutex_;
  struct Counters {
    std::atomic<std::uint64_t> idleOpened{0}, clientGuesses{0}, clientChecked{0}, httpGuesses{0}, httpChecked{0},
        framesSent{0}, framesClosed{0};
  } counters_;
};

struct ProcessFigures {
  long rssKb = 0;
  int descriptors = 0;
};
ProcessFigures processFigures(pid_t pid);

}  // namespace canal::testing
