#pragma once

// A consumer of destination example for tests and benchmarks (header-only: it needs the SDK,
// which the support library does not link).

#include <atomic>
#include <chrono>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "canal/client/canal_connector.h"

namespace canal::testing {

// Reads the id column of the rows inserted or updated on destination example with the SDK
// (getWithoutAck / ack, its default options) on a thread of its own until stopped, connecting
// again after a failure; counts rows acked that arrive again.
class IdConsumer {
 public:
  IdConsumer(std::string address, std::string user, std::string password)
      : address_(std::move(address)), user_(std::move(user)), password_(std::move(password)) {
    thread_ = std::thread([this] { run(); });
  }
  ~IdConsumer() { stop(); }
  void stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  std::set<long> ids() {
    std::lock_guard<std::mutex> lock(mutex_);
    return ids_;
  }
  long ackedAgain() {
    std::lock_guard<std::mutex> lock(mutex_);
    return ackedAgain_;
  }

 private:
  void run() {
    auto connector = client::newSingleConnector(address_, "example", user_, password_, client::ConnectorOptions{});
    bool connected = false;
    while (!stop_) {
      if (!connected) {
        connected = connector->connect() && connector->subscribe();
        if (!connected) {
          std::this_thread::sleep_for(std::chrono::milliseconds(50));
          continue;
        }
      }
      auto message = connector->getWithoutAck(1000, std::chrono::milliseconds(200));
      if (!message) {
        connector->disconnect();
        connected = false;
        continue;
      }
      std::vector<long> seen;
      for (const auto& [entry, change] : message->rowChangeViews()) {
        for (std::size_t r = 0; r < change.rows(); ++r) {
          if (const auto* id = change.after(r).find("id")) seen.push_back(std::stol(std::string(id->value)));
        }
      }
      if (!connector->ack(message->id())) {
        connector->disconnect();
        connected = false;
        continue;
      }
      std::lock_guard<std::mutex> lock(mutex_);
      for (const long id : seen) ackedAgain_ += ids_.insert(id).second ? 0 : 1;
    }
  }

  std::string address_;
  std::string user_;
  std::string password_;
  std::atomic<bool> stop_{false};
  std::mutex mutex_;
  std::set<long> ids_;
  long ackedAgain_ = 0;
  std::thread thread_;
};

}  // namespace canal::testing
