#pragma once

// HTTP for tests: a plain GET (libcurl), and the samples of a Prometheus text page.

#include <map>
#include <string>

namespace canal::testing {

struct HttpResult {
  long status = -1;
  std::string body;
  std::string contentType;
};

// The status code and body, or status -1 when nothing answered.
HttpResult httpGet(const std::string& url);

// name{labels} -> value of every sample line of a Prometheus text page (+Inf as 1e300).
std::map<std::string, double> parsePrometheusText(const std::string& text);

}  // namespace canal::testing
