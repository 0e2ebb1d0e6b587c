#pragma once

// canal-server's snapshot API (docs/snapshots.md) as canal-forwarder's commands drive it with a
// forwarder of their own running beside it: `reindex` (a new Elasticsearch index) and `load` (a
// SQL copy's existing rows). The forwarder is subscribed before the snapshot starts, so no change
// after it is missed; the snapshot's rows reach the sinks in their place in the stream; the
// command is done once every snapshot row went through and the forwarder has caught up.
// Thread contract: one thread (the running forwarder has its own).

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "canal/client/status.h"
#include "forwarder/forwarder.h"
#include "forwarder/http_client.h"

namespace canal::forwarder {

using CommandLog = std::function<void(const std::string&)>;

// The forwarder a snapshot's rows go through: its counters, and whether it ended (a failure
// retrying cannot fix; nullopt while it runs).
class FollowingForwarder {
 public:
  virtual ~FollowingForwarder() = default;
  virtual ForwarderCounters counters() const = 0;
  virtual std::optional<client::Status> ended() const = 0;
};

// The forwarder of the process, which runs until the process stops (the admin endpoint's).
class LiveForwarder final : public FollowingForwarder {
 public:
  explicit LiveForwarder(const Forwarder& forwarder) : forwarder_(forwarder) {}
  ForwarderCounters counters() const override { return forwarder_.counters(); }
  std::optional<client::Status> ended() const override { return std::nullopt; }

 private:
  const Forwarder& forwarder_;
};

// A forwarder running on a thread of its own until stop().
class RunningForwarder final : public FollowingForwarder {
 public:
  RunningForwarder(std::unique_ptr<Forwarder> forwarder, std::string what);
  ~RunningForwarder();
  RunningForwarder(const RunningForwarder&) = delete;
  RunningForwarder& operator=(const RunningForwarder&) = delete;

  ForwarderCounters counters() const override { return forwarder_->counters(); }
  // Set when it ended by itself.
  std::optional<client::Status> ended() const override;
  // Stops it; what its run() returned.
  client::Status stop();

 private:
  std::unique_ptr<Forwarder> forwarder_;
  const std::string what_;
  client::Status result_;
  std::atomic<bool> ended_{false};
  std::thread thread_;
};

struct SnapshotLogin {
  std::string url;  // canal-server's HTTP port, http://host:canal.metrics.pull.port
  std::string user = "admin";
  std::string password;
};

class ServerSnapshots {
 public:
  // `command` names the command in its errors ("reindex", "load"); `stopped` is polled.
  static client::Result<ServerSnapshots> create(const SnapshotLogin& login, const std::string& destination,
                                                std::string command, CommandLog log, std::function<bool()> stopped);

  // Waits (up to a minute) until the forwarder has subscribed to its destination.
  client::Status waitSubscribed(const FollowingForwarder& running);
  // Starts a snapshot of `tables` (chunkSize, rowsPerSecond 0: the destination's) and waits for
  // it; `started` is told its id. The rows it put into the stream.
  client::Result<std::uint64_t> run(const FollowingForwarder& running, const std::vector<std::string>& tables, int chunkSize,
                                    int rowsPerSecond, const std::function<client::Status(std::int64_t)>& started);
  // Until the forwarder has written `snapshotRows` snapshot rows (its counter's value) and, the
  // last change it wrote then being older than `maxLag`, found nothing more to get or written a
  // change within `maxLag` of now.
  client::Status catchUp(const FollowingForwarder& running, std::uint64_t snapshotRows, std::chrono::milliseconds maxLag);

  // The columns of `table` (database.table) on the destination's primary now, as canal-server
  // reads them (asked again while it answers 503); an error naming the table when it has none.
  client::Result<std::vector<SourceColumn>> columnsOf(const std::string& table);

  // Cancels snapshot `id` if the server still runs it and waits until it has ended (a new one
  // can start then); whether it did.
  client::Result<bool> cancel(std::int64_t id);

  client::Status failure(const std::string& what) const;

 private:
  ServerSnapshots() = default;
  // A request to the snapshot endpoint, asked again while canal-server answers 503 (the primary
  // cannot be reached, the destination is starting) or does not answer, every 1 s to 10 s, for
  // up to two minutes: passing conditions are waited out and said in the log.
  client::Result<HttpResponse> ask(const std::string& method, const std::string& body = "") { return ask(url_, method, body); }
  client::Result<HttpResponse> ask(const std::string& url, const std::string& method, const std::string& body);
  client::Status refused(const std::string& what, const HttpResponse& r) const;

  std::shared_ptr<HttpClient> http_;
  std::string url_;     // .../destinations/<d>/snapshots
  std::string tables_;  // .../destinations/<d>/tables/
  std::string destination_;
  std::string command_;
  CommandLog log_;
  std::function<bool()> stopped_;
};

}  // namespace canal::forwarder
