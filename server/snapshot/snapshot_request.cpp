// A snapshot request's `where` checked, and a snapshot's progress as /status and the API show it.

#include <nlohmann/json.hpp>

#include "server/common/clock.h"
#include "server/snapshot/snapshot_runner.h"

namespace canal::snapshot {

std::string SnapshotProgress::toJson() const {
  nlohmann::json j;
  j["id"] = id;
  j["state"] = state;
  j["error"] = error.empty() ? nlohmann::json() : nlohmann::json(error);
  j["startedMs"] = startedMs;
  j["finishedMs"] = finishedMs ? nlohmann::json(finishedMs) : nlohmann::json();
  j["chunks"] = chunks;
  j["chunksReread"] = chunksReread;
  std::uint64_t rows = 0;
  std::uint64_t estimated = 0;
  for (const TableProgress& t : tables) {
    j["tables"].push_back({{"table", t.table}, {"rows", t.rows}, {"dropped", t.dropped}, {"estimatedRows", t.estimated},
                           {"done", t.done}});
    rows += t.rows + t.dropped;
    estimated += std::max(t.estimated, t.rows + t.dropped);
  }
  j["rows"] = rows;
  j["estimatedRows"] = estimated;
  const std::int64_t elapsed = (finishedMs ? finishedMs : wallClockMs()) - startedMs;
  if (state == "running" && rows > 0 && estimated > rows) {
    j["etaMs"] = static_cast<std::int64_t>(static_cast<double>(elapsed) * static_cast<double>(estimated - rows) /
                                           static_cast<double>(rows));
  } else {
    j["etaMs"] = nullptr;
  }
  return j.dump();
}

Status checkWhere(std::string_view where) {
  const auto bad = [&](std::size_t at, const std::string& what) {
    return Status::invalidArgument("\"where\" is not one boolean expression: " + what + " at character " +
                                   std::to_string(at + 1));
  };
  int depth = 0;
  char quote = 0;
  std::size_t quoteStart = 0;
  for (std::size_t i = 0; i < where.size(); ++i) {
    const char c = where[i];
    if (quote) {
      if (c == '\\' && quote != '`') {
        ++i;  // the escaped character, whatever it is
      } else if (c == quote) {
        if (i + 1 < where.size() && where[i + 1] == quote) ++i;  // a doubled quote stays inside
        else quote = 0;
      }
      continue;
    }
    const char next = i + 1 < where.size() ? where[i + 1] : '\0';
    switch (c) {
      case '\'': case '"': case '`':
        quote = c;
        quoteStart = i;
        break;
      case '(':
        ++depth;
        break;
      case ')':
        if (--depth < 0) return bad(i, "a ')' closes what it did not open");
        break;
      case ';':
        return bad(i, "a ';'");
      case '#':
        return bad(i, "a comment ('#')");
      case '-':
        if (next == '-') return bad(i, "a comment ('--')");
        break;
      case '/':
        if (next == '*') return bad(i, "a comment ('/*')");
        break;
      case '*':
        if (next == '/') return bad(i, "a comment's end ('*/')");
        break;
      default:
        break;
    }
  }
  if (quote) return bad(quoteStart, std::string("a quote (") + quote + ") that is not closed");
  if (depth != 0) return bad(where.size() - 1, std::to_string(depth) + " '(' not closed");
  return Status::ok();
}

}  // namespace canal::snapshot
