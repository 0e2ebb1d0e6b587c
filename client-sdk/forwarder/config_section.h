#pragma once

// How canal-forwarder's YAML configuration is read (forwarder_config.cpp and the sinks' own
// parts, such as forwarder/sql/sql_config.cpp): a mapping node with its path that remembers the
// keys read, so a key never read is named as unknown, and errors that name the key at fault.
// Thread contract: one thread.

#include <yaml-cpp/yaml.h>

#include <chrono>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "forwarder/forwarder_config.h"

namespace canal::forwarder::config {

struct ConfigError {
  std::string message;
};

// A mapping node with its path; every key read is remembered so the unknown ones can be named.
class Section {
 public:
  Section(YAML::Node node, std::string path) : node_(std::move(node)), path_(std::move(path)) {
    if (node_ && !node_.IsMap()) fail(path_, "must be a mapping");
  }

  bool has(const std::string& key) {
    known_.insert(key);
    return node_ && node_[key] && !node_[key].IsNull();
  }
  std::string keyPath(const std::string& key) const { return path_.empty() ? key : path_ + "." + key; }

  template <typename T>
  void read(const std::string& key, T& out) {
    if (!has(key)) return;
    try {
      out = node_[key].as<T>();
    } catch (const YAML::Exception&) {
      fail(keyPath(key), "has a value of the wrong type");
    }
  }
  void readInt(const std::string& key, int& out, int min, int max) {
    read(key, out);
    if (out < min || out > max) {
      fail(keyPath(key), "must be between " + std::to_string(min) + " and " + std::to_string(max));
    }
  }
  void readMs(const std::string& key, std::chrono::milliseconds& out, int min = 1) {
    int ms = static_cast<int>(out.count());
    readInt(key, ms, min, 86400000);
    out = std::chrono::milliseconds(ms);
  }
  void readList(const std::string& key, std::vector<std::string>& out) {
    if (!has(key)) return;
    const YAML::Node n = node_[key];
    if (n.IsScalar()) {
      out = {n.as<std::string>()};
      return;
    }
    if (!n.IsSequence()) fail(keyPath(key), "must be a list");
    out.clear();
    for (const auto& item : n) {
      if (!item.IsScalar()) fail(keyPath(key), "must be a list of strings");
      out.push_back(item.as<std::string>());
    }
  }
  // With `emptyValues`, a key without a value reads as "".
  void readMap(const std::string& key, std::map<std::string, std::string>& out, bool emptyValues = false) {
    if (!has(key)) return;
    const YAML::Node n = node_[key];
    if (!n.IsMap()) fail(keyPath(key), "must be a mapping");
    for (const auto& kv : n) {
      if (emptyValues && kv.second.IsNull()) {
        out[kv.first.as<std::string>()] = "";
        continue;
      }
      if (!kv.second.IsScalar()) fail(keyPath(key) + "." + kv.first.as<std::string>(), "must be a scalar");
      out[kv.first.as<std::string>()] = kv.second.as<std::string>();
    }
  }
  Section child(const std::string& key) {
    has(key);
    return Section(node_ ? node_[key] : YAML::Node(), keyPath(key));
  }
  YAML::Node node(const std::string& key) {
    has(key);
    return node_ ? node_[key] : YAML::Node();
  }
  // Fails on the first key that was never read.
  void done() const {
    if (!node_) return;
    for (const auto& kv : node_) {
      const std::string key = kv.first.as<std::string>();
      if (!known_.count(key)) fail(keyPath(key), "is not a known key");
    }
  }
  [[noreturn]] static void fail(const std::string& path, const std::string& why) { throw ConfigError{path + " " + why}; }

 private:
  YAML::Node node_;
  std::string path_;
  std::set<std::string> known_;
};

// Each item of the list `key` read by `read(Section of the item, item)`.
template <typename Item, typename Read>
void readSections(Section& s, const std::string& key, std::vector<Item>& out, Read read) {
  const YAML::Node list = s.node(key);
  if (!list || list.IsNull()) return;
  if (!list.IsSequence()) Section::fail(s.keyPath(key), "must be a list");
  for (std::size_t i = 0; i < list.size(); ++i) {
    Item item;
    read(Section(list[i], s.keyPath(key + "[" + std::to_string(i) + "]")), item);
    out.push_back(std::move(item));
  }
}

// The sql sink's section (forwarder/sql/sql_config.cpp).
void readSql(Section s, SqlSinkConfig& c);

}  // namespace canal::forwarder::config
