#include "server/binlog/json_binary.h"

#include <algorithm>
#include <cstdint>
#include <vector>

#include "server/binlog/column_type.h"
#include "server/binlog/column_value.h"
#include "server/common/byte_reader.h"
#include "server/common/java_number.h"

namespace canal::binlog {
namespace {

enum JsonType : std::uint8_t {
  kSmallObject = 0x00,
  kLargeObject = 0x01,
  kSmallArray = 0x02,
  kLargeArray = 0x03,
  kLiteral = 0x04,
  kInt16 = 0x05,
  kUint16 = 0x06,
  kInt32 = 0x07,
  kUint32 = 0x08,
  kInt64 = 0x09,
  kUint64 = 0x0a,
  kDouble = 0x0b,
  kString = 0x0c,
  kOpaque = 0x0f,
};

constexpr int kMaxDepth = 150;

// A parsed document. Scalars keep their rendered text; objects keep MySQL's key order.
struct Node {
  enum Kind : std::uint8_t { kScalar, kObject, kArray } kind = kScalar;
  std::string text;
  std::vector<std::string> keys;  // objects: raw key bytes
  std::vector<Node> values;       // objects: member values; arrays: elements
};

void appendBase64(std::string& out, std::string_view data) {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::size_t i = 0;
  for (; i + 3 <= data.size(); i += 3) {
    const std::uint32_t v = static_cast<std::uint8_t>(data[i]) << 16 | static_cast<std::uint8_t>(data[i + 1]) << 8 |
                            static_cast<std::uint8_t>(data[i + 2]);
    out.push_back(kAlphabet[v >> 18]);
    out.push_back(kAlphabet[(v >> 12) & 63]);
    out.push_back(kAlphabet[(v >> 6) & 63]);
    out.push_back(kAlphabet[v & 63]);
  }
  if (i < data.size()) {
    std::uint32_t v = static_cast<std::uint8_t>(data[i]) << 16;
    if (i + 1 < data.size()) v |= static_cast<std::uint8_t>(data[i + 1]) << 8;
    out.push_back(kAlphabet[v >> 18]);
    out.push_back(kAlphabet[(v >> 12) & 63]);
    out.push_back(i + 1 < data.size() ? kAlphabet[(v >> 6) & 63] : '=');
    out.push_back('=');
  }
}

class Parser {
 public:
  explicit Parser(const std::string& where) : where_(where) {}

  // A whole document: type byte, then the value.
  Status document(std::string_view binary, Node& out) {
    if (binary.empty()) return fail("JSON value is empty");
    return value(static_cast<std::uint8_t>(binary[0]), binary.substr(1), out, 0);
  }

 private:
  Status fail(const std::string& what) const { return Status::corruption(where_, "binary JSON: " + what); }

  static bool readVarLength(ByteReader& r, std::uint64_t& length) {
    length = 0;
    for (int i = 0; i < 5; ++i) {
      const std::uint8_t b = r.u8();
      if (r.failed()) return false;
      length |= std::uint64_t{b & 0x7fu} << (7 * i);
      if (!(b & 0x80)) return true;
    }
    return false;
  }

  Status value(std::uint8_t type, std::string_view data, Node& out, int depth) {
    if (depth > kMaxDepth) return fail("nesting deeper than " + std::to_string(kMaxDepth));
    ByteReader r(data);
    out.kind = Node::kScalar;
    std::string& t = out.text;
    switch (type) {
      case kSmallObject: case kLargeObject:
        return container(true, type == kLargeObject, data, out, depth);
      case kSmallArray: case kLargeArray:
        return container(false, type == kLargeArray, data, out, depth);
      case kLiteral:
        switch (r.u8()) {
          case 0: t = "null"; break;
          case 1: t = "true"; break;
          case 2: t = "false"; break;
          default: return fail(r.failed() ? "literal is truncated" : "unknown literal");
        }
        break;
      case kInt16: t = std::to_string(static_cast<std::int16_t>(r.u16())); break;
      case kUint16: t = std::to_string(r.u16()); break;
      case kInt32: t = std::to_string(static_cast<std::int32_t>(r.u32())); break;
      case kUint32: t = std::to_string(r.u32()); break;
      case kInt64: t = std::to_string(static_cast<std::int64_t>(r.u64())); break;
      case kUint64: t = std::to_string(r.u64()); break;
      case kDouble: appendJavaDouble(t, r.f64()); break;
      case kString: {
        std::uint64_t n = 0;
        if (!readVarLength(r, n) || n > r.remaining()) return fail("string is truncated");
        appendJsonString(t, r.bytes(static_cast<std::size_t>(n)));
        break;
      }
      case kOpaque: {
        const std::uint8_t fieldType = r.u8();
        std::uint64_t n = 0;
        if (r.failed() || !readVarLength(r, n) || n > r.remaining()) return fail("opaque value is truncated");
        return opaque(fieldType, r.bytes(static_cast<std::size_t>(n)), t);
      }
      default:
        return fail("unknown value type " + std::to_string(type));
    }
    if (r.failed()) return fail("value of type " + std::to_string(type) + " is truncated");
    return Status::ok();
  }

