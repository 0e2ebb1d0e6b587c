#pragma once

// Writes row changes to Elasticsearch through _bulk (libcurl; TLS and basic auth optional).
// Each mapped table's rows become documents: id from the key (or chosen) columns, fields
// renamed, included or excluded and typed as the mapping says. INSERT and UPDATE index the whole
// document, DELETE deletes it, both with version_type=external and the change's version (its stream
// sequence, else its binlog position; forwarder/change.h), so a change delivered again never overwrites a newer one; an UPDATE whose row
// image is partial (binlog_row_image=MINIMAL/NOBLOB) is a partial update (doc_as_upsert).
// Every item of the response is checked: 429 and 5xx are retried with backoff, a version
// conflict is an older change (done), any other refusal (a mapping error) goes to the
// dead-letter file and is counted. Thread contract: one thread.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "forwarder/elasticsearch/bulk_action.h"
#include "forwarder/forwarder_config.h"
#include "forwarder/http_client.h"
#include "forwarder/sink.h"

namespace canal::forwarder {

// The actions for `changes` under `mappings` (the first mapping whose table expression matches
// a change's table; unmapped tables are skipped). An error when a row has no id (no key columns
// and no id columns configured).
client::Result<std::vector<BulkAction>> bulkActions(const std::vector<IndexMapping>& mappings,
                                                    const std::vector<const Change*>& changes);
// The NDJSON lines of `actions` (action line, then source line for index/update).
std::string bulkBody(const std::vector<BulkAction>& actions, std::size_t begin, std::size_t end);

struct ElasticsearchCounters {
  std::uint64_t indexed = 0;
  std::uint64_t updated = 0;
  std::uint64_t deleted = 0;
  std::uint64_t stale = 0;  // version conflicts: a newer change was there already
  std::uint64_t retried = 0;
  std::uint64_t deadLettered = 0;
  std::uint64_t requests = 0;
  std::uint64_t built = 0;  // multi-table documents read from the source and written (or deleted)
};

class ElasticsearchSink final : public Sink {
 public:
  using Logger = std::function<void(const std::string&)>;
  static client::Result<std::unique_ptr<ElasticsearchSink>> create(std::string name,
                                                                   const ElasticsearchSinkConfig& config, Logger log);
  ~ElasticsearchSink() override;

  const std::string& name() const override { return name_; }
  client::Status write(const std::vector<const Change*>& changes, std::int64_t batchId) override;
  std::string counters() const override;
  const ElasticsearchCounters& stats() const;

 private:
  class Impl;
  ElasticsearchSink(std::string name, std::unique_ptr<Impl> impl);
  std::string name_;
  std::unique_ptr<Impl> impl_;
};

// The HTTP settings (timeout, basic auth, TLS) of the cluster `config` writes to.
HttpOptions httpOptionsOf(const ElasticsearchSinkConfig& config);

}  // namespace canal::forwarder
