#include "server/common/mapped_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

namespace canal {

Result<MappedFile> MappedFile::open(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Status::ioError(std::strerror(errno), path);
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    return Status::ioError(std::strerror(err), path);
  }
  const auto size = static_cast<std::size_t>(st.st_size);
  void* map = size ? ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0) : nullptr;
  const int err = errno;
  ::close(fd);
  if (map == MAP_FAILED) return Status::ioError(std::strerror(err), path);
  if (size) ::madvise(map, size, MADV_SEQUENTIAL);
  MappedFile file(static_cast<const char*>(map), size);
  file.prefetch(0);
  return file;
}

MappedFile::MappedFile(MappedFile&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)),
      size_(std::exchange(other.size_, 0)),
      released_(other.released_),
      prefetched_(other.prefetched_) {}

MappedFile& MappedFile::operator=(MappedFile&& other) noexcept {
  if (this != &other) {
    if (data_) ::munmap(const_cast<char*>(data_), size_);
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
    released_ = other.released_;
    prefetched_ = other.prefetched_;
  }
  return *this;
}

MappedFile::~MappedFile() {
  if (data_) ::munmap(const_cast<char*>(data_), size_);
}

void MappedFile::prefetch(std::size_t from) {
  if (from >= size_) return;
  const std::size_t length = size_ - from < kWindow ? size_ - from : kWindow;
#ifdef MADV_POPULATE_READ
  // One call faults the window in; page by page faults cost several times more.
  ::madvise(const_cast<char*>(data_) + from, length, MADV_POPULATE_READ);
#endif
  prefetched_ = from + length;
}

void MappedFile::consumedUpTo(std::size_t offset) {
  if (offset + kWindow / 2 > prefetched_) prefetch(prefetched_);
  if (offset > released_ + kWindow) {
    const std::size_t upTo = (offset - (1u << 20)) & ~std::size_t{4095};
    ::madvise(const_cast<char*>(data_) + released_, upTo - released_, MADV_DONTNEED);
    released_ = upTo;
  }
}

}  // namespace canal
