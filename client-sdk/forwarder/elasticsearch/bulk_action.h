#pragma once

// What the Elasticsearch sink sends for a document: built from a batch's changes by the sink's
// mappings (elasticsearch_sink.h) or by multi-table documents (documents.h).

#include <cstdint>
#include <string>

#include "forwarder/change.h"

namespace canal::forwarder {

// One _bulk action as built from the changes (one per document per batch: the changes of a
// document within a batch are merged in order).
struct BulkAction {
  enum class Kind { kIndex, kUpdate, kDelete };
  Kind kind = Kind::kIndex;
  std::string index;
  std::string id;
  std::string routing;       // empty: none
  std::int64_t version = 0;  // external version (index, delete)
  std::string source;        // JSON document (index) or fields (update); empty for delete
  const Change* change = nullptr;
};

}  // namespace canal::forwarder
