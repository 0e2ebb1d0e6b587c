#pragma once

// The console's files (server/console/files), embedded in the binary at build time.

#include <string_view>
#include <vector>

namespace canal::console {

struct Asset {
  std::string_view name;  // relative to files/, e.g. "console.js"
  std::string_view bytes;
};

const std::vector<Asset>& assets();

}  // namespace canal::console
