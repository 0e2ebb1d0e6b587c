#include "tests/support/redis_server.h"

#include <chrono>
#include <filesystem>

namespace canal::testing {
namespace {

using namespace std::chrono_literals;

constexpr const char* kBinary = "/usr/bin/redis-server";

}  // namespace

Result<std::unique_ptr<RedisServer>> RedisServer::start(const std::string& password, bool durable) {
  if (!std::filesystem::exists(kBinary)) {
    return Status::unavailable(std::string("Redis is not installed (") + kBinary + " missing; run bin/install-deps.sh)");
  }
  std::unique_ptr<RedisServer> server(new RedisServer());
  server->dir_ = std::make_unique<TempDir>("canal-redis");
  server->password_ = password;
  server->durable_ = durable;
  CANAL_RETURN_IF_ERROR(server->launch());
  return server;
}

Status RedisServer::launch() {
  const auto root = dir_->path();
  for (int attempt = 0; attempt < 3; ++attempt) {
    if (port_ == 0 || attempt > 0) port_ = freePort();
    std::vector<std::string> argv = {kBinary, "--port", std::to_string(port_), "--bind", "127.0.0.1",
                                     "--unixsocket", unixSocket(), "--unixsocketperm", "700",
                                     "--dir", root.string(), "--daemonize", "no", "--save", "",
                                     "--appendonly", durable_ ? "yes" : "no", "--appendfsync", "always",
                                     "--protected-mode", "no"};
    if (!password_.empty()) {
      argv.push_back("--requirepass");
      argv.push_back(password_);
    }
    CANAL_RETURN_IF_ERROR(process_.start(argv, (root / "redis.log").string()));
    bool exited = false;
    const bool up = waitUntil(30s, [&] {
      if (!process_.running()) {
        exited = true;
        return true;
      }
      RedisClient probe(*this);
      return probe.command({"PING"}) == std::optional<std::string>("PONG");
    });
    if (up && !exited) return Status::ok();
    const std::string log = process_.logTail();
    process_.stop();
    if (!up) return Status::unavailable("redis-server did not answer within 30 s: " + log);
    if (log.find("Address already in use") == std::string::npos) return Status::unavailable("redis-server exited at start: " + log);
  }
  return Status::unavailable("redis-server could not bind a free port");
}

RedisServer::~RedisServer() { process_.stop(); }

RedisClient::RedisClient(const RedisServer& server, int database) : server_(server), database_(database) {}

RedisClient::~RedisClient() {
  if (context_) redisFree(context_);
}

namespace {

struct Argv {
  explicit Argv(const std::vector<std::string>& args) {
    for (const auto& a : args) {
      pointers.push_back(a.data());
      lengths.push_back(a.size());
    }
  }
  std::vector<const char*> pointers;
  std::vector<std::size_t> lengths;
};

}  // namespace

bool RedisClient::connect() {
  if (context_) return true;
  context_ = redisConnect("127.0.0.1", server_.port());
  if (!context_ || context_->err) {
    if (context_) redisFree(context_);
    context_ = nullptr;
    return false;
  }
  if (!server_.password().empty()) freeReplyObject(redisCommand(context_, "AUTH %s", server_.password().c_str()));
  if (database_ != 0) freeReplyObject(redisCommand(context_, "SELECT %d", database_));
  return true;
}

bool RedisClient::pipelined(const std::vector<std::vector<std::string>>& commands) {
  if (!connect()) return false;
  for (const auto& args : commands) {
    Argv argv(args);
    redisAppendCommandArgv(context_, static_cast<int>(args.size()), argv.pointers.data(), argv.lengths.data());
  }
  bool ok = true;
  for (std::size_t i = 0; i < commands.size(); ++i) {
    void* reply = nullptr;
    if (redisGetReply(context_, &reply) != REDIS_OK) return false;
    ok = ok && static_cast<redisReply*>(reply)->type != REDIS_REPLY_ERROR;
    freeReplyObject(reply);
  }
  return ok;
}

std::unique_ptr<redisReply, void (*)(void*)> RedisClient::run(const std::vector<std::string>& args) {
  std::unique_ptr<redisReply, void (*)(void*)> none(nullptr, freeReplyObject);
  for (int attempt = 0; attempt < 2; ++attempt) {
    if (!connect()) return none;
    Argv argv(args);
    auto* reply = static_cast<redisReply*>(
        redisCommandArgv(context_, static_cast<int>(args.size()), argv.pointers.data(), argv.lengths.data()));
    if (reply) return std::unique_ptr<redisReply, void (*)(void*)>(reply, freeReplyObject);
    redisFree(context_);  // the server restarted: connect again once
    context_ = nullptr;
  }
  return none;
}

std::optional<std::string> RedisClient::command(const std::vector<std::string>& args) {
  auto r = run(args);
  if (!r) return std::nullopt;
  switch (r->type) {
    case REDIS_REPLY_INTEGER:
      return std::to_string(r->integer);
    case REDIS_REPLY_STRING:
    case REDIS_REPLY_STATUS:
    case REDIS_REPLY_ERROR:
      return std::string(r->str, r->len);
    default:
      return std::nullopt;
  }
}

std::optional<std::map<std::string, std::string>> RedisClient::hash(const std::string& key) {
  auto r = run({"HGETALL", key});
  if (!r || r->type != REDIS_REPLY_ARRAY) return std::nullopt;
  std::map<std::string, std::string> out;
  for (std::size_t i = 0; i + 1 < r->elements; i += 2) {
    out[std::string(r->element[i]->str, r->element[i]->len)] = std::string(r->element[i + 1]->str, r->element[i + 1]->len);
  }
  return out;
}

std::optional<std::set<std::string>> RedisClient::members(const std::string& key) {
  auto r = run({"SMEMBERS", key});
  if (!r || r->type != REDIS_REPLY_ARRAY) return std::nullopt;
  std::set<std::string> out;
  for (std::size_t i = 0; i < r->elements; ++i) out.emplace(r->element[i]->str, r->element[i]->len);
  return out;
}

std::optional<std::set<std::string>> RedisClient::keys(const std::string& pattern) {
  std::set<std::string> out;
  std::string cursor = "0";
  do {
    auto r = run({"SCAN", cursor, "MATCH", pattern, "COUNT", "1000"});
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 2) return std::nullopt;
    cursor.assign(r->element[0]->str, r->element[0]->len);
    const redisReply* batch = r->element[1];
    for (std::size_t i = 0; i < batch->elements; ++i) out.emplace(batch->element[i]->str, batch->element[i]->len);
  } while (cursor != "0");
  return out;
}

}  // namespace canal::testing
