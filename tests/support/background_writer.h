#pragma once

// Statements run against a MariaDB on a thread of their own until stop() (or destruction), as
// a workload beside what a test checks: `next` makes each statement from a seeded random
// source; the ones the server accepted are counted.

#include <atomic>
#include <chrono>
#include <functional>
#include <random>
#include <string>
#include <thread>

#include "tests/support/mariadb_server.h"

namespace canal::testing {

class BackgroundWriter {
 public:
  using Next = std::function<std::string(std::mt19937& random)>;
  BackgroundWriter(MariaDbServer& db, std::uint32_t seed, Next next,
                   std::chrono::milliseconds pause = std::chrono::milliseconds(0))
      : thread_([this, &db, seed, next = std::move(next), pause] {
          std::mt19937 random(seed);
          while (running_) {
            if (db.execute(next(random))) ++statements_;
            if (pause.count() > 0) std::this_thread::sleep_for(pause);
          }
        }) {}
  ~BackgroundWriter() { stop(); }
  BackgroundWriter(const BackgroundWriter&) = delete;
  BackgroundWriter& operator=(const BackgroundWriter&) = delete;

  void stop() {
    running_ = false;
    if (thread_.joinable()) thread_.join();
  }
  int statements() const { return statements_; }

 private:
  std::atomic<bool> running_{true};
  std::atomic<int> statements_{0};
  std::thread thread_;
};

}  // namespace canal::testing
