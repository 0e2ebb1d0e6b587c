#include "forwarder/elasticsearch/es_values.h"

#include "publish/table_pattern.h"  // lowerCase

namespace canal::forwarder {

nlohmann::ordered_json typedValue(const std::string& v, FieldType type) {
  using Json = nlohmann::ordered_json;
  switch (type) {
    case FieldType::kNumber: {
      Json n = Json::parse(v, nullptr, false);
      return n.is_number() ? n : Json(v);
    }
    case FieldType::kBoolean:
      if (v == "1" || publish::lowerCase(v) == "true") return true;
      if (v == "0" || publish::lowerCase(v) == "false") return false;
      return v;
    case FieldType::kDate: {
      if (v.rfind("0000-00-00", 0) == 0) return nullptr;  // MySQL's zero date has no ES form
      std::string iso = v;
      if (iso.size() > 10 && iso[10] == ' ') iso[10] = 'T';
      return iso;
    }
    case FieldType::kJson: {
      Json j = Json::parse(v, nullptr, false);
      return j.is_discarded() ? Json(v) : j;
    }
    default:
      return v;
  }
}

}  // namespace canal::forwarder
