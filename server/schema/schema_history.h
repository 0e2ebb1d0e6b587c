#pragma once

// The table definitions a destination has known, versioned by binlog position and kept in a
// file beside the destination's position metadata, so a restart from a stored position decodes
// with the definitions of that position, not the primary's current ones (which may be several
// ALTERs further on).
//
// The file holds one JSON record per line, appended and fsynced in stream order:
//   {"file":"mysql-bin.000003","pos":4,"kind":"snapshot","tables":[<table>...]}   all tables
//   {"file":...,"pos":...,"kind":"table","table":<table>}       one definition read from the primary
//   {"file":...,"pos":...,"kind":"ddl","database":"s","sql":"ALTER TABLE ..."}  a DDL in the stream
// <table> = {"database","table","columns":[{"name","type","dataType","unsigned","binary","key","members"}]}
//
// restore(at) rebuilds the definitions at `at` (the last snapshot at or before it, then the
// table and DDL records after that snapshot up to `at`) and drops the records after `at`: the
// stream replays them from there. Positions are ordered by binlog file index, then offset,
// which holds within one server's binlog; after moving to a standby the records carry the
// standby's coordinates. Thread contract: one thread.

#include <cstdint>
#include <string>
#include <vector>

#include "server/common/status.h"
#include "server/schema/ddl_applier.h"

namespace canal::schema {

struct SchemaPosition {
  std::string file;
  std::uint64_t position = 0;
};

// True when `a` is at or before `b` in one server's binlog ("mysql-bin.000009" < "mysql-bin.000010").
bool atOrBefore(const SchemaPosition& a, const SchemaPosition& b);

class SchemaHistory {
 public:
  // Opens (or creates) the history file at `path`; Corruption naming path:line for a record
  // that does not parse (a torn last line from a crash mid-append is dropped, not an error).
  static Result<SchemaHistory> open(std::string path);

  bool empty() const { return records_.empty(); }
  const std::string& path() const { return path_; }

  Status appendSnapshot(const SchemaPosition& at, const TableSet& tables);
  Status appendTable(const SchemaPosition& at, const TableSchema& table);
  Status appendDdl(const SchemaPosition& at, const std::string& database, const std::string& sql);

  // The definitions at `at`, and the file cut back to it. `spelling` is how the primary spells
  // types, for replaying DDL.
  Result<TableSet> restore(const SchemaPosition& at, TypeSpelling spelling = {});

 private:
  struct Record {
    SchemaPosition at;
    std::string line;  // the record as stored (without newline)
  };
  explicit SchemaHistory(std::string path) : path_(std::move(path)) {}
  Status append(Record record);
  Status rewrite();

  std::string path_;
  std::vector<Record> records_;
};

}  // namespace canal::schema
