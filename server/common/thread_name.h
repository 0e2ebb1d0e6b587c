#pragma once

// Names the calling thread as `top -H`, `ps -L`, perf and gdb show it (Linux keeps 15 bytes: a
// longer name is cut). Threads of a destination carry its name after a short role prefix
// ("stream:example"), so an operator sees which destination a busy thread serves.

#include <string_view>

namespace canal {

void nameThisThread(std::string_view name);

}  // namespace canal
