#pragma once

// What re-reading canal.properties (SIGHUP, or auto-scan seeing the file changed) does: the keys
// whose values differ from the file the server started with, split into those applied while it
// runs (client and admin credentials, the client port's limits) and those that need a restart.
// Thread contract: functions without state.

#include <string>
#include <string_view>
#include <vector>

#include "server/app/config.h"
#include "server/app/properties_file.h"
#include "server/net/canal_server.h"

namespace canal::app {

struct ServerFileChanges {
  std::vector<std::string> applied;      // changed, and applied at once
  std::vector<std::string> needRestart;  // changed, applied by the next start
};

bool appliesAtRunTime(std::string_view key);
// Keys set, removed or given another value in `edited` against `running`, in file order.
ServerFileChanges compareServerFiles(const PropertiesFile& running, const PropertiesFile& edited);
// The client port's credentials and limits `config` gives.
net::RuntimeOptions runtimeOptions(const ServerConfig& config);

}  // namespace canal::app
