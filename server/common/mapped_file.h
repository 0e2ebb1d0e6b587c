#pragma once

// A read-only memory map of a whole file for one sequential pass: pages ahead of the reader are
// faulted in a window at a time and pages behind it are handed back, so resident memory stays
// near two windows however large the file is. Thread contract: one thread.

#include <cstddef>
#include <string>
#include <string_view>

#include "server/common/status.h"

namespace canal {

class MappedFile {
 public:
  static Result<MappedFile> open(const std::string& path);

  MappedFile(MappedFile&& other) noexcept;
  MappedFile& operator=(MappedFile&& other) noexcept;
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  ~MappedFile();

  std::string_view data() const { return {data_, size_}; }

  // The reader no longer needs bytes before `offset`.
  void consumedUpTo(std::size_t offset);

 private:
  MappedFile(const char* data, std::size_t size) : data_(data), size_(size) {}
  void prefetch(std::size_t from);

  static constexpr std::size_t kWindow = 8u << 20;
  const char* data_ = nullptr;
  std::size_t size_ = 0;
  std::size_t released_ = 0;    // pages before this offset were handed back
  std::size_t prefetched_ = 0;  // pages before this offset were faulted in
};

}  // namespace canal