  Status opaque(std::uint8_t fieldType, std::string_view data, std::string& t) {
    switch (fieldType) {
      case kTypeNewDecimal: {
        if (data.size() < 2) return fail("DECIMAL value is truncated");
        const int precision = static_cast<std::uint8_t>(data[0]);
        const int scale = static_cast<std::uint8_t>(data[1]);
        if (precision == 0 || precision > 65 || scale > precision ||
            !appendDecimal(t, data.substr(2), precision, scale, DecimalStyle::kExact)) {
          return fail("DECIMAL value is malformed");
        }
        return Status::ok();
      }
      case kTypeDatetime: case kTypeTimestamp: case kTypeDate: case kTypeTime: {
        if (data.size() < 8) return fail("temporal value is truncated");
        const std::int64_t packed = readSignedLe(data.substr(0, 8));
        t.push_back('"');
        if (fieldType == kTypeTime) appendTime(t, unpackTimePacked(packed), 6);
        else if (fieldType == kTypeDate) appendDate(t, unpackDatetimePacked(packed));
        else appendDatetime(t, unpackDatetimePacked(packed), 6);
        t.push_back('"');
        return Status::ok();
      }
      default:
        t += "\"base64:type";
        t += std::to_string(fieldType);
        t.push_back(':');
        appendBase64(t, data);
        t.push_back('"');
        return Status::ok();
    }
  }

  Status container(bool object, bool large, std::string_view data, Node& out, int depth) {
    const std::size_t word = large ? 4 : 2;
    ByteReader r(data);
    const std::uint64_t count = large ? r.u32() : r.u16();
    const std::uint64_t size = large ? r.u32() : r.u16();
    if (r.failed() || size > data.size()) return fail(std::string(object ? "object" : "array") + " is truncated");
    const std::size_t keyEntry = word + 2;
    const std::size_t valueEntry = 1 + word;
    const std::uint64_t header = 2 * word + count * ((object ? keyEntry : 0) + valueEntry);
    if (header > size) return fail(std::string(object ? "object" : "array") + " header exceeds its size");
    data = data.substr(0, static_cast<std::size_t>(size));
    out.kind = object ? Node::kObject : Node::kArray;
    out.values.resize(static_cast<std::size_t>(count));
    if (object) out.keys.resize(static_cast<std::size_t>(count));
    for (std::size_t i = 0; i < count; ++i) {
      if (object) {
        const std::uint64_t offset = large ? r.u32() : r.u16();
        const std::uint16_t length = r.u16();
        if (offset + length > size) return fail("object key out of bounds");
        out.keys[i] = std::string(data.substr(static_cast<std::size_t>(offset), length));
      }
    }
    for (std::size_t i = 0; i < count; ++i) {
      const std::uint8_t type = r.u8();
      const std::string_view slot = r.bytes(word);
      if (r.failed()) return fail("container entry is truncated");
      const bool inlined = type == kLiteral || type == kInt16 || type == kUint16 ||
                           (large && (type == kInt32 || type == kUint32));
      if (inlined) {
        CANAL_RETURN_IF_ERROR(value(type, slot, out.values[i], depth + 1));
        continue;
      }
      const std::uint64_t offset = readUnsignedLe(slot);
      if (offset >= size) return fail("value offset out of bounds");
      CANAL_RETURN_IF_ERROR(value(type, data.substr(static_cast<std::size_t>(offset)), out.values[i], depth + 1));
    }
    return Status::ok();
  }

