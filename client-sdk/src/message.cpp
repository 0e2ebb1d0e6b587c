// Message, its recycled storage and RowChanges.

#include "message_storage.h"

namespace canal::client {

void MessageStorage::reset() {
  filled_ = 0;
  parsed = false;
  unparsed = 0;
}

void MessageStorage::add(std::string_view bytes) {
  if (filled_ < raw.size()) {
    raw[filled_].assign(bytes.data(), bytes.size());
  } else {
    raw.emplace_back(bytes);
  }
  ++filled_;
}

std::shared_ptr<MessagePool> MessagePool::create(std::size_t keep) {
  return std::shared_ptr<MessagePool>(new MessagePool(keep));
}

std::shared_ptr<MessageStorage> MessagePool::take() {
  std::unique_ptr<MessageStorage> storage;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!free_.empty()) {
      storage = std::move(free_.back());
      free_.pop_back();
    }
  }
  if (!storage) storage = std::make_unique<MessageStorage>();
  return std::shared_ptr<MessageStorage>(storage.release(),
                                         [pool = std::weak_ptr<MessagePool>(weak_from_this())](MessageStorage* s) {
                                           if (auto alive = pool.lock()) {
                                             alive->giveBack(s);
                                           } else {
                                             delete s;
                                           }
                                         });
}

void MessagePool::giveBack(MessageStorage* storage) {
  std::unique_ptr<MessageStorage> owned(storage);
  std::lock_guard<std::mutex> lock(mutex_);
  if (free_.size() < keep_) free_.push_back(std::move(owned));
}

Message::Message(std::int64_t id, std::vector<std::string> rawEntries)
    : id_(id), storage_(std::make_shared<MessageStorage>()) {
  storage_->raw = std::move(rawEntries);
}

Message messageIn(std::int64_t id, std::shared_ptr<MessageStorage> storage) {
  Message m;
  m.id_ = id;
  m.storage_ = std::move(storage);
  return m;
}

const std::vector<std::string>& Message::rawEntries() const {
  static const std::vector<std::string> kNone;
  return storage_ ? storage_->raw : kNone;
}

bool Message::empty() const { return rawEntries().empty(); }

const std::vector<Entry>& Message::entries() const {
  static const std::vector<Entry> kNone;
  if (!storage_) return kNone;
  MessageStorage& s = *storage_;
  std::lock_guard<std::mutex> lock(s.parsing);
  if (!s.parsed) {
    // Parsing into the entries already there reuses their strings' capacity.
    s.entries.resize(s.raw.size());
    s.unparsed = 0;
    for (std::size_t i = 0; i < s.raw.size(); ++i) {
      if (!s.entries[i].ParseFromString(s.raw[i])) {
        s.entries[i].Clear();
        ++s.unparsed;
      }
    }
    s.parsed = true;
  }
  return s.entries;
}

std::size_t Message::unparsedEntries() const {
  entries();
  return storage_ ? storage_->unparsed : 0;  // set once, under the lock, before entries() returns
}

namespace {

std::shared_ptr<const std::vector<Entry>> sharedEntries(const std::shared_ptr<MessageStorage>& storage,
                                                        const std::vector<Entry>& all) {
  // Shares the storage: the range keeps it alive.
  return storage ? std::shared_ptr<const std::vector<Entry>>(storage, &all)
                 : std::make_shared<const std::vector<Entry>>();
}

bool readChange(canal::protocol::entry::RowChange& change, const std::string& bytes) {
  return change.ParseFromString(bytes);
}
bool readChange(RowChangeReader& change, const std::string& bytes) { return change.parse(bytes); }

}  // namespace

RowChanges Message::rowChanges() const { return RowChanges(sharedEntries(storage_, entries())); }

RowChangeViews Message::rowChangeViews() const { return RowChangeViews(sharedEntries(storage_, entries())); }

template <typename Change>
std::size_t BasicRowChanges<Change>::next(std::size_t from) {
  for (std::size_t i = from; i < entries_->size(); ++i) {
    const Entry& e = (*entries_)[i];
    if (e.entrytype() != canal::protocol::entry::ROWDATA) continue;
    if (!readChange(change_, e.storevalue())) {
      failed_ = i;
      return entries_->size();
    }
    return i;
  }
  return entries_->size();
}

template <typename Change>
std::string BasicRowChanges<Change>::error() const {
  if (ok()) return "";
  const auto& h = (*entries_)[failed_].header();
  return "the RowChange of the entry at " + h.logfilename() + ":" + std::to_string(h.logfileoffset()) + " (" +
         h.schemaname() + "." + h.tablename() + ") does not parse";
}

template class BasicRowChanges<canal::protocol::entry::RowChange>;
template class BasicRowChanges<RowChangeReader>;

}  // namespace canal::client
