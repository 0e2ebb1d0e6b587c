#include "server/app/config.h"

#include <cstdlib>
#include <set>
#include <sstream>

namespace canal::app {

namespace {

using namespace keys;

template <typename S>
const KeyDef<S>* findKey(const std::vector<KeyDef<S>>& table, std::string_view name) {
  for (const auto& k : table) {
    if (k.name == name) return &k;
  }
  return nullptr;
}

// Raw text of a key and where it came from.
struct Raw {
  std::string text;
  std::string where;
};

// Expands ${name} and ${name:default} from `lookup`.
Result<std::string> expand(const std::string& text, const std::function<std::optional<std::string>(const std::string&)>& lookup,
                           const std::string& where, int depth = 0) {
  if (depth > 8) return Status::invalidArgument("placeholders nest too deeply in '" + text + "'", where);
  std::string out;
  std::size_t i = 0;
  while (i < text.size()) {
    const std::size_t open = text.find("${", i);
    if (open == std::string::npos) {
      out.append(text, i, std::string::npos);
      break;
    }
    const std::size_t close = text.find('}', open + 2);
    if (close == std::string::npos) return Status::invalidArgument("unterminated ${ in '" + text + "'", where);
    out.append(text, i, open - i);
    std::string inner = text.substr(open + 2, close - open - 2);
    std::optional<std::string> fallback;
    if (const auto colon = inner.find(':'); colon != std::string::npos) {
      fallback = inner.substr(colon + 1);
      inner.resize(colon);
    }
    std::optional<std::string> value = lookup(inner);
    if (!value || value->empty()) value = fallback;
    if (!value) return Status::invalidArgument("unresolved placeholder ${" + inner + "}", where);
    auto nested = expand(*value, lookup, where, depth + 1);
    if (!nested) return nested.status();
    out += *nested;
    i = close + 1;
  }
  return out;
}

template <typename S>
Status applyTable(const std::vector<KeyDef<S>>& table, S& target,
                  const std::function<std::optional<Raw>(const std::string&)>& raw,
                  const std::function<std::optional<std::string>(const std::string&)>& lookup,
                  const std::string& defaultWhere) {
  for (const auto& key : table) {
    if (key.unused) continue;
    std::optional<Raw> given = raw(key.name);
    Raw value = given && !given->text.empty() ? *given : Raw{key.defaultValue, defaultWhere + " (default)"};
    auto expanded = expand(value.text, lookup, value.where);
    if (!expanded) return expanded.status().withContext(key.name);
    if (std::string error = key.apply(target, *expanded); !error.empty()) {
      return Status::invalidArgument(key.name + ": " + error, value.where);
    }
  }
  return Status::ok();
}

bool isServerKey(std::string_view key) { return findKey(serverKeys(), key) != nullptr; }
bool isInstanceKey(std::string_view key) { return findKey(instanceKeys(), key) != nullptr; }

// Canal's per-destination overrides in canal.properties: canal.instance.<dest>.{mode,lazy,...}.
bool isPerDestinationOverride(std::string_view key) {
  constexpr std::string_view kPrefix = "canal.instance.";
  if (key.substr(0, kPrefix.size()) != kPrefix) return false;
  key.remove_prefix(kPrefix.size());
  const auto dot = key.find('.');
  if (dot == 0 || dot == std::string_view::npos) return false;
  const std::string_view suffix = key.substr(dot + 1);
  return suffix == "mode" || suffix == "lazy" || suffix == "spring.xml" || suffix == "manager.address";
}

bool hasIgnoredPrefix(std::string_view key) {
  for (std::string_view prefix : {"kafka.", "rocketmq.", "pulsarmq."}) {
    if (key.substr(0, prefix.size()) == prefix) return true;
  }
  return false;
}

}  // namespace

EnvLookup processEnvironment() {
  return [](const std::string& key) -> std::optional<std::string> {
    if (const char* v = std::getenv(key.c_str())) return std::string(v);
    return std::nullopt;
  };
}


const char* serverModeName(ServerMode mode) {
  switch (mode) {
    case ServerMode::kKafka: return "kafka";
    case ServerMode::kRabbitMq: return "rabbitMQ";
    case ServerMode::kTcp: break;
  }
  return "tcp";
}

Result<ServerConfig> loadServerConfig(const PropertiesFile& canal, const EnvLookup& env, Warnings* warnings) {
  auto raw = [&](const std::string& key) -> std::optional<Raw> {
    if (env) {
      if (auto v = env(key)) return Raw{trim(*v), "environment variable " + key};
    }
    if (const auto* e = canal.find(key)) return Raw{trim(e->value), canal.where(key)};
    return std::nullopt;
  };
  auto lookup = [&](const std::string& key) -> std::optional<std::string> {
    if (auto r = raw(key)) return r->text;
    if (const auto* k = findKey(serverKeys(), key)) return k->defaultValue;
    return std::nullopt;
  };
  ServerConfig config;
  CANAL_RETURN_IF_ERROR(applyTable(serverKeys(), config, raw, lookup, canal.source()));
  // kafka.* settings for MQ mode, as Canal collects them (its 1.1.4 names first).
  for (const auto& key : canal.keys()) {
    constexpr std::string_view kPrefix = "kafka.";
    if (key.compare(0, kPrefix.size(), kPrefix) == 0) config.kafka[key.substr(kPrefix.size())] = trim(canal.find(key)->value);
  }
  static const std::pair<const char*, const char*> kLegacyKafka[] = {
      {"canal.mq.servers", "bootstrap.servers"},   {"canal.mq.acks", "acks"},
      {"canal.mq.compressionType", "compression.type"}, {"canal.mq.retries", "retries"},
      {"canal.mq.batchSize", "batch.size"},        {"canal.mq.lingerMs", "linger.ms"},
      {"canal.mq.maxRequestSize", "max.request.size"}, {"canal.mq.bufferMemory", "buffer.memory"},
      {"canal.mq.kafka.kerberos.enable", "kerberos.enable"},
      {"canal.mq.kafka.kerberos.krb5.file", "kerberos.krb5.file"},
      {"canal.mq.kafka.kerberos.jaas.file", "kerberos.jaas.file"}};
  for (const auto& [legacy, name] : kLegacyKafka) {
    if (const auto* e = canal.find(legacy); e && !trim(e->value).empty()) config.kafka[name] = trim(e->value);
  }
  if (const auto* e = canal.find("canal.mq.servers"); e && config.rabbitMq.host.empty()) {
    config.rabbitMq.host = trim(e->value);  // Canal 1.1.4's name, read by its RabbitMQ producer too
  }
  if (config.serverMode != ServerMode::kTcp) config.withoutNetty = true;  // as Canal: MQ mode serves no TCP clients
  if (!config.user.empty() && config.passwordHash.empty()) {
    return Status::invalidArgument("canal.user is set but canal.passwd is empty; set both or neither",
                                   canal.where("canal.passwd"));
  }
  if (warnings) {
    for (const auto& key : canal.keys()) {
      if (isServerKey(key) || isInstanceKey(key) || isPerDestinationOverride(key) || hasIgnoredPrefix(key)) continue;
      warnings->push_back(canal.where(key) + ": unknown key '" + key + "'");
    }
  }
  return config;
}

Result<InstanceConfig> loadInstanceConfig(const std::string& destination, const ServerConfig& server,
                                          const PropertiesFile& canal, const PropertiesFile& instance,
                                          Warnings* warnings) {
  auto raw = [&](const std::string& key) -> std::optional<Raw> {
    if (const auto* e = instance.find(key)) {
      std::string value = trim(e->value);
      if (!value.empty()) return Raw{std::move(value), instance.where(key)};
    }
    if (const auto* e = canal.find(key)) return Raw{trim(e->value), canal.where(key)};
    return std::nullopt;
  };
  auto lookup = [&](const std::string& key) -> std::optional<std::string> {
    if (key == "canal.instance.destination") return destination;
    if (key == "canal.conf.dir") return server.confDir;
    if (key == "canal.file.data.dir") return server.fileDataDir;
    if (auto r = raw(key)) return r->text;
    if (const auto* k = findKey(instanceKeys(), key)) return k->defaultValue;
    return std::nullopt;
  };
  InstanceConfig config;
  config.destination = destination;
  config.mode = server.globalInstanceMode;
  CANAL_RETURN_IF_ERROR(applyTable(instanceKeys(), config, raw, lookup, instance.source()));
  if (server.serverMode != ServerMode::kTcp) {
    // Canal's MQ mode drops BEGIN/END unless canal.instance.filter.transaction.entry says otherwise.
    if (!raw("canal.instance.filter.transaction.entry")) config.filterTransactionEntry = true;
    if (config.mqTopic.empty()) {
      return Status::invalidArgument(std::string("canal.mq.topic is empty; MQ mode (canal.serverMode = ") + serverModeName(server.serverMode) +
                                         ") needs the topic every change without a dynamic topic goes to",
                                     instance.source());
    }
  }
  // canal.instance.<destination>.spring.xml overrides the global mode for this destination.
  const std::string modeKey = "canal.instance." + destination + ".spring.xml";
  if (const auto* e = canal.find(modeKey)) {
    const std::string text = trim(e->value);
    const auto mode = instanceModeOf(text);
    if (mode) config.mode = *mode;
    if (!mode) return Status::invalidArgument(modeKey + ": '" + text + "' is not a supported instance template", canal.where(modeKey));
  }
  if (warnings) {
    for (const auto& key : instance.keys()) {
      if (isInstanceKey(key)) continue;
      if (isServerKey(key)) {
        warnings->push_back(instance.where(key) + ": '" + key + "' is a server key; it only has effect in canal.properties");
      } else {
        warnings->push_back(instance.where(key) + ": unknown key '" + key + "'");
      }
    }
  }
  return config;
}

Result<std::vector<std::string>> destinationNames(const ServerConfig& server) {
  if (!server.destinations.empty() || server.destinationsExpr.empty()) return server.destinations;
  // prefix{from-to}suffix
  const std::string& expr = server.destinationsExpr;
  const auto open = expr.find('{');
  const auto dash = expr.find('-', open == std::string::npos ? 0 : open);
  const auto close = expr.find('}', dash == std::string::npos ? 0 : dash);
  if (open == std::string::npos || dash == std::string::npos || close == std::string::npos ||
      expr.find_first_of("{}", close + 1) != std::string::npos) {
    return Status::invalidArgument("canal.destinations.expr: '" + expr + "' is not prefix{from-to}");
  }
  const auto from = parseInt(std::string_view(expr).substr(open + 1, dash - open - 1));
  const auto to = parseInt(std::string_view(expr).substr(dash + 1, close - dash - 1));
  if (!from || !to || *from < 0 || *from > *to || *to - *from > 10000) {
    return Status::invalidArgument("canal.destinations.expr: bad range in '" + expr + "'");
  }
  std::vector<std::string> names;
  for (auto i = *from; i <= *to; ++i) names.push_back(expr.substr(0, open) + std::to_string(i) + expr.substr(close + 1));
  return names;
}


}  // namespace canal::app
