#include "server/common/java_number.h"

#include <charconv>
#include <cmath>
#include <string_view>

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
  char digitBuf[32];  // at most 17 significant digits
  std::size_t size = 0;
  digitBuf[size++] = text[0];
  for (std::size_t i = 2; i < e; ++i) digitBuf[size++] = text[i];  // skip "d."
  std::string_view exponentText = text.substr(e + 1);
  if (!exponentText.empty() && exponentText[0] == '+') exponentText.remove_prefix(1);
  int exponent = 0;
  std::from_chars(exponentText.data(), exponentText.data() + exponentText.size(), exponent);
  while (size > 1 && digitBuf[size - 1] == '0') --size;
  const std::string_view digits(digitBuf, size);

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
        out += digits.substr(0, intDigits);
        out.push_back('.');
        out += digits.substr(intDigits);
      }
    }
    return;
  }
  out.push_back(digits[0]);
  out.push_back('.');
  if (digits.size() > 1) out += digits.substr(1); else out.push_back('0');
  out.push_back('E');
  char exponentBuf[8];
  out.append(exponentBuf, std::to_chars(exponentBuf, exponentBuf + sizeof exponentBuf, exponent).ptr);
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
