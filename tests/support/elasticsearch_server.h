#pragma once

// An HTTP server on 127.0.0.1 that implements the parts of Elasticsearch's REST API a sink uses
// (POST /_bulk and /{index}/_bulk, GET /{index}/_doc/{id}, GET|POST /{index}/_search, PUT,
// HEAD and DELETE /{index}, GET /_alias/{name}, POST /_aliases) as the reference documents them, for tests where a real cluster is not installable. Every _bulk
// request is checked against the documented format (method, Content-Type, NDJSON lines ending
// in a newline, one action per action line with only documented metadata, a source line exactly
// for index/create/update, _index present, external versions only where allowed); a request
// that breaks it is answered 400 as Elasticsearch would and recorded in violations().
// Documents keep external versions and delete tombstones, so version conflicts answer 409.
// Aliases: a write, a get or a search naming an alias with one index goes to that index; a
// write through an alias of several indices is refused as Elasticsearch refuses it; _aliases
// actions are checked together and applied at once.
// Fields can be given a type (long, double, keyword, date, boolean, object): a value that does
// not fit answers the item 400 document_parsing_exception. Failures can be injected: whole
// requests answered 429/5xx, or single items answered 429/5xx (a partial failure).
// Thread contract: every method may be called from any thread.

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "server/common/status.h"

namespace canal::testing {

class ElasticsearchServer {
 public:
  struct Document {
    std::string source;  // JSON
    std::int64_t version = 0;
  };

  // With `user` set, every request needs HTTP basic auth with `user`:`password`.
  explicit ElasticsearchServer(std::string user = "", std::string password = "");
  ~ElasticsearchServer();
  ElasticsearchServer(const ElasticsearchServer&) = delete;
  ElasticsearchServer& operator=(const ElasticsearchServer&) = delete;

  Status start();
  void stop();
  int port() const;
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port()); }

  void setFieldType(const std::string& index, const std::string& field, const std::string& type);
  // The next `count` _bulk requests are answered `status` as a whole (429, 500, 503).
  void failRequests(int count, int status);
  // The next `count` bulk items are answered `status` (429, 500, 503) and not applied.
  void failItems(int count, int status);
  // While held, a POST /_aliases is applied but its reply waits (a client killed in the swap).
  void holdAliasReplies(bool hold);
  std::uint64_t heldAliasReplies() const;  // replies that were held

  // The live documents of `index` by id (tombstones left out).
  std::map<std::string, Document> documents(const std::string& index) const;
  // One live document of `index` (or of the index of alias `index`).
  std::optional<Document> document(const std::string& index, const std::string& id) const;
  std::vector<std::string> violations() const;
  // How many live documents `index` (or the index of alias `index`) holds.
  std::size_t documentCount(const std::string& index) const;
  // The indices `alias` points to now (none when it does not exist).
  std::vector<std::string> aliasTargets(const std::string& alias) const;
  std::vector<std::string> indexNames() const;
  // The settings/mappings body an index was created with ("" when created by a write).
  std::string indexBody(const std::string& index) const;
  std::uint64_t bulkRequests() const;
  std::uint64_t bulkItems() const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace canal::testing
