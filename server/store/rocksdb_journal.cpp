#include "server/store/rocksdb_journal.h"

#include <lz4.h>
#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <rocksdb/write_batch.h>

#include <filesystem>
#include <memory>
#include <optional>

#include "server/common/byte_reader.h"
#include "server/common/byte_writer.h"
#include "server/common/thread_name.h"

namespace canal::store {
namespace {

constexpr char kAckKey[] = "m.ack";
constexpr char kResumeKey[] = "m.resume";
constexpr char kEntryPrefix = 'e';
constexpr std::uint8_t kAckable = 1;
constexpr std::uint8_t kDdl = 2;
constexpr std::uint8_t kLz4 = 4;  // the entry's bytes are an LZ4 block, its size before them

// Entries are LZ4-compressed from this size on: a RowChange repeats every column's name and type
// in every row, so it shrinks to about a quarter, and LZ4 costs less CPU than the WAL's CRC32C
// and the copies of the bytes it saves.
constexpr std::size_t kCompressFrom = 256;
// An entry larger than this is refused when read back (a corrupt size).
constexpr std::uint32_t kMaxEntryBytes = 1u << 30;

std::string entryKey(std::uint64_t sequence) {
  std::string key(1, kEntryPrefix);
  for (int shift = 56; shift >= 0; shift -= 8) key.push_back(static_cast<char>((sequence >> shift) & 0xff));
  return key;
}

void appendString(std::string& out, std::string_view s) {
  appendLe(out, s.size(), 4);
  out.append(s);
}

void appendPosition(std::string& out, const EntryPosition& p) {
  appendString(out, p.journalName);
  appendLe(out, p.position, 8);
  appendLe(out, static_cast<std::uint64_t>(p.timestamp), 8);
  appendLe(out, p.serverId, 4);
  appendString(out, p.gtid);
  appendLe(out, p.nextPosition, 8);
}

std::string_view readString(ByteReader& in) { return in.bytes(in.u32()); }

EntryPosition readPosition(ByteReader& in) {
  EntryPosition p;
  p.journalName = std::string(readString(in));
  p.position = in.u64();
  p.timestamp = static_cast<std::int64_t>(in.u64());
  p.serverId = in.u32();
  p.gtid = std::string(readString(in));
  p.nextPosition = in.u64();
  return p;
}

Status toStatus(const rocksdb::Status& s, const std::string& dir, const char* what) {
  if (s.ok()) return Status::ok();
  return Status::ioError(std::string(what) + ": " + s.ToString(), "event store " + dir);
}

// What precedes the serialized entry in a stored value; `rawSize`: the entry's size when what
// follows is its LZ4 block.
std::string encodeStoredEntryHeader(const StoredEntry& entry, std::optional<std::uint32_t> rawSize) {
  std::string out;
  out.push_back(static_cast<char>((entry.ackable ? kAckable : 0) | (entry.isDdl ? kDdl : 0) | (rawSize ? kLz4 : 0)));
  appendPosition(out, entry.position);
  if (rawSize) appendLe(out, *rawSize, 4);
  return out;
}

// The entry's bytes as an LZ4 block in `buffer` (grown as needed): its size, or 0 when
// compressing does not pay.
std::size_t compressEntry(std::string_view bytes, std::unique_ptr<char[]>& buffer, std::size_t& capacity) {
  if (bytes.size() < kCompressFrom || bytes.size() > kMaxEntryBytes) return 0;
  const auto bound = static_cast<std::size_t>(LZ4_compressBound(static_cast<int>(bytes.size())));
  if (bound > capacity) {
    buffer = std::make_unique_for_overwrite<char[]>(bound);
    capacity = bound;
  }
  const int n = LZ4_compress_default(bytes.data(), buffer.get(), static_cast<int>(bytes.size()), static_cast<int>(bound));
  return n > 0 && static_cast<std::size_t>(n) < bytes.size() ? static_cast<std::size_t>(n) : 0;
}

}  // namespace

std::string encodeStoredEntry(const StoredEntry& entry) {
  std::unique_ptr<char[]> buffer;
  std::size_t capacity = 0;
  const std::size_t compressed = compressEntry(entry.entry, buffer, capacity);
  if (compressed == 0) return encodeStoredEntryHeader(entry, std::nullopt) + entry.entry;
  return encodeStoredEntryHeader(entry, static_cast<std::uint32_t>(entry.entry.size())) +
         std::string(buffer.get(), compressed);
}

Result<StoredEntry> decodeStoredEntry(std::string_view bytes) {
  ByteReader in(bytes);
  StoredEntry e;
  const std::uint8_t flags = in.u8();
  e.ackable = (flags & kAckable) != 0;
  e.isDdl = (flags & kDdl) != 0;
  e.position = readPosition(in);
  const std::uint32_t rawSize = (flags & kLz4) != 0 ? in.u32() : 0;
  if (in.failed() || (flags & ~(kAckable | kDdl | kLz4)) != 0) {
    return Status::corruption("stored entry", "truncated or unknown header (" + std::to_string(bytes.size()) + " bytes)");
  }
  if ((flags & kLz4) == 0) {
    e.entry = std::string(in.rest());
    return e;
  }
  const std::string_view block = in.rest();
  if (rawSize > kMaxEntryBytes) {
    return Status::corruption("stored entry", "compressed entry claims " + std::to_string(rawSize) + " bytes");
  }
  e.entry.resize(rawSize);
  const int n = LZ4_decompress_safe(block.data(), e.entry.data(), static_cast<int>(block.size()), static_cast<int>(rawSize));
  if (n < 0 || static_cast<std::uint32_t>(n) != rawSize) {
    return Status::corruption("stored entry", "compressed entry of " + std::to_string(block.size()) +
                                                  " bytes does not expand to its " + std::to_string(rawSize));
  }
  return e;
}

RocksDbJournal::RocksDbJournal(std::string dir, std::unique_ptr<rocksdb::DB> db, std::uint64_t released,
                               bool syncAcks)
    : dir_(std::move(dir)), db_(std::move(db)), syncAcks_(syncAcks), released_(released), writer_([this] {
        nameThisThread("journal");
        run();
      }) {}

RocksDbJournal::~RocksDbJournal() {
  drain();
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  work_.notify_all();
  writer_.join();
  db_->Close().PermitUncheckedError();
}

Status RocksDbJournal::enqueue(Op op, bool wait) {
  std::unique_lock<std::mutex> lock(mutex_);
  if (!error_.isOk()) return error_;
  queue_.push_back(std::move(op));
  const std::uint64_t ticket = ++queued_;
  work_.notify_one();
  if (!wait) return Status::ok();
  written_.wait(lock, [&] { return done_ >= ticket || !error_.isOk(); });
  return error_;
}

void RocksDbJournal::drain() {
  std::unique_lock<std::mutex> lock(mutex_);
  const std::uint64_t ticket = queued_;
  written_.wait(lock, [&] { return done_ >= ticket || !error_.isOk(); });
}

void RocksDbJournal::run() {
  std::deque<Op> ops;
  rocksdb::WriteBatch batch;
  std::unique_ptr<char[]> compressed;
  std::size_t compressedCapacity = 0;
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(mutex_);
      work_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;
      ops.swap(queue_);
    }
    // Everything queued since the last write, in order, in one batch; only the last mark and
    // ack matter, and the batch is synced when it holds an ack (with syncAcks_).
    batch.Clear();
    rocksdb::Status s;
    bool sync = false;
    const std::string* mark = nullptr;
    const Op* release = nullptr;
    std::uint64_t releasedFrom = released_;
    for (const Op& op : ops) {
      if (op.kind == Op::Kind::kEntry) {
        const std::string key = entryKey(op.sequence);
        const std::string& bytes = op.entry->entry;
        const std::size_t size = compressEntry(bytes, compressed, compressedCapacity);
        const std::string header =
            encodeStoredEntryHeader(*op.entry, size ? std::optional(static_cast<std::uint32_t>(bytes.size())) : std::nullopt);
        const rocksdb::Slice keyPart(key);
        const rocksdb::Slice valueParts[] = {header, size ? rocksdb::Slice(compressed.get(), size) : rocksdb::Slice(bytes)};
        if (s.ok()) s = batch.Put(rocksdb::SliceParts(&keyPart, 1), rocksdb::SliceParts(valueParts, 2));
      } else if (op.kind == Op::Kind::kMark) {
        mark = &op.value;
      } else if (op.sequence >= released_) {  // a release below an earlier one changes nothing
        release = &op;
        released_ = op.sequence;
        sync = syncAcks_;
      }
    }
    if (s.ok() && mark) s = batch.Put(kResumeKey, *mark);
    if (s.ok() && release) {
      s = batch.Put(kAckKey, release->value);
      if (s.ok() && released_ > releasedFrom) s = batch.DeleteRange(entryKey(releasedFrom), entryKey(released_));
    }
    if (s.ok() && batch.Count() > 0) {
      rocksdb::WriteOptions options;
      options.sync = sync;
      s = db_->Write(options, &batch);
    }
    std::lock_guard<std::mutex> lock(mutex_);
    if (!s.ok() && error_.isOk()) error_ = toStatus(s, dir_, "write");
    done_ += ops.size();
    ops.clear();
    written_.notify_all();
  }
}

