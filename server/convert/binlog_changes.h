#pragma once

// Walks the events of a binlog file (including those inside TRANSACTION_PAYLOAD events) and
// yields Canal's ROWDATA entries: one per rows event, one per DDL or statement-format DML.
// Transaction framing (BEGIN/COMMIT/XID), GTIDs and statement context events are consumed.
// Used by canal-binlog and the decode benchmark. One thread per reader.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "server/binlog/event_stream.h"
#include "server/binlog/table_map.h"
#include "server/convert/change.h"

namespace canal::convert {

struct BinlogChangeStats {
  std::uint64_t events = 0;
  std::uint64_t unknownEvents = 0;  // types this decoder does not know, passed over
  std::uint64_t rows = 0;
  std::uint64_t entries = 0;
};

class BinlogChangeReader {
 public:
  // `data` is a whole binlog file and must outlive the reader; `fileName` goes into headers.
  BinlogChangeReader(std::string_view data, std::string fileName, RenderOptions options,
                     binlog::EventStreamOptions streamOptions = {});

  // Next entry; false at the clean end; a Corruption naming file:offset otherwise.
  Result<bool> next(ChangeEntry& out);

  const BinlogChangeStats& stats() const { return stats_; }
  // Bytes of the file consumed so far; nothing before this offset is referenced any more
  // except by the last entry returned.
  std::uint64_t offset() const { return stream_.offset(); }

 private:
  Result<bool> handle(const binlog::RawEvent& event, const binlog::EventStream& stream, ChangeEntry& out);

  std::string fileName_;
  RenderOptions options_;
  binlog::EventStream stream_;
  std::optional<binlog::EventStream> inner_;  // the events of the current TRANSACTION_PAYLOAD
  std::string payload_;
  binlog::RawEvent payloadEvent_;
  struct Table {
    std::shared_ptr<const binlog::TableMapEvent> map;
    std::shared_ptr<const ColumnInfos> columns;
  };
  std::unordered_map<std::uint64_t, Table> tables_;
  BinlogChangeStats stats_;
};

}  // namespace canal::convert
