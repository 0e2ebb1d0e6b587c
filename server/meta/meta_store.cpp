#include "server/meta/meta_store.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "server/common/durable_file.h"
#include "server/common/logging.h"
#include "server/common/thread_name.h"

namespace canal::meta {

PeriodicWriter::PeriodicWriter(std::chrono::milliseconds period, Write write)
    : period_(period), write_(std::move(write)) {
  if (period_.count() > 0) {
    thread_ = std::thread([this] {
      nameThisThread("meta-flush");
      run();
    });
  }
}

PeriodicWriter::~PeriodicWriter() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
  const Status s = flush();
  if (!s.isOk()) moduleLogger("meta")->error("last cursor flush failed: {}", s.toString());
}

Status PeriodicWriter::record(const DestinationMeta& meta, bool now) {
  if (now || period_.count() == 0) {
    std::lock_guard<std::mutex> lock(mutex_);
    pending_.reset();  // the write below carries every earlier change
    return write_(meta);
  }
  std::lock_guard<std::mutex> lock(mutex_);
  pending_ = meta;
  return Status::ok();
}

Status PeriodicWriter::flush() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!pending_) return Status::ok();
  const Status s = write_(*pending_);
  if (s.isOk()) pending_.reset();
  return s;
}

void PeriodicWriter::run() {
  std::unique_lock<std::mutex> lock(mutex_);
  while (!stopping_) {
    wake_.wait_for(lock, period_, [&] { return stopping_; });
    if (!pending_) continue;
    const Status s = write_(*pending_);
    if (s.isOk()) {
      pending_.reset();
    } else {  // tried again next period
      moduleLogger("meta")->error("cursor flush failed: {}", s.toString());
    }
  }
}

FileMetaStore::FileMetaStore(std::string destination, std::string path, std::chrono::milliseconds flushPeriod)
    : destination_(std::move(destination)),
      path_(std::move(path)),
      snapshotPath_((std::filesystem::path(path_).parent_path() / "snapshot.dat").string()),
      epochPath_((std::filesystem::path(path_).parent_path() / "epoch").string()),
      writer_(flushPeriod, [this](const DestinationMeta& meta) { return write(meta); }) {}

Status FileMetaStore::write(const DestinationMeta& meta) {
  std::string progress = encodeSnapshotProgress(meta);
  if (progress != snapshotWritten_) {
    if (!progress.empty()) {
      CANAL_RETURN_IF_ERROR(replaceFileDurably(snapshotPath_, progress));
    } else if (::unlink(snapshotPath_.c_str()) != 0 && errno != ENOENT) {
      return Status::ioError("removing " + snapshotPath_ + ": " + std::strerror(errno));
    }
    snapshotWritten_ = std::move(progress);
  }
  std::string text = encodeMetaDat(meta);
  if (text == written_) return Status::ok();  // an ack inside a transaction: the cursor did not move
  CANAL_RETURN_IF_ERROR(replaceFileDurably(path_, text));
  written_ = std::move(text);
  return Status::ok();
}

Result<DestinationMeta> FileMetaStore::load() {
  auto meta = readMetaDat(path_);
  if (!meta && meta.status().code() == StatusCode::kNotFound) return DestinationMeta{destination_, {}};
  if (meta && meta->destination != destination_) {
    return Status::corruption(path_, "meta.dat belongs to destination \"" + meta->destination + "\", not \"" +
                                         destination_ + "\"");
  }
  if (!meta) return meta;
  std::ifstream in(snapshotPath_, std::ios::binary);
  if (in) {
    snapshotWritten_.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    CANAL_RETURN_IF_ERROR(decodeSnapshotProgress(snapshotWritten_, snapshotPath_, *meta));
  }
  return meta;
}

Status FileMetaStore::record(const DestinationMeta& meta, const MetaChange& change) {
  return writer_.record(meta, change.kind != MetaChange::Kind::kCursor);
}

Status FileMetaStore::flush() { return writer_.flush(); }

Result<std::uint64_t> FileMetaStore::loadEpoch() {
  std::ifstream in(epochPath_, std::ios::binary);
  if (!in) return std::uint64_t{0};
  return parseEpoch(std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()), epochPath_);
}

Status FileMetaStore::recordEpoch(std::uint64_t epoch) {
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(epochPath_).parent_path(), ec);
  return replaceFileDurably(epochPath_, std::to_string(epoch) + "\n");
}

Result<std::uint64_t> parseEpoch(const std::string& text, const std::string& where) {
  std::uint64_t epoch = 0;
  const char* begin = text.data();
  const char* end = begin + text.size();
  while (end > begin && (end[-1] == '\n' || end[-1] == ' ')) --end;
  const auto [p, ec] = std::from_chars(begin, end, epoch);
  if (ec != std::errc() || p != end || begin == end) {
    return Status::corruption(where, "the stream epoch '" + text.substr(0, 32) + "' is not a number");
  }
  return epoch;
}

}  // namespace canal::meta
