#include "server/mq/mq_worker.h"

#include <algorithm>

#include <spdlog/spdlog.h>

#include "server/common/logging.h"
#include "server/common/thread_name.h"

namespace canal::mq {

MqWorker::MqWorker(std::shared_ptr<instance::ClientSessions> sessions, std::unique_ptr<BatchPublisher> publisher,
                   MqWorkerOptions options)
    : sessions_(std::move(sessions)), publisher_(std::move(publisher)), options_(std::move(options)) {
  stats_.broker = publisher_->describe();
  stats_.state = "starting";
}

MqWorker::~MqWorker() { stop(); }

Status MqWorker::start() {
  if (Status s = sessions_->subscribe(options_.clientId, ""); !s.isOk()) {
    return s.withContext("MQ mode: subscribing client " + std::to_string(options_.clientId));
  }
  thread_ = std::thread([this] {
    nameThisThread("mq:" + options_.destination);
    run();
  });
  return Status::ok();
}

void MqWorker::stop() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
  sessions_->cancelNotify(this);
  std::lock_guard<std::mutex> lock(mutex_);
  if (stats_.state != "failed") stats_.state = "stopped";
}

MqWorkerStats MqWorker::stats() const {
  MqWorkerStats out;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    out = stats_;
  }
  out.publisher = publisher_->counters();
  // A batch still waiting for a broker the client already knows is down: said now, not when the
  // batch times out.
  if (out.state == "publishing" && !out.publisher.problem.empty()) {
    out.state = "retrying";
    out.lastError = out.publisher.problem;
  }
  return out;
}

void MqWorker::setState(const std::string& state, const std::string& error) {
  std::lock_guard<std::mutex> lock(mutex_);
  stats_.state = state;
  if (!error.empty()) {
    stats_.lastError = error;
    ++stats_.failures;
  }
}

bool MqWorker::waitForBatch(std::chrono::milliseconds timeout) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    ready_ = false;
  }
  const bool ready = sessions_->readyOrNotify(this, options_.batchSize, [this] {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      ready_ = true;
    }
    wake_.notify_all();
  });
  std::unique_lock<std::mutex> lock(mutex_);
  if (!ready) wake_.wait_for(lock, timeout, [this] { return stopping_ || ready_; });
  return stopping_;
}

bool MqWorker::pause(std::chrono::milliseconds duration) {
  std::unique_lock<std::mutex> lock(mutex_);
  wake_.wait_for(lock, duration, [this] { return stopping_; });
  return stopping_;
}

void MqWorker::run() {
  DestinationLogScope scope(options_.destination);
  const auto log = moduleLogger("mq");
  log->info("destination {}: publishing to {}", options_.destination, publisher_->describe());
  setState("publishing");
  std::uint64_t epoch = 0;
  const std::chrono::milliseconds firstPause = std::min(std::chrono::milliseconds(100), options_.maxRetryPause);
  std::chrono::milliseconds retryPause = firstPause;
  std::vector<std::vector<std::string>> owned;  // each batch's entries
  std::vector<PublishBatch> batches;
  while (!waitForBatch(options_.getTimeout)) {
    owned.clear();
    batches.clear();
    // The first batch as Canal takes it; then, up to what the publisher takes, the full ones
    // ready behind it.
    Status got;
    do {
      if (!batches.empty() && !sessions_->readyOrNotify(this, options_.batchSize, [] {})) {
        sessions_->cancelNotify(this);
        break;
      }
      std::vector<std::string> entries;
      auto batch = sessions_->getWithoutAck(options_.clientId, options_.batchSize, epoch,
                                            [&](const instance::BatchEntries& e) { entries.assign(e.begin(), e.end()); });
      if (!batch.isOk()) {
        got = batch.status();
        break;
      }
      if (*batch == -1) break;
      owned.push_back(std::move(entries));
      batches.push_back(PublishBatch{*batch, {}});
    } while (batches.size() < publisher_->batchesPerPublish());
    if (!got.isOk() && batches.empty()) {
      // The destination stops (a restart from conf/, an HA release): this worker is stopped next.
      log->warn("destination {}: get for MQ publishing failed: {}", options_.destination, got.toString());
      if (pause(retryPause)) break;
      continue;
    }
    if (batches.empty()) continue;
    std::size_t entryCount = 0;
    for (std::size_t i = 0; i < batches.size(); ++i) {
      batches[i].entries.assign(owned[i].begin(), owned[i].end());
      entryCount += owned[i].size();
    }
    const std::string named = batches.size() == 1 ? "batch " + std::to_string(batches[0].id)
                                                  : "batches " + std::to_string(batches.front().id) + "-" +
                                                        std::to_string(batches.back().id);
    const std::uint64_t problemsBefore = publisher_->counters().problems;
    const Status sent = publisher_->publish(batches);
    if (sent.isOk()) {
      Status acked;
      for (const PublishBatch& b : batches) {
        if (acked.isOk()) acked = sessions_->takeForAck(options_.clientId, b.id);
      }
      if (acked.isOk()) acked = sessions_->commitAcks(options_.clientId);
      if (!acked.isOk()) {
        // Published but the position is not recorded: the batch goes out again (at least once).
        log->error("destination {}: {} published but the ack failed: {}", options_.destination, named,
                   acked.toString());
        setState("retrying", acked.toString());
      } else {
        std::lock_guard<std::mutex> lock(mutex_);
        if (stats_.state == "retrying" || publisher_->counters().problems != problemsBefore) {
          log->info("destination {}: publishing again: {} confirmed by {}", options_.destination, named,
                    publisher_->describe());
        }
        stats_.state = "publishing";
        stats_.batches += batches.size();
        stats_.entries += entryCount;
        stats_.lastBatchId = batches.back().id;
        retryPause = firstPause;
        continue;
      }
    }
    auto rolled = sessions_->rollback(options_.clientId, 0);
    if (rolled.isOk()) epoch = *rolled;
    if (!sent.isOk() && sent.code() != StatusCode::kUnavailable) {
      log->error("destination {}: publishing stopped: {}; the batch stays unacknowledged and is sent again when "
                 "the destination restarts",
                 options_.destination, sent.toString());
      setState("failed", sent.toString());
      return;
    }
    if (!sent.isOk()) {
      log->warn("destination {}: {} not published, sending again in {} ms: {}", options_.destination, named,
                retryPause.count(), sent.toString());
      setState("retrying", sent.toString());
    }
    if (pause(retryPause)) break;
    retryPause = std::min(retryPause * 2, options_.maxRetryPause);
  }
}

}  // namespace canal::mq
