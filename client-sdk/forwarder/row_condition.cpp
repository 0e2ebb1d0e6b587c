#include "forwarder/row_condition.h"

#include <cctype>
#include <charconv>
#include <vector>

namespace canal::forwarder {

struct RowCondition::Node {
  enum class Kind { kAnd, kOr, kNot, kCompare, kIsNull, kIn, kLike } kind = Kind::kCompare;
  std::vector<std::shared_ptr<const Node>> children;
  std::string column;
  std::string op;                   // kCompare: = != < <= > >=
  std::vector<std::string> values;  // kCompare: one; kIn: the list; kLike: the pattern
  bool negated = false;             // IS NOT NULL, NOT IN, NOT LIKE
};

namespace {

using client::Result;
using client::Status;
using Node = RowCondition::Node;

struct Token {
  enum class Kind { kWord, kName, kString, kNumber, kSymbol, kEnd } kind = Kind::kEnd;
  std::string text;
  std::size_t at = 0;
};

Status bad(std::size_t at, const std::string& what) {
  return Status(Status::kInvalidArgument, "where: " + what + " at character " + std::to_string(at + 1));
}

Result<std::vector<Token>> tokenize(std::string_view s) {
  std::vector<Token> out;
  std::size_t i = 0;
  while (i < s.size()) {
    const char c = s[i];
    if (std::isspace(static_cast<unsigned char>(c))) {
      ++i;
    } else if (c == '\'') {
      Token t{Token::Kind::kString, "", i};
      for (++i;; ++i) {
        if (i >= s.size()) return bad(t.at, "a string that is not closed");
        if (s[i] == '\\' && i + 1 < s.size()) {
          t.text.push_back(s[++i]);
        } else if (s[i] == '\'' && i + 1 < s.size() && s[i + 1] == '\'') {
          t.text.push_back('\'');
          ++i;
        } else if (s[i] == '\'') {
          break;
        } else {
          t.text.push_back(s[i]);
        }
      }
      ++i;
      out.push_back(std::move(t));
    } else if (c == '`') {
      const auto end = s.find('`', i + 1);
      if (end == std::string_view::npos) return bad(i, "a name that is not closed");
      out.push_back({Token::Kind::kName, std::string(s.substr(i + 1, end - i - 1)), i});
      i = end + 1;
    } else if (std::isdigit(static_cast<unsigned char>(c)) || ((c == '-' || c == '.') && i + 1 < s.size() &&
                                                               std::isdigit(static_cast<unsigned char>(s[i + 1])))) {
      std::size_t j = i + 1;
      while (j < s.size() && (std::isalnum(static_cast<unsigned char>(s[j])) || s[j] == '.' ||
                              ((s[j] == '-' || s[j] == '+') && (s[j - 1] == 'e' || s[j - 1] == 'E')))) {
        ++j;
      }
      out.push_back({Token::Kind::kNumber, std::string(s.substr(i, j - i)), i});
      i = j;
    } else if (std::isalpha(static_cast<unsigned char>(c)) || c == '_' || static_cast<unsigned char>(c) >= 0x80) {
      std::size_t j = i;
      while (j < s.size() && (std::isalnum(static_cast<unsigned char>(s[j])) || s[j] == '_' || s[j] == '$' ||
                              static_cast<unsigned char>(s[j]) >= 0x80)) {
        ++j;
      }
      out.push_back({Token::Kind::kWord, std::string(s.substr(i, j - i)), i});
      i = j;
    } else {
      std::string symbol(1, c);
      if (i + 1 < s.size() && ((c == '<' && (s[i + 1] == '=' || s[i + 1] == '>')) || ((c == '>' || c == '!') && s[i + 1] == '='))) {
        symbol.push_back(s[i + 1]);
      }
      if (symbol != "(" && symbol != ")" && symbol != "," && symbol != "=" && symbol != "<" && symbol != ">" &&
          symbol != "<=" && symbol != ">=" && symbol != "<>" && symbol != "!=") {
        return bad(i, "'" + symbol + "' is not understood");
      }
      out.push_back({Token::Kind::kSymbol, symbol, i});
      i += symbol.size();
    }
  }
  out.push_back({Token::Kind::kEnd, "", s.size()});
  return out;
}

std::string upper(std::string s) {
  for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

class Parser {
 public:
  explicit Parser(std::vector<Token> tokens) : t_(std::move(tokens)) {}

  Result<std::shared_ptr<const Node>> parse() {
    auto e = expression();
    if (!e) return e;
    if (peek().kind != Token::Kind::kEnd) return bad(peek().at, "'" + peek().text + "' after a whole condition");
    return e;
  }

 private:
  const Token& peek() const { return t_[i_]; }
  bool keyword(const char* word) const { return peek().kind == Token::Kind::kWord && upper(peek().text) == word; }

  Result<std::shared_ptr<const Node>> expression() { return joined("OR", Node::Kind::kOr, &Parser::term); }
  Result<std::shared_ptr<const Node>> term() { return joined("AND", Node::Kind::kAnd, &Parser::factor); }

  // `operand` (keyword `operand`)*, joined left to right into nodes of `kind`.
  Result<std::shared_ptr<const Node>> joined(const char* word, Node::Kind kind,
                                             Result<std::shared_ptr<const Node>> (Parser::*operand)()) {
    auto left = (this->*operand)();
    if (!left) return left;
    while (keyword(word)) {
      ++i_;
      auto right = (this->*operand)();
      if (!right) return right;
      auto n = std::make_shared<Node>();
      n->kind = kind;
      n->children = {*left, *right};
      left = std::shared_ptr<const Node>(n);
    }
    return left;
  }

  Result<std::shared_ptr<const Node>> factor() {
    if (keyword("NOT")) {
      ++i_;
      auto inner = factor();
      if (!inner) return inner;
      auto n = std::make_shared<Node>();
      n->kind = Node::Kind::kNot;
      n->children = {*inner};
      return std::shared_ptr<const Node>(n);
    }
    if (peek().kind == Token::Kind::kSymbol && peek().text == "(") {
      ++i_;
      auto inner = expression();
      if (!inner) return inner;
      if (peek().text != ")" || peek().kind != Token::Kind::kSymbol) return bad(peek().at, "a ')' is missing");
      ++i_;
      return inner;
    }
    return comparison();
  }

  Result<std::string> value() {
    const Token& v = peek();
    if (v.kind != Token::Kind::kString && v.kind != Token::Kind::kNumber) {
      return bad(v.at, "a value (a number or a 'string') is expected, not '" + v.text + "'");
    }
    ++i_;
    return v.text;
  }

  Result<std::shared_ptr<const Node>> comparison() {
    const Token& name = peek();
    if (name.kind != Token::Kind::kWord && name.kind != Token::Kind::kName) {
      return bad(name.at, "a column name is expected, not '" + name.text + "'");
    }
    auto n = std::make_shared<Node>();
    n->column = name.text;
    ++i_;
    if (keyword("IS")) {
      ++i_;
      n->kind = Node::Kind::kIsNull;
      if (keyword("NOT")) {
        n->negated = true;
        ++i_;
      }
      if (!keyword("NULL")) return bad(peek().at, "IS is followed by [NOT] NULL");
      ++i_;
      return std::shared_ptr<const Node>(n);
    }
    if (keyword("NOT")) {
      n->negated = true;
      ++i_;
    }
    if (keyword("IN")) {
      ++i_;
      n->kind = Node::Kind::kIn;
      if (peek().text != "(") return bad(peek().at, "IN is followed by a list in parentheses");
      do {
        ++i_;
        auto v = value();
        if (!v) return v.status();
        n->values.push_back(*v);
      } while (peek().kind == Token::Kind::kSymbol && peek().text == ",");
      if (peek().text != ")") return bad(peek().at, "a ')' is missing");
      ++i_;
      return std::shared_ptr<const Node>(n);
    }
    if (keyword("LIKE")) {
      ++i_;
      n->kind = Node::Kind::kLike;
      auto v = value();
      if (!v) return v.status();
      n->values.push_back(*v);
      return std::shared_ptr<const Node>(n);
    }
    if (n->negated) return bad(peek().at, "NOT here is followed by IN or LIKE");
    const Token& op = peek();
    if (op.kind != Token::Kind::kSymbol || op.text == "(" || op.text == ")" || op.text == ",") {
      return bad(op.at, "a comparison (=, !=, <>, <, <=, >, >=, IS, IN, LIKE) is expected after " + n->column);
    }
    n->op = op.text == "<>" ? "!=" : op.text;
    ++i_;
    auto v = value();
    if (!v) return v.status();
    n->values.push_back(*v);
    return std::shared_ptr<const Node>(n);
  }

  std::vector<Token> t_;
  std::size_t i_ = 0;
};

std::optional<double> number(const std::string& s) {
  double d = 0;
  const auto r = std::from_chars(s.data(), s.data() + s.size(), d);
  if (r.ec != std::errc() || r.ptr != s.data() + s.size()) return std::nullopt;
  return d;
}

// -1, 0, 1; as numbers when both are.
int compare(const std::string& a, const std::string& b) {
  const auto x = number(a);
  const auto y = number(b);
  if (x && y) return *x < *y ? -1 : *x > *y ? 1 : 0;
  return a < b ? -1 : a > b ? 1 : 0;
}

// SQL LIKE: % any run, _ one character (byte), \ escapes.
bool like(std::string_view s, std::string_view p) {
  std::size_t si = 0, pi = 0, starP = std::string_view::npos, starS = 0;
  while (si < s.size()) {
    if (pi < p.size() && p[pi] == '\\' && pi + 1 < p.size() && p[pi + 1] == s[si]) {
      pi += 2;
      ++si;
    } else if (pi < p.size() && (p[pi] == '_' || (p[pi] == s[si] && p[pi] != '%'))) {
      ++pi;
      ++si;
    } else if (pi < p.size() && p[pi] == '%') {
      starP = pi++;
      starS = si;
    } else if (starP != std::string_view::npos) {
      pi = starP + 1;
      si = ++starS;
    } else {
      return false;
    }
  }
  while (pi < p.size() && p[pi] == '%') ++pi;
  return pi == p.size();
}

bool evaluate(const Node& n, const google::protobuf::RepeatedPtrField<eb::Column>& image) {
  switch (n.kind) {
    case Node::Kind::kAnd: return evaluate(*n.children[0], image) && evaluate(*n.children[1], image);
    case Node::Kind::kOr: return evaluate(*n.children[0], image) || evaluate(*n.children[1], image);
    case Node::Kind::kNot: return !evaluate(*n.children[0], image);
    default: break;
  }
  const eb::Column* column = nullptr;
  for (const auto& c : image) {
    if (c.name() == n.column) column = &c;
  }
  if (n.kind == Node::Kind::kIsNull) return (!column || column->isnull()) != n.negated;
  if (!column || column->isnull()) return false;
  const std::string& v = column->value();
  if (n.kind == Node::Kind::kIn) {
    bool found = false;
    for (const auto& candidate : n.values) found = found || compare(v, candidate) == 0;
    return found != n.negated;
  }
  if (n.kind == Node::Kind::kLike) return like(v, n.values[0]) != n.negated;
  const int c = compare(v, n.values[0]);
  if (n.op == "=") return c == 0;
  if (n.op == "!=") return c != 0;
  if (n.op == "<") return c < 0;
  if (n.op == "<=") return c <= 0;
  if (n.op == ">") return c > 0;
  return c >= 0;
}

}  // namespace

Result<RowCondition> RowCondition::compile(std::string_view text) {
  auto tokens = tokenize(text);
  if (!tokens) return tokens.status();
  auto root = Parser(std::move(*tokens)).parse();
  if (!root) return root.status();
  RowCondition out;
  out.root_ = *root;
  return out;
}

bool RowCondition::matches(const google::protobuf::RepeatedPtrField<eb::Column>& image) const {
  return !root_ || evaluate(*root_, image);
}

}  // namespace canal::forwarder
