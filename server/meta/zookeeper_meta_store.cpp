#include "server/meta/zookeeper_meta_store.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>

namespace canal::meta {
namespace {

bool numeric(const std::string& name) {
  return !name.empty() && name.size() <= 6 &&
         std::all_of(name.begin() + (name[0] == '-' ? 1 : 0), name.end(), [](unsigned char c) { return std::isdigit(c); }) &&
         name != "-";
}

std::string destinationPath(const std::string& destination) { return "/otter/canal/destinations/" + destination; }

}  // namespace

ZooKeeperMetaStore::ZooKeeperMetaStore(std::string destination, std::shared_ptr<ZooKeeperSession> session,
                                       std::chrono::milliseconds flushPeriod)
    : destination_(std::move(destination)),
      session_(std::move(session)),
      writer_(flushPeriod, [this](const DestinationMeta& meta) { return writeCursors(meta); }) {}

Result<DestinationMeta> ZooKeeperMetaStore::load() {
  DestinationMeta meta{destination_, {}};
  const std::string root = destinationPath(destination_);
  auto names = session_->children(root);
  if (!names) return names.status();
  for (const std::string& name : *names) {
    if (!numeric(name)) continue;  // running, cluster, parse
    const int id = std::stoi(name);
    if (id < -32768 || id > 32767) continue;
    ClientMeta c;
    c.clientId = static_cast<std::int16_t>(id);
    auto filter = session_->get(root + "/" + name + "/filter");
    if (!filter) return filter.status();
    c.filter = *filter;
    auto cursor = session_->get(root + "/" + name + "/cursor");
    if (!cursor) return cursor.status();
    if (*cursor && !(*cursor)->empty()) {
      auto decoded = decodeLogPosition(**cursor, "ZooKeeper " + root + "/" + name + "/cursor");
      if (!decoded) return decoded.status();
      c.cursor = std::move(*decoded);
      auto acked = session_->get(root + "/" + name + "/acked");
      if (!acked) return acked.status();
      if (*acked) {
        const auto colon = (*acked)->rfind(':');
        if (colon != std::string::npos) {
          c.cursor->ackedThroughFile = (*acked)->substr(0, colon);
          c.cursor->ackedThroughOffset = std::strtoull((*acked)->c_str() + colon + 1, nullptr, 10);
        }
      }
      auto snapshot = session_->get(root + "/" + name + "/snapshot");
      if (!snapshot) return snapshot.status();
      if (*snapshot) c.cursor->snapshot = **snapshot;
      snapshotWritten_[c.clientId] = c.cursor->snapshot;
    }
    meta.clients.push_back(std::move(c));
  }
  return meta;
}

Status ZooKeeperMetaStore::writeCursors(const DestinationMeta& meta) {
  const std::string root = destinationPath(destination_);
  for (const ClientMeta& c : meta.clients) {
    if (!c.cursor) continue;
    const std::string client = root + "/" + std::to_string(c.clientId);
    // The snapshot's progress first (a cursor older than it only delivers again what the
    // consumer has), then "acked": with a crash between the writes the pair still never points
    // past what was acked.
    if (c.cursor->snapshot != snapshotWritten_[c.clientId]) {
      CANAL_RETURN_IF_ERROR(session_->put(client + "/snapshot", c.cursor->snapshot));
      snapshotWritten_[c.clientId] = c.cursor->snapshot;
    }
    if (!c.cursor->ackedThroughFile.empty()) {
      CANAL_RETURN_IF_ERROR(session_->put(client + "/acked", c.cursor->ackedThroughFile + ":" +
                                                                 std::to_string(c.cursor->ackedThroughOffset)));
    }
    CANAL_RETURN_IF_ERROR(session_->put(client + "/cursor", encodeLogPosition(*c.cursor)));
  }
  return Status::ok();
}

Status ZooKeeperMetaStore::record(const DestinationMeta& meta, const MetaChange& change) {
  const std::string client = destinationPath(destination_) + "/" + std::to_string(change.clientId);
  switch (change.kind) {
    case MetaChange::Kind::kSubscribe: {
      CANAL_RETURN_IF_ERROR(session_->ensurePath(client));
      for (const ClientMeta& c : meta.clients) {
        if (c.clientId == change.clientId && c.filter && !c.filter->empty()) {
          CANAL_RETURN_IF_ERROR(session_->put(client + "/filter", *c.filter));
        }
      }
      return Status::ok();
    }
    case MetaChange::Kind::kUnsubscribe: return session_->removeRecursive(client);
    case MetaChange::Kind::kCursor: return writer_.record(meta, false);
  }
  return Status::ok();
}

Status ZooKeeperMetaStore::flush() { return writer_.flush(); }

Result<std::uint64_t> ZooKeeperMetaStore::loadEpoch() {
  const std::string path = destinationPath(destination_) + "/epoch";
  auto text = session_->get(path);
  if (!text) return text.status();
  if (!*text || (*text)->empty()) return std::uint64_t{0};
  return parseEpoch(**text, "ZooKeeper " + path);
}

Status ZooKeeperMetaStore::recordEpoch(std::uint64_t epoch) {
  const std::string root = destinationPath(destination_);
  CANAL_RETURN_IF_ERROR(session_->ensurePath(root));
  return session_->put(root + "/epoch", std::to_string(epoch));
}

}  // namespace canal::meta
