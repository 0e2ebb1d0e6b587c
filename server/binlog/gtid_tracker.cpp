#include "server/binlog/gtid_tracker.h"

#include <cctype>

#include "server/common/ascii.h"

namespace canal::binlog {
namespace {

// "domain-server-sequence"; nullopt when `item` is not one.
std::optional<std::uint32_t> mariaDomain(std::string_view item) {
  std::uint64_t parts[3] = {0, 0, 0};
  int n = 0;
  bool digits = false;
  for (const char ch : item) {
    if (ch == '-' && digits && n < 2) {
      ++n;
      digits = false;
    } else if (std::isdigit(static_cast<unsigned char>(ch)) && parts[n] < (~0ull - 9) / 10) {
      parts[n] = parts[n] * 10 + static_cast<std::uint64_t>(ch - '0');
      digits = true;
    } else {
      return std::nullopt;
    }
  }
  if (n != 2 || !digits || parts[0] > 0xffffffffull) return std::nullopt;
  return static_cast<std::uint32_t>(parts[0]);
}

}  // namespace

Status GtidTracker::start(std::string_view executed) {
  *this = GtidTracker();
  if (executed.find(':') != std::string_view::npos) {
    auto set = MysqlGtidSet::parse(executed);
    if (!set) return set.status();
    mysql_ = std::move(*set);
    whole_ = true;
  } else {
    std::size_t from = 0;
    while (from < executed.size()) {
      std::size_t comma = executed.find(',', from);
      if (comma == std::string_view::npos) comma = executed.size();
      const std::string_view item = asciiTrim(executed.substr(from, comma - from));
      const auto domain = mariaDomain(item);
      if (!domain) {
        return Status::invalidArgument("GTID \"" + std::string(item) +
                                       "\" is neither a MySQL uuid:interval set nor a MariaDB domain-server-sequence");
      }
      maria_[*domain] = std::string(item);
      from = comma + 1;
    }
  }
  refresh();
  return Status::ok();
}

void GtidTracker::note(const GtidEvent& g) {
  if (g.anonymous) return;
  commit();  // a new transaction: the one before it ended
  if (!whole_ && mysql_.empty() && g.tag.empty() && g.gno > 1) {
    if (auto assumed = MysqlGtidSet::parse(g.uuid() + ":1-" + std::to_string(g.gno - 1))) mysql_ = std::move(*assumed);
  }
  mysqlPending_ = Pending{g.sid, g.gno, g.tag};
  refresh();
}

void GtidTracker::note(const MariaGtidEvent& g, std::uint32_t serverId) {
  commit();
  mariaPending_ = std::make_pair(g.domainId, std::to_string(g.domainId) + "-" + std::to_string(serverId) + "-" +
                                                  std::to_string(g.sequence));
  refresh();
}

void GtidTracker::note(const PreviousGtidsEvent& p) {
  auto set = MysqlGtidSet::parse(p.gtidSet);
  if (!set) return;
  mysql_ = std::move(*set);
  whole_ = true;
  refresh();
}

void GtidTracker::commit() {
  if (!mysqlPending_ && !mariaPending_) return;
  if (mysqlPending_) mysql_.add(mysqlPending_->uuid, mysqlPending_->gno, mysqlPending_->tag);
  if (mariaPending_) {
    mariaLast_ = mariaPending_->second;
    maria_[mariaPending_->first] = std::move(mariaPending_->second);
  }
  mysqlPending_.reset();
  mariaPending_.reset();
  refresh();
}

void GtidTracker::discardPending() {
  mysqlPending_.reset();
  mariaPending_.reset();
  refresh();
}

const std::string& GtidTracker::executedWithPending() const {
  if (!stale_) return withPending_;
  stale_ = false;
  if (!maria_.empty() || mariaPending_) {
    std::map<std::uint32_t, std::string> shown = maria_;
    if (mariaPending_) shown[mariaPending_->first] = mariaPending_->second;
    withPending_.clear();
    for (const auto& [domain, gtid] : shown) withPending_ += (withPending_.empty() ? "" : ",") + gtid;
    return withPending_;
  }
  if (!mysqlPending_) {
    withPending_ = mysql_.toString();
    return withPending_;
  }
  MysqlGtidSet shown = mysql_;
  shown.add(mysqlPending_->uuid, mysqlPending_->gno, mysqlPending_->tag);
  withPending_ = shown.toString();
  return withPending_;
}

}  // namespace canal::binlog
