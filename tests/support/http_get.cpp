#include "tests/support/http_get.h"

#include <curl/curl.h>

#include <sstream>

namespace canal::testing {
namespace {

std::size_t append(char* data, std::size_t size, std::size_t count, void* out) {
  static_cast<std::string*>(out)->append(data, size * count);
  return size * count;
}

}  // namespace

HttpResult httpGet(const std::string& url) { return httpRequest("GET", url); }

HttpResult httpRequest(const std::string& method, const std::string& url, const std::string& body,
                       const std::string& user, const std::string& password, const std::vector<std::string>& headers) {
  HttpResult result;
  CURL* curl = curl_easy_init();
  if (!curl) return result;
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  if (method != "GET") curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method.c_str());
  if (method == "POST") {
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.c_str());
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
  }
  const std::string login = user + ":" + password;
  if (!user.empty()) {
    curl_easy_setopt(curl, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
    curl_easy_setopt(curl, CURLOPT_USERPWD, login.c_str());
  }
  curl_slist* lines = nullptr;
  for (const auto& h : headers) lines = curl_slist_append(lines, h.c_str());
  if (lines) curl_easy_setopt(curl, CURLOPT_HTTPHEADER, lines);
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, append);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &result.headers);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, append);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &result.body);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT, 10L);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  if (curl_easy_perform(curl) == CURLE_OK) {
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &result.status);
    const char* type = nullptr;
    if (curl_easy_getinfo(curl, CURLINFO_CONTENT_TYPE, &type) == CURLE_OK && type) result.contentType = type;
  }
  curl_slist_free_all(lines);
  curl_easy_cleanup(curl);
  return result;
}

std::map<std::string, double> parsePrometheusText(const std::string& text) {
  std::map<std::string, double> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line[0] == '#') continue;
    const auto space = line.rfind(' ');
    if (space == std::string::npos) continue;
    const std::string value = line.substr(space + 1);
    out[line.substr(0, space)] = value == "+Inf" ? 1e300 : std::stod(value);
  }
  return out;
}

}  // namespace canal::testing
