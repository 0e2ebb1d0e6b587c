#pragma once

// Snapshots on demand over the HTTP port (docs/snapshots.md):
//   POST   /destinations/<name>/snapshots  {"tables": ["s.t", "s\\.order_.*"], "where": "...",
//                                           "chunkSize": 1024, "rowsPerSecond": 0}
//   GET    /destinations/<name>/snapshots  the last snapshot's progress
//   DELETE /destinations/<name>/snapshots  cancels the running one
// Every request needs HTTP Basic authentication as canal.admin.user with the password whose
// SHA1(SHA1()) hex is canal.admin.passwd; with no canal.admin.passwd they are refused.
// Thread contract: handle() from the HTTP endpoint's thread.

#include <string>

#include "server/app/destination_manager.h"
#include "server/app/http_endpoint.h"

namespace canal::app {

struct AdminLogin {
  std::string user;
  std::string passwordHash;  // hex of SHA1(SHA1(password)); empty: no one may
};

HttpResponse handleSnapshotRequest(const HttpRequest& request, const AdminLogin& admin,
                                   const DestinationManager& destinations);

}  // namespace canal::app