Result<std::unique_ptr<RocksDbJournal>> RocksDbJournal::open(const std::string& dir, RecoveredStore& recovered,
                                                            bool syncAcks) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return Status::ioError("cannot create the directory: " + ec.message(), "event store " + dir);
  rocksdb::Options options;
  options.create_if_missing = true;
  options.write_buffer_size = 16 << 20;
  // Entries live until they are acked: most never leave the memtable, and compressing the few
  // that reach a table file costs more CPU than the disk it saves.
  options.compression = rocksdb::kNoCompression;
  options.max_write_buffer_number = 2;
  options.keep_log_file_num = 2;
  options.max_open_files = 64;
  options.info_log_level = rocksdb::InfoLogLevel::WARN_LEVEL;
  rocksdb::DB* raw = nullptr;
  CANAL_RETURN_IF_ERROR(toStatus(rocksdb::DB::Open(options, dir, &raw), dir, "open"));
  std::unique_ptr<rocksdb::DB> db(raw);

  recovered = RecoveredStore{};
  std::string value;
  rocksdb::Status s = db->Get(rocksdb::ReadOptions(), kAckKey, &value);
  if (s.ok()) {
    ByteReader in(value);
    recovered.ackSequence = in.u64();
    if (in.u8() == 1) recovered.ackPosition = readPosition(in);
    if (in.failed()) return Status::corruption("event store " + dir, "unreadable ack cursor");
  } else if (!s.IsNotFound()) {
    return toStatus(s, dir, "read ack cursor");
  }
  s = db->Get(rocksdb::ReadOptions(), kResumeKey, &value);
  if (s.ok()) {
    ByteReader in(value);
    ResumeMark mark;
    mark.sequence = in.u64();
    mark.data = std::string(in.rest());
    if (in.failed()) return Status::corruption("event store " + dir, "unreadable resume mark");
    recovered.resume = std::move(mark);
  } else if (!s.IsNotFound()) {
    return toStatus(s, dir, "read resume mark");
  }

  std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions()));
  std::uint64_t expected = recovered.ackSequence;
  for (it->Seek(entryKey(expected)); it->Valid() && it->key().starts_with(rocksdb::Slice(&kEntryPrefix, 1)); it->Next()) {
    const std::string where = "event store " + dir + " entry " + std::to_string(expected);
    if (it->key().ToString() != entryKey(expected)) return Status::corruption(where, "missing (the sequence has a gap)");
    auto entry = decodeStoredEntry(std::string_view(it->value().data(), it->value().size()));
    if (!entry) return entry.status().withContext(where);
    recovered.entries.push_back(std::move(*entry));
    ++expected;
  }
  CANAL_RETURN_IF_ERROR(toStatus(it->status(), dir, "read entries"));
  it.reset();
  return std::unique_ptr<RocksDbJournal>(new RocksDbJournal(dir, std::move(db), recovered.ackSequence, syncAcks));
}

