#include "batch_sequence.h"

#include <charconv>

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/wire_format_lite.h>

#include "canal/client/flat_message.h"
#include "canal/protocol/entry_protocol.pb.h"

namespace canal::client {
namespace {

// "mysql-bin.000012" -> {"mysql-bin", 12}; the whole name and 0 without a numeric extension.
std::pair<std::string_view, std::uint64_t> splitFile(std::string_view file) {
  const auto dot = file.rfind('.');
  if (dot == std::string_view::npos) return {file, 0};
  std::uint64_t n = 0;
  const auto [p, ec] = std::from_chars(file.data() + dot + 1, file.data() + file.size(), n);
  if (ec != std::errc() || p != file.data() + file.size()) return {file, 0};
  return {file.substr(0, dot), n};
}

std::string describe(const BinlogPoint& p) {
  return p.file + ":" + std::to_string(p.offset) + (p.sequence ? " (sequence " + std::to_string(*p.sequence) + ")" : "");
}

}  // namespace

std::optional<int> compare(const BinlogPoint& a, const BinlogPoint& b) {
  if (a.sequence && b.sequence) return *a.sequence < *b.sequence ? -1 : *a.sequence > *b.sequence ? 1 : 0;
  if (a.serverId != b.serverId) return std::nullopt;
  const auto [baseA, numberA] = splitFile(a.file);
  const auto [baseB, numberB] = splitFile(b.file);
  if (baseA != baseB) return std::nullopt;
  if (numberA != numberB) return numberA < numberB ? -1 : 1;
  if (a.offset != b.offset) return a.offset < b.offset ? -1 : 1;
  return 0;
}

std::optional<BinlogPoint> entryPoint(std::string_view rawEntry) {
  using google::protobuf::internal::WireFormatLite;
  google::protobuf::io::CodedInputStream in(reinterpret_cast<const std::uint8_t*>(rawEntry.data()),
                                            static_cast<int>(rawEntry.size()));
  while (const std::uint32_t tag = in.ReadTag()) {
    if (WireFormatLite::GetTagFieldNumber(tag) == 1 &&
        WireFormatLite::GetTagWireType(tag) == WireFormatLite::WIRETYPE_LENGTH_DELIMITED) {
      std::uint32_t length = 0;
      if (!in.ReadVarint32(&length)) return std::nullopt;
      const int at = in.CurrentPosition();
      if (length > rawEntry.size() - static_cast<std::size_t>(at)) return std::nullopt;
      canal::protocol::entry::Header header;
      if (!header.ParseFromArray(rawEntry.data() + at, static_cast<int>(length))) return std::nullopt;
      if (header.logfilename().empty()) return std::nullopt;
      return BinlogPoint{header.serverid(), header.logfilename(), header.logfileoffset(), streamSequence(header)};
    }
    if (!WireFormatLite::SkipField(&in, tag)) return std::nullopt;
  }
  return std::nullopt;
}

Status BatchSequence::check(std::int64_t id, const std::vector<std::string>& rawEntries) {
  if (id == -1 || rawEntries.empty()) return Status::ok();
  const auto outOfSequence = [&](const std::string& why) {
    return Status(Status::kOutOfSequence, "batch " + std::to_string(id) + " is out of sequence: " + why);
  };
  if (id <= lastId_) return outOfSequence("its id is not above the last batch's, " + std::to_string(lastId_));
  const std::optional<BinlogPoint> first = entryPoint(rawEntries.front());
  if (first && expectedStart_) {
    const auto order = compare(*first, *expectedStart_);
    if (order && *order > 0) {
      return outOfSequence("it starts at " + describe(*first) + ", after " + describe(*expectedStart_) +
                           " where the batches given back started");
    }
  } else if (first && lastEnd_) {
    const auto order = compare(*first, *lastEnd_);
    // Numbered entries are each one place in the stream: the same number twice is an entry again.
    const bool numbered = first->sequence && lastEnd_->sequence;
    if (order && (*order < 0 || (*order == 0 && numbered))) {
      return outOfSequence("it starts at " + describe(*first) + ", before the end of the previous batch (" +
                           describe(*lastEnd_) + ") with no rollback in between");
    }
  }
  expectedStart_.reset();
  lastId_ = id;
  if (const auto last = entryPoint(rawEntries.back())) lastEnd_ = last;
  unacked_.push_back({id, first});
  return Status::ok();
}

void BatchSequence::acked(std::int64_t id) {
  while (!unacked_.empty() && unacked_.front().id <= id) unacked_.pop_front();
}

void BatchSequence::rolledBack() {
  if (!unacked_.empty() && unacked_.front().first) expectedStart_ = unacked_.front().first;
  unacked_.clear();
  lastEnd_.reset();
}

void BatchSequence::reset() {
  lastId_ = 0;
  lastEnd_.reset();
  unacked_.clear();
  expectedStart_.reset();
}

}  // namespace canal::client
