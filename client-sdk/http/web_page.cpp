#include "web_page.h"

namespace canal::http {
namespace {

std::string contentTypeOf(std::string_view name) {
  const auto ends = [&](std::string_view suffix) {
    return name.size() >= suffix.size() && name.substr(name.size() - suffix.size()) == suffix;
  };
  if (ends(".html")) return "text/html; charset=utf-8";
  if (ends(".css")) return "text/css; charset=utf-8";
  if (ends(".js")) return "text/javascript; charset=utf-8";
  return "application/octet-stream";
}

}  // namespace

Response withPagePolicy(Response r) {
  r.headers.emplace_back("Content-Security-Policy",
                         "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                         "connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'");
  r.headers.emplace_back("X-Content-Type-Options", "nosniff");
  r.headers.emplace_back("X-Frame-Options", "DENY");
  r.headers.emplace_back("Referrer-Policy", "no-referrer");
  r.headers.emplace_back("Cache-Control", "no-store");
  return r;
}

Response webFile(const std::vector<WebFile>& files, const Request& request, const std::string& name) {
  if (request.method != "GET" && request.method != "HEAD") {
    return withPagePolicy(jsonResponse(405, "{\"error\": \"the page's files are read with GET\"}\n"));
  }
  for (const WebFile& f : files) {
    if (f.name == name) {
      Response r;
      r.contentType = contentTypeOf(f.name);
      r.body.assign(f.bytes.data(), f.bytes.size());
      return withPagePolicy(std::move(r));
    }
  }
  return withPagePolicy(jsonResponse(404, "{\"error\": \"no such file\"}\n"));
}

Response jsonResponse(int status, std::string body) {
  Response r;
  r.status = status;
  r.contentType = "application/json";
  r.body = std::move(body);
  return r;
}

}  // namespace canal::http
