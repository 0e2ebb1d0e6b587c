#pragma once

// What canal-server's console and canal-forwarder's admin page share to serve a page: files
// built into the binary (embed_files.cmake), the headers that keep a page to its own files and
// out of frames, and JSON answers.

#include <string>
#include <string_view>
#include <vector>

#include "http_server.h"

namespace canal::http {

struct WebFile {
  std::string_view name;  // the file's name, e.g. "console.js"
  std::string_view bytes;
};

// `r` with a Content-Security-Policy allowing only the page's own files, no framing, no MIME
// sniffing, no referrer and no caching.
Response withPagePolicy(Response r);
// The file `name` of `files` (404 when there is none; 405 for a method other than GET or HEAD),
// with withPagePolicy().
Response webFile(const std::vector<WebFile>& files, const Request& request, const std::string& name);
Response jsonResponse(int status, std::string body);

}  // namespace canal::http
