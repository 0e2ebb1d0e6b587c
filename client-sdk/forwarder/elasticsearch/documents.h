#pragma once

// Documents built from several tables (DocumentMapping): a document per row of a main table,
// with the rows of joined tables as top-level fields, an object or a nested array. A change to
// the main table or to any joined table names the documents it belongs to (a joined row by its
// join columns, before and after the change); those are read again, all in one consistent read
// of the source database that has seen the whole batch, and written whole (index) or deleted
// when their main row is gone. The read's binlog position is every document's external
// version, so a document built from an older read never overwrites one built from a newer.
// Needs full row images (binlog_row_image=FULL): a joined row's join columns before a change.
// Thread contract: one thread.

#include <map>
#include <string>
#include <vector>

#include "forwarder/elasticsearch/bulk_action.h"
#include "forwarder/source_database.h"

namespace canal::forwarder {

class DocumentBuilder {
 public:
  // `source` must outlive the builder.
  DocumentBuilder(std::vector<DocumentMapping> documents, RowSource& source);

  // The _bulk actions that bring every document `changes` touch to the source's state.
  client::Result<std::vector<BulkAction>> actions(const std::vector<const Change*>& changes);

 private:
  struct Table {
    std::string database;
    std::string name;
  };
  // A join's table and its `on` columns, in the same order on both sides.
  struct Join {
    Table table;
    std::vector<std::string> mainColumns;
    std::vector<std::string> joinedColumns;
  };
  struct Plan;
  client::Result<std::vector<std::string>> keyOf(const Table& table, const std::vector<std::string>& configured);
  client::Status collect(const std::vector<const Change*>& changes, std::vector<Plan>& plans);
  client::Status build(std::size_t mapping, Plan& plan, std::int64_t version, std::vector<BulkAction>& out);

  std::vector<DocumentMapping> documents_;
  std::vector<Table> mains_;
  std::vector<std::vector<Join>> joins_;
  RowSource& source_;
  std::map<std::string, std::vector<std::string>> primaryKeys_;  // schema.table -> key columns
};

}  // namespace canal::forwarder