Status RocksDbJournal::destroy(const std::string& dir) {
  if (!std::filesystem::exists(dir)) return Status::ok();
  return toStatus(rocksdb::DestroyDB(dir, rocksdb::Options()), dir, "destroy");
}

Status RocksDbJournal::append(std::uint64_t sequence, const StoredEntry& entry) {
  return enqueue(Op{Op::Kind::kEntry, sequence, &entry, {}}, false);
}

Status RocksDbJournal::markResume(const ResumeMark& mark) {
  std::string value;
  appendLe(value, mark.sequence, 8);
  value.append(mark.data);
  return enqueue(Op{Op::Kind::kMark, 0, nullptr, std::move(value)}, false);
}

std::uint64_t RocksDbJournal::diskBytes() const {
  std::uint64_t sst = 0;
  std::uint64_t wal = 0;
  db_->GetIntProperty(rocksdb::DB::Properties::kTotalSstFilesSize, &sst);
  db_->GetIntProperty(rocksdb::DB::Properties::kCurSizeAllMemTables, &wal);
  return sst + wal;
}

Status RocksDbJournal::release(std::uint64_t end, const std::optional<EntryPosition>& position) {
  std::string value;
  appendLe(value, end, 8);
  value.push_back(position ? 1 : 0);
  if (position) appendPosition(value, *position);
  return enqueue(Op{Op::Kind::kRelease, end, nullptr, std::move(value)}, true);
}

}  // namespace canal::store
