#include "forwarder/http_client.h"

#include <curl/curl.h>

#include <algorithm>
#include <mutex>

#include "forwarder/sink.h"  // kSinkRetry

namespace canal::forwarder {
namespace {

size_t onBody(char* data, size_t size, size_t count, void* user) {
  static_cast<std::string*>(user)->append(data, size * count);
  return size * count;
}

}  // namespace

struct HttpClient::Handle {
  CURL* curl = nullptr;
  HttpOptions options;
  ~Handle() {
    if (curl) curl_easy_cleanup(curl);
  }
};

client::Result<std::unique_ptr<HttpClient>> HttpClient::create(HttpOptions options) {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  auto handle = std::make_unique<Handle>();
  handle->options = std::move(options);
  handle->curl = curl_easy_init();
  if (!handle->curl) return client::Status(client::Status::kInvalidArgument, "http: libcurl could not start");
  CURL* c = handle->curl;
  const HttpOptions& o = handle->options;
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(o.timeout.count()));
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(std::min<long>(o.timeout.count(), 10000)));
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, &onBody);
  if (!o.user.empty()) {
    curl_easy_setopt(c, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
    curl_easy_setopt(c, CURLOPT_USERNAME, o.user.c_str());
    curl_easy_setopt(c, CURLOPT_PASSWORD, o.password.c_str());
  }
  if (!o.caFile.empty()) curl_easy_setopt(c, CURLOPT_CAINFO, o.caFile.c_str());
  if (!o.verifyTls) {
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
  }
  return std::unique_ptr<HttpClient>(new HttpClient(std::move(handle)));
}

HttpClient::HttpClient(std::unique_ptr<Handle> handle) : handle_(std::move(handle)) {}
HttpClient::~HttpClient() = default;

client::Result<HttpResponse> HttpClient::request(const std::string& method, const std::string& url,
                                                 const std::string& body, const std::string& contentType) {
  CURL* c = handle_->curl;
  HttpResponse r;
  curl_slist* headers = nullptr;
  if (!body.empty()) headers = curl_slist_append(headers, ("Content-Type: " + contentType).c_str());
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
  if (method == "GET" || method == "HEAD") {
    curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);  // also clears NOBODY: set after it
    curl_easy_setopt(c, CURLOPT_NOBODY, method == "HEAD" ? 1L : 0L);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, nullptr);
  } else {
    curl_easy_setopt(c, CURLOPT_NOBODY, 0L);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body.data());
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method == "POST" ? nullptr : method.c_str());
  }
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &r.body);
  const CURLcode rc = curl_easy_perform(c);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, nullptr);
  if (headers) curl_slist_free_all(headers);
  if (rc != CURLE_OK) return client::Status(kSinkRetry, method + " " + url + ": " + curl_easy_strerror(rc));
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
  return r;
}

}  // namespace canal::forwarder
