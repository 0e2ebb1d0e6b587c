#pragma once

// Snapshots on demand over the HTTP port (docs/snapshots.md):
//   POST   /destinations/<name>/snapshots  {"tables": ["s.t", "s\\.order_.*"], "where": "...",
//                                           "chunkSize": 4096, "rowsPerSecond": 0, "parallel": 1}
//   GET    /destinations/<name>/snapshots  the last snapshot's progress
//   DELETE /destinations/<name>/snapshots  cancels the running one (404 when none runs)
//   GET    /destinations/<name>/tables/<database>.<table>  the table's columns on the primary
//          now ({"database", "table", "columns": [{"name", "mysqlType", "isKey"}]}; 404 when
//          there is no such table), for a copy made before its first row
// Every request needs HTTP Basic authentication as canal.admin.user with the password whose
// SHA1(SHA1()) hex is canal.admin.passwd; with no canal.admin.passwd they are refused.
// Thread contract: handle() from the HTTP endpoint's thread.

#include <mutex>
#include <string>

#include "server/app/destination_manager.h"
#include "server/app/http_endpoint.h"
#include "server/common/status.h"
#include "server/snapshot/snapshot_runner.h"

namespace canal::app {

struct AdminLogin {
  std::string user;
  std::string passwordHash;  // hex of SHA1(SHA1(password)); empty: no one may
};

// The admin login as canal.properties says now: replaced when the file is re-read. Thread-safe.
class AdminLogins {
 public:
  explicit AdminLogins(AdminLogin login) : login_(std::move(login)) {}
  AdminLogin get() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return login_;
  }
  void set(AdminLogin login) {
    std::lock_guard<std::mutex> lock(mutex_);
    login_ = std::move(login);
  }

 private:
  mutable std::mutex mutex_;
  AdminLogin login_;
};

// A POST's body, every field type-checked and bounded as the configuration keys are.
struct SnapshotBody {
  snapshot::SnapshotRequest request;  // tables not resolved yet
  std::string tables;                 // the requested names and regexes, comma-separated
  bool chunkSizeGiven = false;        // else canal.instance.snapshot.chunk.size
  bool parallelGiven = false;         // else canal.instance.snapshot.parallel
};
// InvalidArgument naming the field at fault.
Result<SnapshotBody> parseSnapshotBody(const std::string& body);

// Whether an HTTP Basic `authorization` header is the admin login (never with no password set).
bool adminAuthorized(const std::string& authorization, const AdminLogin& admin);

// The answer to an authenticated request (the web console's, once its session is checked).
HttpResponse answerSnapshotRequest(const std::string& method, const std::string& name, const std::string& body,
                                   const DestinationManager& destinations);

HttpResponse handleSnapshotRequest(const HttpRequest& request, const AdminLogin& admin,
                                   const DestinationManager& destinations);

}  // namespace canal::app
