#pragma once

// The body of a frame being received, grown as its bytes arrive (an announced length alone costs
// nothing). Up to kMappedFrom bytes it lives in the heap; a larger frame gets pages mapped for
// its announced length, resident only as they are written and unmapped when the frame is done or
// its connection closes. So what a peer made the server hold is given back to the system at
// once: the heap keeps freed memory for reuse (canal-server keeps buffers up to 32 MiB there).
// Thread contract: one thread (a session's strand).

#include <sys/mman.h>

#include <cstddef>
#include <string>
#include <string_view>

namespace canal::net {

class FrameBuffer {
 public:
  static constexpr std::size_t kMappedFrom = 1024 * 1024;

  FrameBuffer() = default;
  ~FrameBuffer() { reset(); }
  FrameBuffer(const FrameBuffer&) = delete;
  FrameBuffer& operator=(const FrameBuffer&) = delete;

  // Empties the buffer for a frame of `length` bytes; false when the pages cannot be mapped.
  bool start(std::size_t length) {
    reset();
    if (length < kMappedFrom) return true;
    void* p = ::mmap(nullptr, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) return false;
    mapped_ = static_cast<char*>(p);
    mappedLength_ = length;
    return true;
  }
  // Room for `n` more bytes at the end; where they go.
  char* extend(std::size_t n) {
    if (mapped_) {
      size_ += n;
      return mapped_ + size_ - n;
    }
    heap_.resize(heap_.size() + n);
    return heap_.data() + heap_.size() - n;
  }
  std::size_t size() const { return mapped_ ? size_ : heap_.size(); }
  std::string_view view() const { return mapped_ ? std::string_view(mapped_, size_) : std::string_view(heap_); }
  // Gives the memory back (the heap's when it grew beyond a read chunk, the mapping's always).
  void reset() {
    if (mapped_) ::munmap(mapped_, mappedLength_);
    mapped_ = nullptr;
    mappedLength_ = size_ = 0;
    heap_.clear();
    if (heap_.capacity() > kKeptCapacity) std::string().swap(heap_);
  }

 private:
  static constexpr std::size_t kKeptCapacity = 64 * 1024;
  std::string heap_;
  char* mapped_ = nullptr;
  std::size_t mappedLength_ = 0;
  std::size_t size_ = 0;
};

}  // namespace canal::net
