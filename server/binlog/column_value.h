#pragma once

// Typed interpretation of the value bytes a RowReader yields (Cell::data) for each column type:
// integers, DECIMAL, temporals of both storage generations, BIT. Rendering to text for clients
// lives in server/convert; the helpers here only decode and format the MySQL-native forms.

#include <cstdint>
#include <string>
#include <string_view>

namespace canal::binlog {

// Little-endian integer of data.size() (1..8) bytes, sign-extended / zero-extended.
std::int64_t readSignedLe(std::string_view data);
std::uint64_t readUnsignedLe(std::string_view data);
// Big-endian unsigned integer of up to 8 bytes (BIT values).
std::uint64_t readUnsignedBe(std::string_view data);

struct Temporal {
  int year = 0;
  int month = 0;
  int day = 0;
  int hour = 0;  // TIME: up to 838 (old) or 1023 (TIME2)
  int minute = 0;
  int second = 0;
  std::uint32_t micros = 0;
  bool negative = false;  // TIME only
};

struct EpochTime {
  std::int64_t seconds = 0;
  std::uint32_t micros = 0;
};

Temporal decodeDate(std::string_view data);            // DATE, 3 bytes
Temporal decodeDatetime(std::string_view data);        // DATETIME before 5.6.4, 8 bytes
Temporal decodeTime(std::string_view data);            // TIME before 5.6.4, 3 bytes
Temporal decodeDatetime2(std::string_view data, int fsp);
Temporal decodeTime2(std::string_view data, int fsp);
EpochTime decodeTimestamp(std::string_view data);      // TIMESTAMP before 5.6.4, 4 bytes
EpochTime decodeTimestamp2(std::string_view data, int fsp);
// MySQL's in-memory packed form (JSON opaque DATETIME/DATE/TIME/TIMESTAMP values).
Temporal unpackDatetimePacked(std::int64_t packed);
Temporal unpackTimePacked(std::int64_t packed);

// Whether the fields are in the ranges a real DATE/DATETIME can hold (zero dates allowed).
bool isPlausibleDatetime(const Temporal& t);

// "YYYY-MM-DD", "YYYY-MM-DD hh:mm:ss[.f...]", "[-]hh:mm:ss[.f...]" with `fsp` fraction digits.
void appendDate(std::string& out, const Temporal& t);
void appendDatetime(std::string& out, const Temporal& t, int fsp);
void appendTime(std::string& out, const Temporal& t, int fsp);
// Civil (proleptic Gregorian) date and time of a count of seconds since 1970-01-01 00:00:00.
Temporal civilFromEpoch(std::int64_t seconds, std::uint32_t micros);

enum class DecimalStyle {
  kExact,  // as MySQL prints it: exactly `scale` fraction digits
  kCanal,  // as Canal's LogBuffer.getDecimal prints it (see docs/entries.md, "Values")
};

// Appends the text of a binary DECIMAL(precision, scale); false when the bytes hold a digit
// group out of range (corrupt data).
bool appendDecimal(std::string& out, std::string_view data, int precision, int scale, DecimalStyle style);

}  // namespace canal::binlog
