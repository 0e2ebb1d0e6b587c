#pragma once

// A plain HTTP GET for tests (libcurl): the status code and body, or -1 when nothing answered.

#include <string>

namespace canal::testing {

struct HttpResult {
  long status = -1;
  std::string body;
  std::string contentType;
};

HttpResult httpGet(const std::string& url);

}  // namespace canal::testing
