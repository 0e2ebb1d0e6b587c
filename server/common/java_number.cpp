#include "server/common/java_number.h"

#include <charconv>
#include <cmath>
#include <cstdlib>

namespace canal {
namespace {

// `sci` is std::to_chars scientific output of a finite value: "[-]d[.ddd]e[+-]xx".
void layoutJava(std::string& out, const char* begin, const char* end) {
  std::string_view text(begin, static_cast<std::size_t>(end - begin));
  if (!text.empty() && text[0] == '-') {
    out.push_back('-');
    text.remove_prefix(1);
  }
  const std::size_t e = text.find('e');
  std::string digits;
  digits.push_back(text[0]);
  if (e > 1) digits.append(text.substr(2, e - 2));  // skip "d."
  const int exponent = std::atoi(std::string(text.substr(e + 1)).c_str());
  while (digits.size() > 1 && digits.back() == '0') digits.pop_back();

  if (digits == "0") {
    out += "0.0";
    return;
  }
  if (exponent >= -3 && exponent < 7) {
    if (exponent < 0) {
      out += "0.";
      out.append(static_cast<std::size_t>(-exponent - 1), '0');
      out += digits;
    } else {
      const std::size_t intDigits = static_cast<std::size_t>(exponent) + 1;
      if (digits.size() <= intDigits) {
        out += digits;
        out.append(intDigits - digits.size(), '0');
        out += ".0";
      } else {
        out.append(digits, 0, intDigits);
        out.push_back('.');
        out.append(digits, intDigits, std::string::npos);
      }
    }
    return;
  }
  out.push_back(digits[0]);
  out.push_back('.');
  if (digits.size() > 1) out.append(digits, 1, std::string::npos); else out.push_back('0');
  out.push_back('E');
  out += std::to_string(exponent);
}

template <typename T>
void appendJava(std::string& out, T value) {
  if (std::isnan(value)) {
    out += "NaN";
    return;
  }
  if (std::isinf(value)) {
    out += value < 0 ? "-Infinity" : "Infinity";
    return;
  }
  if (value == 0) {
    out += std::signbit(value) ? "-0.0" : "0.0";
    return;
  }
  char buf[64];
  const auto [end, ec] = std::to_chars(buf, buf + sizeof buf, value, std::chars_format::scientific);
  (void)ec;
  layoutJava(out, buf, end);
}

}  // namespace

void appendJavaDouble(std::string& out, double value) { appendJava(out, value); }
void appendJavaFloat(std::string& out, float value) { appendJava(out, value); }

}  // namespace canal
