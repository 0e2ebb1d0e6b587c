#pragma once

// The binlog fixtures (tests/fixtures/binlog) and what their README states about each
// file: its event counts per type and its checksum algorithm.

#include <map>
#include <string>
#include <vector>

namespace canal::testing {

struct BinlogFixture {
  std::string path;                       // absolute
  std::string relative;                   // "mysql-5.6/zalora-mysql-bin.01"
  std::map<std::string, int> eventTypes;  // from the README, empty when it says nothing
  std::map<std::string, int> innerEventTypes;  // events inside TRANSACTION_PAYLOAD ("inner:")
  std::string checksum;                   // "CRC32", "NONE" or "" when not stated
};

// Directory of the binlog fixtures.
std::string fixtureDir();

// Every binlog file of the fixture directory (not the .txt/.json companions), with the README's
// statements about it.
std::vector<BinlogFixture> binlogFixtures();

// Reads a whole file; throws std::runtime_error when it cannot.
std::string readFile(const std::string& path);

}  // namespace canal::testing
