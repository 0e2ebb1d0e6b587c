#include "tests/support/file_binlog_source.h"

#include <atomic>
#include <optional>

#include "server/binlog/event_stream.h"
#include "server/binlog/event_type.h"
#include "server/replica/transaction_tracker.h"

namespace canal::testing {

void FixedTableDefinitions::add(schema::TableSchema table) {
  std::lock_guard<std::mutex> lock(mutex_);
  schema::TableKey key{table.database, table.table};
  tables_[key] = std::make_shared<const schema::TableSchema>(std::move(table));
}

Result<std::shared_ptr<const schema::TableSchema>> FixedTableDefinitions::table(const std::string& database,
                                                                                const std::string& table,
                                                                                const schema::SchemaPosition*) {
  std::lock_guard<std::mutex> lock(mutex_);
  const auto it = tables_.find({database, table});
  if (it == tables_.end()) return Status::notFound("no table " + database + "." + table);
  return it->second;
}

Status FixedTableDefinitions::applyDdl(const std::string& sql, const std::string&, const schema::SchemaPosition*) {
  std::lock_guard<std::mutex> lock(mutex_);
  ddls_.push_back(sql);
  return Status::ok();
}

std::vector<std::string> FixedTableDefinitions::ddls() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return ddls_;
}

namespace {

class FileRun final : public instance::BinlogRun {
 public:
  FileRun(std::shared_ptr<const std::vector<FileBinlogSource::File>> files, std::size_t file, std::uint64_t from,
          replica::DumpStart start, std::shared_ptr<FixedTableDefinitions> definitions,
          std::shared_ptr<std::atomic<bool>> atEnd)
      : files_(std::move(files)),
        file_(file),
        from_(from),
        start_(std::move(start)),
        definitions_(std::move(definitions)),
        atEnd_(std::move(atEnd)) {
    openFile();
  }

  const replica::DumpStart& start() const override { return start_; }

  Result<replica::DumpEvent> next() override {
    for (;;) {
      if (cancelled_) return Status::aborted("cancelled");
      if (file_ >= files_->size()) {
        // Read to the end: a primary with nothing more to send.
        std::unique_lock<std::mutex> lock(mutex_);
        *atEnd_ = true;
        woken_.wait(lock, [this] { return cancelled_.load(); });
        *atEnd_ = false;
        continue;
      }
      binlog::RawEvent raw;
      auto more = stream_->next(raw);
      if (!more) return more.status();
      if (!*more) {
        ++file_;
        from_ = 4;
        if (file_ < files_->size()) openFile();
        continue;
      }
      const bool fde = raw.header.type == binlog::kFormatDescriptionEvent;
      if (raw.offset < from_ && !fde) continue;  // before where the run starts
      replica::DumpEvent e;
      e.raw = raw;
      e.file = (*files_)[file_].name;
      e.nextPosition = raw.offset + raw.bytes.size();
      e.artificial = raw.offset < from_;  // the FDE sent ahead of a start inside the file
      if (!e.artificial && tracker_.note(raw, stream_->format()).ends) {
        committed_.file = e.file;
        committed_.position = e.nextPosition;
        committed_.timestamp = raw.header.timestamp;
        committed_.serverId = raw.header.serverId;
        committed_.source = "files:3306";
      }
      return e;
    }
  }

  const binlog::FormatDescription& format() const override { return stream_->format(); }
  const CommitPosition& committed() const override { return committed_; }
  schema::TableDefinitions& schemas() override { return *definitions_; }
  Status linkError(std::int64_t*) const override { return Status::ok(); }
  std::string reading() const override { return "files:3306"; }
  void cancel() override {
    std::lock_guard<std::mutex> lock(mutex_);
    cancelled_ = true;
    woken_.notify_all();
  }

 private:
  void openFile() {
    stream_.emplace((*files_)[file_].bytes, (*files_)[file_].name);
  }

  const std::shared_ptr<const std::vector<FileBinlogSource::File>> files_;
  std::size_t file_;
  std::uint64_t from_;
  const replica::DumpStart start_;
  const std::shared_ptr<FixedTableDefinitions> definitions_;
  const std::shared_ptr<std::atomic<bool>> atEnd_;
  std::optional<binlog::EventStream> stream_;
  replica::TransactionTracker tracker_;
  CommitPosition committed_;
  std::mutex mutex_;
  std::condition_variable woken_;
  std::atomic<bool> cancelled_{false};
};

}  // namespace

FileBinlogSource::FileBinlogSource(std::vector<File> files, std::shared_ptr<FixedTableDefinitions> definitions)
    : files_(std::make_shared<const std::vector<File>>(std::move(files))), definitions_(std::move(definitions)) {}

Result<std::unique_ptr<instance::BinlogRun>> FileBinlogSource::open(const std::optional<CommitPosition>& from) {
  std::size_t file = 0;
  std::uint64_t position = 4;
  if (from && !from->file.empty()) {
    while (file < files_->size() && (*files_)[file].name != from->file) ++file;
    if (file == files_->size()) return Status::positionRefused("no binlog " + from->file, "files:3306");
    position = from->position;
  }
  if (files_->empty()) return Status::invalidArgument("no binlog files");
  const std::string name = (*files_)[file].name;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    starts_.push_back(name + ":" + std::to_string(position));
  }
  return std::unique_ptr<instance::BinlogRun>(
      new FileRun(files_, file, position, replica::DumpStart::at(name, position), definitions_, atEnd_));
}

std::vector<std::string> FileBinlogSource::starts() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return starts_;
}

}  // namespace canal::testing
