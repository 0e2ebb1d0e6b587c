#pragma once

// MySQL's binary JSON (the storage and binlog form of JSON columns) to JSON text, and the JSON
// diffs of PARTIAL_UPDATE_ROWS events (binlog_row_value_options=PARTIAL_JSON).
//
// Text layout is MySQL's: `{"a": 1, "b": [1, 2]}` with keys in stored order; doubles are written
// as Java's Double.toString (Canal's rendering), DECIMAL plainly, DATE/TIME/DATETIME/TIMESTAMP
// as quoted strings (6 fraction digits for the timed ones), other opaque values as
// "base64:type<N>:<data>". Strings are escaped as Canal does (\" \\ \n \r \t, other control
// characters and U+007F-U+00A0 as \u00xx).

#include <string>
#include <string_view>

#include "server/common/status.h"

namespace canal::binlog {

// Appends the text of the binary document `binary`. An empty value is the empty string "".
Status appendJsonText(std::string& out, std::string_view binary, const std::string& where);

// Applies the diff list of a partial JSON update (`diffs`) to the document `before` and appends
// the text of the result.
Status appendJsonAfterDiff(std::string& out, std::string_view before, std::string_view diffs,
                           const std::string& where);

// Appends the diff list as a SQL expression over `column`, as mysqlbinlog shows it, e.g.
// JSON_REMOVE(JSON_REPLACE(`doc`, '$.a', 1), '$.b'): used when no before image exists.
Status appendJsonDiffExpression(std::string& out, std::string_view column, std::string_view diffs,
                                const std::string& where);

// Appends `text` as a JSON string literal (quotes included) with the escapes above.
void appendJsonString(std::string& out, std::string_view text);

}  // namespace canal::binlog
