#include "server/replica/transaction_tracker.h"

#include <cctype>
#include <string>

#include "server/binlog/event_type.h"

namespace canal::replica {
namespace {

// The first keyword of a statement, upper-cased.
std::string firstWord(std::string_view sql) {
  std::size_t i = 0;
  while (i < sql.size() && std::isspace(static_cast<unsigned char>(sql[i]))) ++i;
  std::string w;
  while (i < sql.size() && std::isalpha(static_cast<unsigned char>(sql[i]))) {
    w.push_back(static_cast<char>(std::toupper(static_cast<unsigned char>(sql[i]))));
    ++i;
  }
  return w;
}

}  // namespace

TransactionTracker::Step TransactionTracker::note(const binlog::RawEvent& e, const binlog::FormatDescription& format) {
  Step step;
  switch (e.header.type) {
    case binlog::kMariaGtidEvent: {
      auto g = binlog::decodeMariaGtid(e.body, "gtid");
      if (g) {
        inTransaction_ = !g->standalone();
        mariaGtid_ = *g;
      }
      step.opens = true;
      groupOpen_ = true;
      return step;
    }
    case binlog::kGtidLogEvent:
    case binlog::kAnonymousGtidLogEvent:
    case binlog::kGtidTaggedLogEvent:
      step.opens = true;
      groupOpen_ = true;
      return step;
    case binlog::kXidEvent:
    case binlog::kXaPrepareLogEvent:
      step.ends = true;
      break;
    case binlog::kQueryEvent:
    case binlog::kMariaQueryCompressedEvent: {
      auto q = binlog::decodeQuery(e.body, format, e.header.type == binlog::kMariaQueryCompressedEvent, "query");
      if (!q) return step;
      const std::string word = firstWord(q->query);
      step.opens = !groupOpen_;
      if (word == "BEGIN" || (word == "XA" && firstWord(std::string_view(q->query).substr(3)) == "START")) {
        inTransaction_ = true;
        groupOpen_ = true;
        return step;
      }
      // COMMIT of a non-transactional group, or DDL and other lone statements.
      step.ends = word == "COMMIT" || word == "ROLLBACK" || !inTransaction_;
      break;
    }
    case binlog::kTransactionPayloadEvent:
      step.opens = !groupOpen_;
      step.ends = true;
      break;
    default:
      return step;
  }
  if (step.ends) {
    groupOpen_ = false;
    inTransaction_ = false;
  } else if (step.opens) {
    groupOpen_ = true;
  }
  return step;
}

}  // namespace canal::replica
