#pragma once

// HTTP for tests (libcurl): a plain GET, any request, and the samples of a Prometheus text page.

#include <map>
#include <string>
#include <vector>

namespace canal::testing {

struct HttpResult {
  long status = -1;
  std::string body;
  std::string contentType;
  std::string headers;  // the response's header lines
};

// The status code and body, or status -1 when nothing answered.
HttpResult httpGet(const std::string& url);
// Any method, with a body and HTTP Basic authentication when `user` is not empty.
// `headers` are more request header lines ("Cookie: a=b").
HttpResult httpRequest(const std::string& method, const std::string& url, const std::string& body = "",
                       const std::string& user = "", const std::string& password = "",
                       const std::vector<std::string>& headers = {});

// name{labels} -> value of every sample line of a Prometheus text page (+Inf as 1e300).
std::map<std::string, double> parsePrometheusText(const std::string& text);

}  // namespace canal::testing
