#pragma once

// Canal's ZooKeeper meta (default-instance.xml; docs/operations.md, "ZooKeeper"): a subscribed
// client is the persistent node /otter/canal/destinations/<dest>/<clientId>, its filter the
// "filter" child, its cursor the "cursor" child holding the LogPosition JSON, and ours the
// "acked" child ("file:offset" of the last acked entry, see ClientCursor). Cursors are
// written on every ack, or every `flushPeriod` (canal.zookeeper.flush.period) when set. The
// session is the one that won the destination's running node: once it expires, writes fail, so
// a server that lost the destination cannot move a cursor behind its successor's back.

#include <map>
#include <memory>
#include <string>

#include "server/common/zookeeper_session.h"
#include "server/meta/meta_store.h"

namespace canal::meta {

class ZooKeeperMetaStore final : public MetaStore {
 public:
  ZooKeeperMetaStore(std::string destination, std::shared_ptr<ZooKeeperSession> session,
                     std::chrono::milliseconds flushPeriod);
  Result<DestinationMeta> load() override;
  Status record(const DestinationMeta& meta, const MetaChange& change) override;
  Status flush() override;
  bool shared() const override { return true; }
  // In the node /otter/canal/destinations/<dest>/epoch (Canal has none; its clients ignore it).
  Result<std::uint64_t> loadEpoch() override;
  Status recordEpoch(std::uint64_t epoch) override;

 private:
  Status writeCursors(const DestinationMeta& meta);

  const std::string destination_;
  const std::shared_ptr<ZooKeeperSession> session_;
  // The snapshot progress last written per client (node <client>/snapshot; guarded by writer_).
  std::map<std::int16_t, std::string> snapshotWritten_;
  PeriodicWriter writer_;
};

}  // namespace canal::meta
