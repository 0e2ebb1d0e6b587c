#include "server/binlog/event_decoder.h"

#include "server/binlog/event_type.h"

namespace canal::binlog {
namespace {

template <typename T>
Result<EventBody> lift(Result<T> r) {
  if (!r) return r.status();
  return EventBody(std::move(r).value());
}

}  // namespace

Result<EventBody> decodeEventBody(const RawEvent& event, const FormatDescription& format, const std::string& where) {
  const std::string_view body = event.body;
  switch (event.header.type) {
    case kFormatDescriptionEvent: return EventBody(format);
    case kQueryEvent: return lift(decodeQuery(body, format, false, where));
    case kMariaQueryCompressedEvent: return lift(decodeQuery(body, format, true, where));
    case kRotateEvent: return lift(decodeRotate(body, format, where));
    case kXidEvent: return lift(decodeXid(body, where));
    case kIntvarEvent: return lift(decodeIntvar(body, where));
    case kRandEvent: return lift(decodeRand(body, where));
    case kUserVarEvent: return lift(decodeUserVar(body, where));
    case kIncidentEvent: return lift(decodeIncident(body, where));
    case kHeartbeatLogEvent: return lift(decodeHeartbeat(body, false, where));
    case kHeartbeatLogEventV2: return lift(decodeHeartbeat(body, true, where));
    case kGtidLogEvent: return lift(decodeGtid(body, false, where));
    case kAnonymousGtidLogEvent: return lift(decodeGtid(body, true, where));
    case kGtidTaggedLogEvent: return lift(decodeGtidTagged(body, where));
    case kPreviousGtidsLogEvent: return lift(decodePreviousGtids(body, where));
    case kMariaGtidEvent: return lift(decodeMariaGtid(body, where));
    case kMariaGtidListEvent: return lift(decodeMariaGtidList(body, where));
    case kMariaBinlogCheckpointEvent: return lift(decodeBinlogCheckpoint(body, where));
    case kMariaAnnotateRowsEvent: return lift(decodeAnnotateRows(body, where));
    case kRowsQueryLogEvent: return lift(decodeRowsQuery(body, where));
    case kXaPrepareLogEvent: return lift(decodeXaPrepare(body, where));
    case kTransactionPayloadEvent: return lift(decodeTransactionPayload(body, where));
    case kBeginLoadQueryEvent: return lift(decodeLoadBlock(body, true, where));
    case kAppendBlockEvent: return lift(decodeLoadBlock(body, false, where));
    case kExecuteLoadQueryEvent: return lift(decodeExecuteLoadQuery(body, format, where));
    default: return EventBody();
  }
}

}  // namespace canal::binlog
