#pragma once

// A column's text value as an Elasticsearch document field of a given type.

#include <nlohmann/json.hpp>
#include <string>

#include "forwarder/forwarder_config.h"

namespace canal::forwarder {

// `value` as a field of `type` (not kAuto): numbers and JSON parsed (kept as text when they do
// not parse), booleans from 1/0/true/false, dates in ISO form ('T' between date and time;
// MySQL's zero date is null), anything else the text.
nlohmann::ordered_json typedValue(const std::string& value, FieldType type);

}  // namespace canal::forwarder
