#pragma once

// Canal's FlatMessage JSON (canal-json; docs/entries.md, "FlatMessage JSON") of one
// ROWDATA entry: properties in alphabetical order, nulls written, column values as strings.

#include <cstdint>
#include <string>

#include "server/convert/change.h"

namespace canal::convert {

// Appends the FlatMessage of `entry` (no trailing newline). `id` is the batch id, `ts` the
// wall-clock time in ms when the message is built.
void appendFlatMessage(std::string& out, const ChangeEntry& entry, std::int64_t id, std::int64_t ts);

// Appends `text` as a JSON string: \" \\ \b \f \n \r \t, other control characters as \u00XX,
// everything else as UTF-8; bytes that are not UTF-8 become U+FFFD, as a Java decoder makes them.
void appendJsonUtf8(std::string& out, std::string_view text);

}  // namespace canal::convert