  const std::string& where_;
};

void print(std::string& out, const Node& n) {
  switch (n.kind) {
    case Node::kScalar:
      out += n.text;
      return;
    case Node::kObject:
      out.push_back('{');
      for (std::size_t i = 0; i < n.values.size(); ++i) {
        if (i) out += ", ";
        appendJsonString(out, n.keys[i]);
        out += ": ";
        print(out, n.values[i]);
      }
      out.push_back('}');
      return;
    case Node::kArray:
      out.push_back('[');
      for (std::size_t i = 0; i < n.values.size(); ++i) {
        if (i) out += ", ";
        print(out, n.values[i]);
      }
      out.push_back(']');
      return;
  }
}

// One leg of a JSON path as MySQL writes them in diffs: .key, ."quoted key", [index].
struct Leg {
  bool member = true;
  std::string key;
  std::size_t index = 0;
};

bool parsePath(std::string_view path, std::vector<Leg>& legs) {
  std::size_t i = 0;
  auto skipSpace = [&] { while (i < path.size() && path[i] == ' ') ++i; };
  skipSpace();
  if (i >= path.size() || path[i] != '$') return false;
  ++i;
  for (;;) {
    skipSpace();
    if (i >= path.size()) return true;
    Leg leg;
    if (path[i] == '.') {
      ++i;
      skipSpace();
      if (i < path.size() && path[i] == '"') {
        ++i;
        while (i < path.size() && path[i] != '"') {
          if (path[i] == '\\' && i + 1 < path.size()) {
            ++i;
            const char c = path[i];
            leg.key.push_back(c == 'n' ? '\n' : c == 't' ? '\t' : c == 'r' ? '\r' : c == 'b' ? '\b' : c == 'f' ? '\f' : c);
          } else {
            leg.key.push_back(path[i]);
          }
          ++i;
        }
        if (i >= path.size()) return false;
        ++i;
      } else {
        while (i < path.size() && path[i] != '.' && path[i] != '[' && path[i] != ' ') leg.key.push_back(path[i++]);
        if (leg.key.empty()) return false;
      }
    } else if (path[i] == '[') {
      ++i;
      skipSpace();
      leg.member = false;
      const std::size_t start = i;
      while (i < path.size() && path[i] >= '0' && path[i] <= '9') {
        leg.index = leg.index * 10 + static_cast<std::size_t>(path[i] - '0');
        if (leg.index > (1u << 30)) return false;
        ++i;
      }
      if (i == start) return false;
      skipSpace();
      if (i >= path.size() || path[i] != ']') return false;
      ++i;
    } else {
      return false;
    }
    legs.push_back(std::move(leg));
  }
}

// MySQL keeps object keys sorted by length, then bytes.
bool keyBefore(const std::string& a, const std::string& b) {
  return a.size() != b.size() ? a.size() < b.size() : a < b;
}

struct Diff {
  std::uint8_t operation = 0;  // 0 replace, 1 insert, 2 remove
  std::string_view path;
  std::string_view value;  // binary JSON (type byte first); empty for remove
};

Status readDiffs(std::string_view data, std::vector<Diff>& diffs, const std::string& where) {
  ByteReader r(data);
  while (!r.atEnd()) {
    Diff d;
    d.operation = r.u8();
    d.path = r.packedString();
    if (d.operation > 2) return Status::corruption(where, "JSON diff has unknown operation " + std::to_string(d.operation));
    if (d.operation != 2) d.value = r.packedString();
    if (r.failed()) return Status::corruption(where, "JSON diff is truncated");
    diffs.push_back(d);
  }
  return Status::ok();
}

Status applyDiff(Node& root, const Diff& d, const std::string& where) {
  std::vector<Leg> legs;
  if (!parsePath(d.path, legs) || legs.empty()) {
    return Status::corruption(where, "JSON diff path '" + std::string(d.path) + "' cannot be applied");
  }
  auto notFound = [&] {
    return Status::corruption(where, "JSON diff path '" + std::string(d.path) + "' is not in the before image");
  };
  Node* parent = &root;
  for (std::size_t i = 0; i + 1 < legs.size(); ++i) {
    const Leg& leg = legs[i];
    if (leg.member) {
      if (parent->kind != Node::kObject) return notFound();
      const auto it = std::find(parent->keys.begin(), parent->keys.end(), leg.key);
      if (it == parent->keys.end()) return notFound();
      parent = &parent->values[static_cast<std::size_t>(it - parent->keys.begin())];
    } else {
      if (parent->kind != Node::kArray || leg.index >= parent->values.size()) return notFound();
      parent = &parent->values[leg.index];
    }
  }
  Node value;
  if (d.operation != 2) {
    Parser parser(where);
    CANAL_RETURN_IF_ERROR(parser.document(d.value, value));
  }
  const Leg& last = legs.back();
  if (last.member) {
    if (parent->kind != Node::kObject) return notFound();
    const auto it = std::find(parent->keys.begin(), parent->keys.end(), last.key);
    const auto pos = static_cast<std::size_t>(it - parent->keys.begin());
    if (d.operation == 2) {
      if (it == parent->keys.end()) return notFound();
      parent->keys.erase(it);
      parent->values.erase(parent->values.begin() + static_cast<std::ptrdiff_t>(pos));
    } else if (it != parent->keys.end()) {
      parent->values[pos] = std::move(value);
    } else if (d.operation == 0) {
      return notFound();
    } else {
      const auto at = std::lower_bound(parent->keys.begin(), parent->keys.end(), last.key, keyBefore);
      const auto index = at - parent->keys.begin();
      parent->keys.insert(at, last.key);
      parent->values.insert(parent->values.begin() + index, std::move(value));
    }
    return Status::ok();
  }
  if (parent->kind != Node::kArray) return notFound();
  auto& elements = parent->values;
  switch (d.operation) {
    case 0:
      if (last.index >= elements.size()) return notFound();
      elements[last.index] = std::move(value);
      break;
    case 1:
      elements.insert(elements.begin() + static_cast<std::ptrdiff_t>(std::min(last.index, elements.size())),
                      std::move(value));
      break;
    default:
      if (last.index >= elements.size()) return notFound();
      elements.erase(elements.begin() + static_cast<std::ptrdiff_t>(last.index));
      break;
  }
  return Status::ok();
}

}  // namespace

void appendJsonString(std::string& out, std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  out.push_back('"');
  for (std::size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<std::uint8_t>(text[i]);
    unsigned code = 0x100;  // a code point to write as \u00xx, if <= 0xff
    switch (c) {
      case '"': out += "\\\""; continue;
      case '\\': out += "\\\\"; continue;
      case '\n': out += "\\n"; continue;
      case '\r': out += "\\r"; continue;
      case '\t': out += "\\t"; continue;
      default: break;
    }
    if (c < 0x20 || c == 0x7f) {
      code = c;
    } else if (c == 0xc2 && i + 1 < text.size()) {
      const auto next = static_cast<std::uint8_t>(text[i + 1]);
      if (next >= 0x80 && next <= 0xa0) {
        code = next;
        ++i;
      }
    }
    if (code <= 0xff) {
      out += "\\u00";
      out.push_back(kHex[code >> 4]);
      out.push_back(kHex[code & 15]);
    } else {
      out.push_back(static_cast<char>(c));
    }
  }
  out.push_back('"');
}

Status appendJsonText(std::string& out, std::string_view binary, const std::string& where) {
  if (binary.empty()) {
    out += "\"\"";
    return Status::ok();
  }
  Node root;
  Parser parser(where);
  CANAL_RETURN_IF_ERROR(parser.document(binary, root));
  print(out, root);
  return Status::ok();
}

Status appendJsonAfterDiff(std::string& out, std::string_view before, std::string_view diffs, const std::string& where) {
  Node root;
  Parser parser(where);
  CANAL_RETURN_IF_ERROR(parser.document(before, root));
  std::vector<Diff> list;
  CANAL_RETURN_IF_ERROR(readDiffs(diffs, list, where));
  for (const auto& d : list) CANAL_RETURN_IF_ERROR(applyDiff(root, d, where));
  print(out, root);
  return Status::ok();
}

Status appendJsonDiffExpression(std::string& out, std::string_view column, std::string_view diffs,
                                const std::string& where) {
  std::vector<Diff> list;
  CANAL_RETURN_IF_ERROR(readDiffs(diffs, list, where));
  std::string expr = "`" + std::string(column) + "`";
  for (const auto& d : list) {
    std::vector<Leg> legs;
    const bool arrayLeg = parsePath(d.path, legs) && !legs.empty() && !legs.back().member;
    const char* fn = d.operation == 0 ? "JSON_REPLACE(" : d.operation == 2 ? "JSON_REMOVE(" : arrayLeg ? "JSON_ARRAY_INSERT(" : "JSON_INSERT(";
    std::string next = fn + expr + ", '" + std::string(d.path) + "'";
    if (d.operation != 2) {
      next += ", ";
      Node value;
      Parser parser(where);
      CANAL_RETURN_IF_ERROR(parser.document(d.value, value));
      print(next, value);
    }
    next.push_back(')');
    expr = std::move(next);
  }
  out += expr;
  return Status::ok();
}

}  // namespace canal::binlog
