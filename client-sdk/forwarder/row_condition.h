#pragma once

// A condition on a row's columns, written as a SQL WHERE is (the sql sink's per-table `where`):
//   comparisons  column = | != | <> | < | <= | > | >= value    (value: a number or a 'string')
//                column IS [NOT] NULL,  column [NOT] IN (value, ...),  column [NOT] LIKE 'pat%'
//   joined by AND, OR, NOT and parentheses; keywords in any case, names bare or `quoted`.
// Two numbers compare as numbers, anything else as text (byte order); a comparison with a NULL
// column, or a column the row does not have, is false, as in SQL (IS NULL aside).
// Thread contract: a compiled condition is read-only (any thread).

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "canal/client/status.h"
#include "forwarder/change.h"

namespace canal::forwarder {

class RowCondition {
 public:
  // InvalidArgument naming what is wrong and where.
  static client::Result<RowCondition> compile(std::string_view text);
  // Whether the row image (columns by name) matches.
  bool matches(const google::protobuf::RepeatedPtrField<eb::Column>& image) const;

  struct Node;

 private:
  std::shared_ptr<const Node> root_;
};

}  // namespace canal::forwarder
