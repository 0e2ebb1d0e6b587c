#include "server/binlog/column_value.h"

#include <charconv>
#include <climits>
#include <cstring>

namespace canal::binlog {
namespace {

constexpr int kDigitsPerInt = 9;
constexpr int kBytesForDigits[] = {0, 1, 1, 2, 2, 3, 3, 4, 4, 4};
constexpr std::uint32_t kPowersOf10[] = {1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000, 1000000000};

// `v` in at least `width` digits (0: as many as it has) at `p`; returns the end.
char* putPadded(char* p, std::uint32_t v, int width) {
  char digits[10];
  const char* end = std::to_chars(digits, digits + sizeof digits, v).ptr;
  const int n = static_cast<int>(end - digits);
  for (int i = n; i < width; ++i) *p++ = '0';
  std::memcpy(p, digits, static_cast<std::size_t>(n));
  return p + n;
}

// |v| without overflow for the most negative value (corrupt data may hold it).
std::uint64_t magnitude(std::int64_t v) {
  return v < 0 ? 0 - static_cast<std::uint64_t>(v) : static_cast<std::uint64_t>(v);
}

// The date and time fields of the integer part shared by DATETIME2 and the packed form:
// ((year * 13 + month) << 5 | day) << 17 | hour << 12 | minute << 6 | second.
Temporal splitYmdHms(std::uint64_t ymdhms) {
  const std::uint64_t ymd = ymdhms >> 17;
  const std::uint64_t ym = ymd >> 5;
  const std::uint64_t hms = ymdhms % (1 << 17);
  Temporal t;
  t.day = static_cast<int>(ymd % (1 << 5));
  t.month = static_cast<int>(ym % 13);
  t.year = static_cast<int>(ym / 13);
  t.second = static_cast<int>(hms % (1 << 6));
  t.minute = static_cast<int>((hms >> 6) % (1 << 6));
  t.hour = static_cast<int>(hms >> 12);
  return t;
}

std::uint32_t readFractionMicros(std::string_view data, std::size_t offset, int fsp) {
  switch (fsp) {
    case 1: case 2: return static_cast<std::uint32_t>(readUnsignedBe(data.substr(offset, 1)) * 10000);
    case 3: case 4: return static_cast<std::uint32_t>(readUnsignedBe(data.substr(offset, 2)) * 100);
    case 5: case 6: return static_cast<std::uint32_t>(readUnsignedBe(data.substr(offset, 3)));
    default: return 0;
  }
}

}  // namespace

std::int64_t readSignedLe(std::string_view data) {
  const std::uint64_t u = readUnsignedLe(data);
  const std::size_t bits = data.size() * 8;
  if (bits == 0 || bits >= 64) return static_cast<std::int64_t>(u);
  const std::uint64_t sign = std::uint64_t{1} << (bits - 1);
  return static_cast<std::int64_t>((u ^ sign) - sign);
}

std::uint64_t readUnsignedLe(std::string_view data) {
  std::uint64_t v = 0;
  const std::size_t n = data.size() < 8 ? data.size() : 8;
  for (std::size_t i = 0; i < n; ++i) v |= std::uint64_t{static_cast<std::uint8_t>(data[i])} << (8 * i);
  return v;
}

std::uint64_t readUnsignedBe(std::string_view data) {
  std::uint64_t v = 0;
  for (const char c : data.substr(data.size() > 8 ? data.size() - 8 : 0)) v = (v << 8) | static_cast<std::uint8_t>(c);
  return v;
}

Temporal decodeDate(std::string_view data) {
  const std::uint64_t v = readUnsignedLe(data);
  Temporal t;
  t.day = static_cast<int>(v & 31);
  t.month = static_cast<int>((v >> 5) & 15);
  t.year = static_cast<int>(v >> 9);
  return t;
}

Temporal decodeDatetime(std::string_view data) {
  const std::uint64_t v = readUnsignedLe(data);
  const std::uint64_t date = v / 1000000;
  const std::uint64_t time = v % 1000000;
  Temporal t;
  t.year = static_cast<int>(date / 10000);
  t.month = static_cast<int>(date / 100 % 100);
  t.day = static_cast<int>(date % 100);
  t.hour = static_cast<int>(time / 10000);
  t.minute = static_cast<int>(time / 100 % 100);
  t.second = static_cast<int>(time % 100);
  return t;
}

Temporal decodeTime(std::string_view data) {
  std::int64_t v = readSignedLe(data);
  Temporal t;
  if (v < 0) {
    t.negative = true;
    v = -v;
  }
  t.hour = static_cast<int>(v / 10000);
  t.minute = static_cast<int>(v / 100 % 100);
  t.second = static_cast<int>(v % 100);
  return t;
}

Temporal decodeDatetime2(std::string_view data, int fsp) {
  // The 5-byte integer part is the packed form's upper part; the fraction follows on its own.
  const std::int64_t intpart = static_cast<std::int64_t>(readUnsignedBe(data.substr(0, 5))) - 0x8000000000LL;
  Temporal t = splitYmdHms(magnitude(intpart));
  t.negative = intpart < 0;
  t.micros = readFractionMicros(data, 5, fsp);
  return t;
}

Temporal unpackTimePacked(std::int64_t packed) {
  const std::uint64_t m = magnitude(packed);
  const std::uint64_t hms = m >> 24;
  Temporal t;
  t.negative = packed < 0;
  t.micros = static_cast<std::uint32_t>(m % (1ULL << 24));
  t.hour = static_cast<int>((hms >> 12) % (1 << 10));
  t.minute = static_cast<int>((hms >> 6) % (1 << 6));
  t.second = static_cast<int>(hms % (1 << 6));
  return t;
}

Temporal unpackDatetimePacked(std::int64_t packed) {
  const std::uint64_t m = magnitude(packed);
  Temporal t = splitYmdHms(m >> 24);
  t.negative = packed < 0;
  t.micros = static_cast<std::uint32_t>(m % (1ULL << 24));
  return t;
}

Temporal decodeTime2(std::string_view data, int fsp) {
  constexpr std::int64_t kIntOffset = 0x800000;
  std::int64_t packed = 0;
  switch (fsp) {
    case 1: case 2: case 3: case 4: {
      // The fraction is 1 byte of hundredths or 2 bytes of ten-thousandths, stored so that a
      // negative time borrows one second from the integer part.
      const std::size_t bytes = fsp <= 2 ? 1 : 2;
      std::int64_t intpart = static_cast<std::int64_t>(readUnsignedBe(data.substr(0, 3))) - kIntOffset;
      std::int64_t frac = static_cast<std::int64_t>(readUnsignedBe(data.substr(3, bytes)));
      if (intpart < 0 && frac != 0) {
        ++intpart;
        frac -= std::int64_t{1} << (8 * bytes);
      }
      packed = intpart * (1LL << 24) + frac * (bytes == 1 ? 10000 : 100);
      break;
    }
    case 5: case 6:
      packed = static_cast<std::int64_t>(readUnsignedBe(data.substr(0, 6))) - 0x800000000000LL;
      break;
    default:
      packed = (static_cast<std::int64_t>(readUnsignedBe(data.substr(0, 3))) - kIntOffset) * (1LL << 24);
      break;
  }
  return unpackTimePacked(packed);
}

EpochTime decodeTimestamp(std::string_view data) {
  return EpochTime{static_cast<std::int64_t>(readUnsignedLe(data)), 0};
}

EpochTime decodeTimestamp2(std::string_view data, int fsp) {
  return EpochTime{static_cast<std::int64_t>(readUnsignedBe(data.substr(0, 4))), readFractionMicros(data, 4, fsp)};
}

bool isPlausibleDatetime(const Temporal& t) {
  return t.year <= 9999 && t.month <= 12 && t.day <= 31 && t.hour <= 23 && t.minute <= 59 && t.second <= 59 &&
         t.micros <= 999999 && !t.negative;
}

namespace {

// Writes `v` as exactly `width` digits (the low ones) at `p`; returns the end.
char* putDigits(char* p, std::uint64_t v, int width) {
  for (int i = width - 1; i >= 0; --i) {
    p[i] = static_cast<char>('0' + v % 10);
    v /= 10;
  }
  return p + width;
}

// A field of at least `width` digits (years beyond 9999, TIME hours beyond 99).
char* putField(char* p, std::uint64_t v, int width) {
  if (width == 2 && v < 100) {
    p[0] = static_cast<char>('0' + v / 10);
    p[1] = static_cast<char>('0' + v % 10);
    return p + 2;
  }
  if (width == 4 && v < 10000) return putDigits(p, v, 4);  // a year
  int digits = 1;
  for (std::uint64_t x = v; x >= 10; x /= 10) ++digits;
  return putDigits(p, v, digits > width ? digits : width);
}

char* putDate(char* p, const Temporal& t) {
  p = putField(p, static_cast<std::uint64_t>(t.year), 4);
  *p++ = '-';
  p = putField(p, static_cast<std::uint64_t>(t.month), 2);
  *p++ = '-';
  return putField(p, static_cast<std::uint64_t>(t.day), 2);
}

char* putTime(char* p, const Temporal& t, int fsp) {
  p = putField(p, static_cast<std::uint64_t>(t.hour), 2);
  *p++ = ':';
  p = putField(p, static_cast<std::uint64_t>(t.minute), 2);
  *p++ = ':';
  p = putField(p, static_cast<std::uint64_t>(t.second), 2);
  if (fsp > 0) {
    char frac[6];
    putDigits(frac, t.micros % 1000000, 6);
    *p++ = '.';
    for (int i = 0; i < fsp && i < 6; ++i) *p++ = frac[i];
  }
  return p;
}

}  // namespace

void appendDate(std::string& out, const Temporal& t) {
  char buf[48];
  out.append(buf, putDate(buf, t));
}

void appendDatetime(std::string& out, const Temporal& t, int fsp) {
  char buf[80];
  char* p = putDate(buf, t);
  *p++ = ' ';
  out.append(buf, putTime(p, t, fsp));
}

void appendTime(std::string& out, const Temporal& t, int fsp) {
  char buf[48];
  char* p = buf;
  if (t.negative) *p++ = '-';
  out.append(buf, putTime(p, t, fsp));
}

Temporal civilFromEpoch(std::int64_t seconds, std::uint32_t micros) {
  std::int64_t days = seconds / 86400;
  std::int64_t rem = seconds % 86400;
  if (rem < 0) {
    rem += 86400;
    --days;
  }
  // Rows of one transaction mostly share a day: remember the last one converted.
  thread_local std::int64_t cachedDays = INT64_MIN;
  thread_local Temporal cachedDate;
  if (days == cachedDays) {
    Temporal t = cachedDate;
    t.hour = static_cast<int>(rem / 3600);
    t.minute = static_cast<int>(rem / 60 % 60);
    t.second = static_cast<int>(rem % 60);
    t.micros = micros;
    return t;
  }
  // Days since 1970-01-01 to a proleptic Gregorian civil date.
  const std::int64_t z = days + 719468;
  const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const std::int64_t doe = z - era * 146097;
  const std::int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const std::int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const std::int64_t mp = (5 * doy + 2) / 153;
  Temporal t;
  t.day = static_cast<int>(doy - (153 * mp + 2) / 5 + 1);
  t.month = static_cast<int>(mp < 10 ? mp + 3 : mp - 9);
  t.year = static_cast<int>(yoe + era * 400 + (t.month <= 2));
  cachedDays = days;
  cachedDate = t;
  t.hour = static_cast<int>(rem / 3600);
  t.minute = static_cast<int>(rem / 60 % 60);
  t.second = static_cast<int>(rem % 60);
  t.micros = micros;
  return t;
}

bool appendDecimal(std::string& out, std::string_view data, int precision, int scale, DecimalStyle style) {
  if (precision <= 0 || precision > 65 || scale < 0 || scale > 30 || scale > precision) return false;  // MySQL's bounds
  const int intg = precision - scale;
  const int intg0 = intg / kDigitsPerInt;
  const int intgLead = intg % kDigitsPerInt;
  const int frac0 = scale / kDigitsPerInt;
  const int fracTail = scale % kDigitsPerInt;
  const std::size_t size = static_cast<std::size_t>(intg0 * 4 + kBytesForDigits[intgLead] + frac0 * 4 +
                                                    kBytesForDigits[fracTail]);
  if (data.size() != size || size == 0) return false;

  unsigned char buf[40];
  for (std::size_t i = 0; i < size; ++i) buf[i] = static_cast<unsigned char>(data[i]);
  const bool negative = !(buf[0] & 0x80);
  buf[0] ^= 0x80;
  if (negative) {
    for (std::size_t i = 0; i < size; ++i) buf[i] = static_cast<unsigned char>(~buf[i]);
  }
  std::size_t pos = 0;
  auto group = [&](int bytes) {
    std::uint32_t v = 0;
    for (int i = 0; i < bytes; ++i) v = (v << 8) | buf[pos++];
    return v;
  };

  // At most 8 groups of 9 digits (10 for a corrupt group), a sign, a point and a zero.
  char text[96];
  char* p = text;
  if (negative) *p++ = '-';
  char* const integer = p;  // the integer part, without leading zeros
  bool ok = true;
  if (intgLead > 0) {
    const std::uint32_t v = group(kBytesForDigits[intgLead]);
    ok &= v < kPowersOf10[intgLead];
    if (v != 0) p = putPadded(p, v, 0);
  }
  for (int i = 0; i < intg0; ++i) {
    const std::uint32_t v = group(4);
    ok &= v < kPowersOf10[9];
    if (p != integer) p = putPadded(p, v, 9);
    else if (v != 0) p = putPadded(p, v, 0);
  }
  if (p == integer) *p++ = '0';
  if (scale != 0) {
    *p++ = '.';
    char* const fraction = p;
    for (int i = 0; i < frac0; ++i) {
      const std::uint32_t v = group(4);
      ok &= v < kPowersOf10[9];
      p = putPadded(p, v, 9);
    }
    if (fracTail > 0) {
      const std::uint32_t v = group(kBytesForDigits[fracTail]);
      ok &= v < kPowersOf10[fracTail];
      if (style == DecimalStyle::kExact || v != 0) p = putPadded(p, v, fracTail);
    }
    if (p == fraction) *p++ = '0';
  }
  out.append(text, static_cast<std::size_t>(p - text));
  return ok;
}

}  // namespace canal::binlog
