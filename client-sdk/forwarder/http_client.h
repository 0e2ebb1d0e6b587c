#pragma once

// A small HTTP client (libcurl, one connection kept alive): what the Elasticsearch sink, the
// reindex and the server's snapshot API calls need. A transport failure is a kSinkRetry status
// naming the method and URL; any HTTP status is a response.
// Thread contract: one thread.

#include <chrono>
#include <memory>
#include <string>

#include "canal/client/status.h"

namespace canal::forwarder {

struct HttpOptions {
  std::chrono::milliseconds timeout{30000};
  std::string user;      // basic authentication when set
  std::string password;  // secret
  std::string caFile;    // CA bundle for https
  bool verifyTls = true;
};

struct HttpResponse {
  long status = 0;
  std::string body;
};

class HttpClient {
 public:
  static client::Result<std::unique_ptr<HttpClient>> create(HttpOptions options);
  ~HttpClient();

  // `method` GET, PUT, POST, DELETE, HEAD; `contentType` sent when `body` is not empty.
  client::Result<HttpResponse> request(const std::string& method, const std::string& url, const std::string& body = "",
                                       const std::string& contentType = "application/json");

 private:
  struct Handle;
  explicit HttpClient(std::unique_ptr<Handle> handle);
  std::unique_ptr<Handle> handle_;
};

}  // namespace canal::forwarder
