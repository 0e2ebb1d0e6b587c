#include "server/instance/stream_sequence.h"

namespace canal::instance {

std::uint64_t StreamSequence::number(std::uint64_t producerSequence) {
  constexpr std::uint64_t kPerEpoch = std::uint64_t{1} << kEntryBits;
  if (producerSequence < base_) producerSequence = base_;  // an entry stored already: not stored again
  if (producerSequence - base_ >= kPerEpoch) {
    const std::uint64_t epochs = (producerSequence - base_) / kPerEpoch;
    epoch_ += epochs;
    base_ += epochs * kPerEpoch;
  }
  return (epoch_ << kEntryBits) | (producerSequence - base_);
}

}  // namespace canal::instance
