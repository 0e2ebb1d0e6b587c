#include "forwarder/sql/postgres_types.h"

#include <cctype>

namespace canal::forwarder {
namespace {

// "decimal(12,2) unsigned zerofill" -> base "decimal", arguments "12,2", unsigned.
struct Parsed {
  std::string base;
  std::string arguments;
  bool isUnsigned = false;
};

Parsed parse(std::string_view type) {
  Parsed p;
  std::size_t i = 0;
  while (i < type.size() && (std::isalnum(static_cast<unsigned char>(type[i])) || type[i] == '_')) {
    p.base.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(type[i]))));
    ++i;
  }
  if (i < type.size() && type[i] == '(') {
    const auto close = type.rfind(')');
    if (close != std::string_view::npos && close > i) {
      p.arguments = std::string(type.substr(i + 1, close - i - 1));
      i = close + 1;
    }
  }
  std::string rest;
  for (; i < type.size(); ++i) rest.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(type[i]))));
  p.isUnsigned = rest.find("unsigned") != std::string::npos;
  return p;
}

// The fractional-second digits of a temporal type, "(n)" or "".
std::string precision(const Parsed& p) { return p.arguments.empty() ? "" : "(" + p.arguments + ")"; }

}  // namespace

client::Result<std::string> postgresType(std::string_view mysqlType) {
  const Parsed p = parse(mysqlType);
  const std::string& b = p.base;
  if (b == "tinyint") return std::string("smallint");
  if (b == "smallint") return std::string(p.isUnsigned ? "integer" : "smallint");
  if (b == "mediumint") return std::string("integer");
  if (b == "int" || b == "integer") return std::string(p.isUnsigned ? "bigint" : "integer");
  if (b == "bigint") return std::string(p.isUnsigned ? "numeric(20)" : "bigint");
  if (b == "decimal" || b == "numeric") return "numeric" + (p.arguments.empty() ? "" : "(" + p.arguments + ")");
  if (b == "float") return std::string("real");
  if (b == "double" || b == "real") return std::string("double precision");
  if (b == "bit") return std::string(p.arguments.empty() || p.arguments == "1" ? "boolean" : "numeric(20)");
  if (b == "date") return std::string("date");
  if (b == "datetime") return "timestamp" + precision(p);
  if (b == "timestamp") return "timestamp" + precision(p);
  if (b == "time") return "interval" + precision(p);  // TIME spans -838:59:59 to 838:59:59
  if (b == "year") return std::string("smallint");
  if (b == "char") return "char(" + (p.arguments.empty() ? std::string("1") : p.arguments) + ")";
  if (b == "varchar") return "varchar(" + p.arguments + ")";
  if (b == "tinytext" || b == "text" || b == "mediumtext" || b == "longtext") return std::string("text");
  if (b == "enum" || b == "set") return std::string("text");
  if (b == "binary" || b == "varbinary" || b == "tinyblob" || b == "blob" || b == "mediumblob" || b == "longblob") {
    return std::string("bytea");
  }
  if (b == "json") return std::string("jsonb");
  if (b == "uuid") return std::string("uuid");
  if (b == "inet4" || b == "inet6") return std::string("inet");
  if (b == "geometry" || b == "point" || b == "linestring" || b == "polygon" || b == "multipoint" ||
      b == "multilinestring" || b == "multipolygon" || b == "geometrycollection" || b == "geomcollection") {
    return std::string("bytea");
  }
  return client::Status(client::Status::kInvalidArgument,
                        "MySQL type " + std::string(mysqlType) +
                            " has no PostgreSQL type that holds its values as they are; give the column a cast");
}

}  // namespace canal::forwarder
