#pragma once

// A meta store in memory, shared by the destinations a test makes one after another (a restart
// finds what the last one recorded), that can be told to fail its writes.

#include <memory>
#include <mutex>
#include <utility>
#include <vector>

#include "server/meta/meta_store.h"

namespace canal::testing {

class FakeMetaStore final : public meta::MetaStore {
 public:
  struct Shared {
    std::mutex mutex;
    std::vector<std::pair<meta::DestinationMeta, meta::MetaChange>> records;
    int flushes = 0;
    bool failing = false;
    meta::DestinationMeta stored;
  };
  explicit FakeMetaStore(std::shared_ptr<Shared> shared) : shared_(std::move(shared)) {}

  Result<meta::DestinationMeta> load() override {
    std::lock_guard<std::mutex> lock(shared_->mutex);
    return shared_->stored;
  }
  Status record(const meta::DestinationMeta& m, const meta::MetaChange& change) override {
    std::lock_guard<std::mutex> lock(shared_->mutex);
    if (shared_->failing) return Status::ioError("injected write failure", "/data/example/meta.dat");
    shared_->records.emplace_back(m, change);
    shared_->stored = m;
    return Status::ok();
  }
  Status flush() override {
    std::lock_guard<std::mutex> lock(shared_->mutex);
    ++shared_->flushes;
    return Status::ok();
  }
  Result<std::uint64_t> loadEpoch() override { return std::uint64_t{0}; }
  Status recordEpoch(std::uint64_t) override { return Status::ok(); }

 private:
  std::shared_ptr<Shared> shared_;
};

}  // namespace canal::testing
