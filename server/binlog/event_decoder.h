#pragma once

// One entry point over the typed decoders: the body of any event as a variant. Row events and
// TABLE_MAP are left to the rows decoder (monostate here); unknown types pass through as
// monostate too, never as an error.

#include <string>
#include <variant>

#include "server/binlog/event_stream.h"
#include "server/binlog/events.h"

namespace canal::binlog {

using EventBody =
    std::variant<std::monostate, FormatDescription, QueryEvent, RotateEvent, XidEvent, IntvarEvent, RandEvent,
                 UserVarEvent, IncidentEvent, HeartbeatEvent, GtidEvent, PreviousGtidsEvent, MariaGtidEvent,
                 MariaGtidListEvent, BinlogCheckpointEvent, RowsQueryEvent, XaPrepareEvent, TransactionPayloadEvent,
                 LoadBlockEvent, ExecuteLoadQueryEvent>;

// Decodes `event` under `format` (the stream's format when the event was read).
Result<EventBody> decodeEventBody(const RawEvent& event, const FormatDescription& format, const std::string& where);

}  // namespace canal::binlog
