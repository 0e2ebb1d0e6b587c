#include "tests/support/fixtures.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace canal::testing {
namespace {

namespace fs = std::filesystem;

// "FORMAT_DESCRIPTION_EVENT×1, QUERY_EVENT×4, inner:XID_EVENT×1" -> counts, inner counts
void parseCounts(const std::string& text, BinlogFixture& f) {
  std::map<std::string, int>& counts = f.eventTypes;
  counts.clear();
  f.innerEventTypes.clear();
  const std::string times = "\xc3\x97";  // U+00D7 MULTIPLICATION SIGN
  std::stringstream items(text);
  std::string item;
  while (std::getline(items, item, ',')) {
    item.erase(0, item.find_first_not_of(' '));
    const auto x = item.find(times);
    if (x == std::string::npos) continue;
    const std::string name = item.substr(0, x);
    const int n = std::stoi(item.substr(x + times.size()));
    if (name.rfind("inner:", 0) == 0) {
      f.innerEventTypes[name.substr(6)] += n;
    } else {
      counts[name] += n;
    }
  }
}

}  // namespace

std::string fixtureDir() { return std::string(CANAL_FIXTURES_DIR) + "/binlog"; }

std::string readFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open " + path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::vector<BinlogFixture> binlogFixtures() {
  const fs::path root = fixtureDir();
  std::map<std::string, BinlogFixture> byName;
  for (const auto& entry : fs::recursive_directory_iterator(root)) {
    if (!entry.is_regular_file()) continue;
    const std::string name = entry.path().filename().string();
    if (name == "README.md" || name.ends_with(".txt") || name.ends_with(".json")) continue;
    BinlogFixture f;
    f.path = entry.path().string();
    f.relative = fs::relative(entry.path(), root).string();
    byName[f.relative] = f;
  }
  // README: "### `dir/file`" sections with "* Event types: ..." and "checksum: X" lines, and
  // one-line entries "* `dir/file` — N bytes, checksum X, N events: ...; column types: ...".
  std::stringstream readme(readFile((root / "README.md").string()));
  std::string line, current;
  while (std::getline(readme, line)) {
    if (line.rfind("### `", 0) == 0) {
      current = line.substr(5, line.find('`', 5) - 5);
      continue;
    }
    if (line.rfind("* `", 0) == 0) {
      const std::string name = line.substr(3, line.find('`', 3) - 3);
      auto it = byName.find(name);
      const auto events = line.find(" events: ");
      if (it != byName.end() && events != std::string::npos) {
        std::string list = line.substr(events + 9);
        list = list.substr(0, list.find(';'));
        parseCounts(list, it->second);
        const auto cs = line.find("checksum ");
        if (cs != std::string::npos) it->second.checksum = line.substr(cs + 9, line.find(',', cs) - cs - 9);
      }
      continue;
    }
    auto it = byName.find(current);
    if (it == byName.end()) continue;
    if (line.rfind("* Event types: ", 0) == 0) parseCounts(line.substr(15), it->second);
    const auto cs = line.find("checksum: ");
    if (line.rfind("* Server:", 0) == 0 && cs != std::string::npos) {
      std::string value = line.substr(cs + 10);
      value = value.substr(0, value.find_first_of(" ;"));
      it->second.checksum = value;
    }
  }
  std::vector<BinlogFixture> out;
  for (auto& [name, f] : byName) out.push_back(std::move(f));
  return out;
}

}  // namespace canal::testing
