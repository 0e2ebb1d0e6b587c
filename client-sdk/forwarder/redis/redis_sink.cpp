#include "forwarder/redis/redis_sink.h"

#include <hiredis/hiredis.h>

#include <algorithm>

#include "forwarder/redis/redis_writes.h"

namespace canal::forwarder {
namespace {

using client::Status;

// Writes several rows. For row w: KEYS[2w-1] is its key, KEYS[2w] its version, a string
// "file offset row[ sets]" (sets: the JSON array of the index set keys the row is in, when the
// mapping has indexes). ARGV holds, per row, its argument count, then: op (set|merge|del), form
// (hash|json), file, offset, row, tombstone seconds, member, index count n, n index arguments
// ('=' .. set key, '=' alone for none, '*' to keep), then the value: json: the document; hash:
// the pair count m, m field/value pairs, the NULL fields.
// Returns per row 1 when applied, 0 when the key held a newer version.
constexpr const char* kWriteScript = R"lua(
local function write(key, versionKey, b, last)
  local op, form = ARGV[b + 1], ARGV[b + 2]
  local file, offset, row = tonumber(ARGV[b + 3]), tonumber(ARGV[b + 4]), tonumber(ARGV[b + 5])
  local version = redis.call('GET', versionKey)
  local old = {}
  if version then
    local f, o, r, sets = string.match(version, '^(%d+) (%d+) (%d+) ?(.*)$')
    f, o, r = tonumber(f), tonumber(o), tonumber(r)
    if f > file or (f == file and (o > offset or (o == offset and r >= row))) then return 0 end
    if sets ~= '' then old = cjson.decode(sets) end
  end
  local n = tonumber(ARGV[b + 8])
  local now = {}
  if n > 0 or #old > 0 then
    local member = ARGV[b + 7]
    for i = 1, math.max(n, #old) do
      local prior = old[i] or ''
      local set = ''
      if op ~= 'del' and i <= n then
        local a = ARGV[b + 8 + i]
        if a == '*' then set = prior else set = string.sub(a, 2) end
      end
      if prior ~= set and prior ~= '' then redis.call('SREM', prior, member) end
      if set ~= '' then redis.call('SADD', set, member) end
      if i <= n then now[i] = set end
    end
  end
  local p = b + 9 + n
  if op == 'del' then
    redis.call('DEL', key)
  elseif form == 'json' then
    local doc = ARGV[p]
    if op == 'merge' then
      local current = redis.call('GET', key)
      if current then
        local merged = cjson.decode(current)
        for k, v in pairs(cjson.decode(doc)) do merged[k] = v end
        doc = cjson.encode(merged)
      end
    end
    redis.call('SET', key, doc)
  else
    local pairsEnd = p + 2 * tonumber(ARGV[p])
    if op == 'set' then redis.call('DEL', key) end
    for i = p + 1, pairsEnd, 1000 do
      redis.call('HSET', key, unpack(ARGV, i, math.min(pairsEnd, i + 999)))
    end
    for i = pairsEnd + 1, last, 1000 do
      redis.call('HDEL', key, unpack(ARGV, i, math.min(last, i + 999)))
    end
  end
  version = ARGV[b + 3] .. ' ' .. ARGV[b + 4] .. ' ' .. ARGV[b + 5]
  if n > 0 then version = version .. ' ' .. cjson.encode(now) end
  if op == 'del' and tonumber(ARGV[b + 6]) > 0 then
    redis.call('SET', versionKey, version, 'EX', ARGV[b + 6])
  else
    redis.call('SET', versionKey, version)
  end
  return 1
end
local applied = {}
local b = 0
for w = 1, #KEYS / 2 do
  local count = tonumber(ARGV[b + 1])
  applied[w] = write(KEYS[2 * w - 1], KEYS[2 * w], b + 1, b + 1 + count)
  b = b + 1 + count
end
return applied
)lua";

struct ReplyDeleter {
  void operator()(redisReply* r) const { freeReplyObject(r); }
};
using Reply = std::unique_ptr<redisReply, ReplyDeleter>;

// The argv / lengths view of `args` that hiredis takes (valid while `args` lives).
struct Argv {
  explicit Argv(const std::vector<std::string>& args) {
    for (const auto& a : args) {
      pointers.push_back(a.data());
      lengths.push_back(a.size());
    }
  }
  int count() const { return static_cast<int>(pointers.size()); }
  std::vector<const char*> pointers;
  std::vector<std::size_t> lengths;
};

std::string replyText(const redisReply* r) { return r && r->str ? std::string(r->str, r->len) : std::string(); }

// Errors that a retry after a while can cure (a restarted Redis loading its data, a replica
// being promoted, a script running long); anything else is the data's or the configuration's.
bool transient(const std::string& error) {
  for (const char* prefix : {"LOADING", "BUSY", "MISCONF", "READONLY", "TRYAGAIN", "MASTERDOWN", "CLUSTERDOWN"}) {
    if (error.rfind(prefix, 0) == 0) return true;
  }
  return false;
}

}  // namespace

class RedisSink::Impl {
 public:
  Impl(std::string name, RedisSinkConfig config, Logger log)
      : name_(std::move(name)), config_(std::move(config)), log_(std::move(log)) {}
  ~Impl() { disconnect(); }

  Status write(const std::vector<const Change*>& changes) {
    auto writes = redisWrites(config_.mappings, changes);
    if (!writes) return writes.status();
    for (std::size_t begin = 0; begin < writes->size();) {
      const std::size_t end = std::min(writes->size(), begin + static_cast<std::size_t>(config_.pipeline));
      if (Status s = send(*writes, begin, end); !s) return s;
      begin = end;
    }
    return Status::ok();
  }

  const RedisCounters& stats() const { return stats_; }

  Status connect() {
    if (context_) return Status::ok();
    const long ms = static_cast<long>(config_.timeout.count());
    const timeval tv{ms / 1000, (ms % 1000) * 1000};
    context_ = config_.unixSocket.empty() ? redisConnectWithTimeout(config_.host.c_str(), config_.port, tv)
                                          : redisConnectUnixWithTimeout(config_.unixSocket.c_str(), tv);
    if (!context_) return retry("cannot allocate a connection");
    if (context_->err) return retry(std::string("cannot connect: ") + context_->errstr);
    redisSetTimeout(context_, tv);
    ++stats_.reconnects;
    if (!config_.password.empty()) {
      std::vector<std::string> auth = {"AUTH"};
      if (!config_.user.empty()) auth.push_back(config_.user);
      auth.push_back(config_.password);
      Reply r = command(auth);
      if (!r) return retry(std::string("AUTH: ") + context_->errstr);
      if (r->type == REDIS_REPLY_ERROR) {
        const std::string error = replyText(r.get());
        disconnect();
        return Status(kSinkFatal, "redis " + where() + ": authentication refused (" + error + "); check user and password");
      }
    }
    if (config_.database != 0) {
      Reply r = command({"SELECT", std::to_string(config_.database)});
      if (!r) return retry(std::string("SELECT: ") + context_->errstr);
      if (r->type == REDIS_REPLY_ERROR) {
        const std::string error = replyText(r.get());
        if (transient(error)) return retry("SELECT: " + error);
        disconnect();
        return Status(kSinkFatal, "redis " + where() + ": SELECT " + std::to_string(config_.database) + ": " + error);
      }
    }
    return loadScript();
  }

 private:
  std::string where() const {
    return config_.unixSocket.empty() ? config_.host + ":" + std::to_string(config_.port) : config_.unixSocket;
  }

  void disconnect() {
    if (context_) redisFree(context_);
    context_ = nullptr;
  }

  Status retry(const std::string& why) {
    disconnect();
    return Status(kSinkRetry, "redis " + where() + ": " + why);
  }

  // One command, its reply; nullptr on an I/O error (the caller drops the connection).
  Reply command(const std::vector<std::string>& args) {
    Argv argv(args);
    ++stats_.roundTrips;
    return Reply(static_cast<redisReply*>(redisCommandArgv(context_, argv.count(), argv.pointers.data(), argv.lengths.data())));
  }

  Status loadScript() {
    Reply r = command({"SCRIPT", "LOAD", kWriteScript});
    if (!r) return retry(std::string("SCRIPT LOAD: ") + context_->errstr);
    if (r->type != REDIS_REPLY_STRING) {
      const std::string error = replyText(r.get());
      if (r->type == REDIS_REPLY_ERROR && !transient(error) && error.rfind("NOAUTH", 0) != 0) {
        disconnect();
        return Status(kSinkFatal, "redis " + where() + ": SCRIPT LOAD: " + error);
      }
      return retry("SCRIPT LOAD: " + error);
    }
    sha_ = replyText(r.get());
    return Status::ok();
  }

  // Appends the script's arguments for `w` (count first) to `args`.
  void appendArguments(const RedisWrite& w, std::vector<std::string>& args) const {
    const std::size_t countAt = args.size();
    args.emplace_back();
    args.push_back(w.kind == RedisWrite::Kind::kDelete ? "del" : w.kind == RedisWrite::Kind::kMerge ? "merge" : "set");
    args.push_back(w.value == RedisMapping::Value::kJson ? "json" : "hash");
    args.push_back(std::to_string(w.version.file));
    args.push_back(std::to_string(w.version.offset));
    args.push_back(std::to_string(w.version.row));
    args.push_back(std::to_string(config_.tombstoneSeconds));
    args.push_back(w.member);
    args.push_back(std::to_string(w.indexSets.size()));
    for (const auto& set : w.indexSets) args.push_back(set ? "=" + *set : "*");
    if (w.kind != RedisWrite::Kind::kDelete && w.value == RedisMapping::Value::kJson) {
      args.push_back(redisJsonOf(w));
    } else if (w.kind != RedisWrite::Kind::kDelete) {
      std::size_t pairs = 0;
      for (const auto& field : w.fields) pairs += field.second ? 1 : 0;
      args.push_back(std::to_string(pairs));
      for (const auto& [field, value] : w.fields) {
        if (!value) continue;
        args.push_back(field);
        args.push_back(*value);
      }
      if (w.kind == RedisWrite::Kind::kMerge) {
        for (const auto& [field, value] : w.fields) {
          if (!value) args.push_back(field);
        }
      }
    }
    args[countAt] = std::to_string(args.size() - countAt - 1);
  }

  // One EVALSHA for writes [begin, end).
  std::vector<std::string> scriptCall(const std::vector<RedisWrite>& writes, std::size_t begin, std::size_t end) const {
    std::vector<std::string> keys = {"EVALSHA", sha_, std::to_string(2 * (end - begin))};
    std::vector<std::string> args;
    for (std::size_t i = begin; i < end; ++i) {
      keys.push_back(writes[i].key);
      keys.push_back(config_.versionPrefix + writes[i].key);
      appendArguments(writes[i], args);
    }
    keys.insert(keys.end(), std::make_move_iterator(args.begin()), std::make_move_iterator(args.end()));
    return keys;
  }

  // Writes [begin, end) in one pipelined round trip of script calls of kRowsPerCall rows. A
  // script Redis no longer has (it restarted) is loaded again and the round trip repeated: the
  // versions make that harmless.
  Status send(const std::vector<RedisWrite>& writes, std::size_t begin, std::size_t end) {
    constexpr std::size_t kRowsPerCall = 50;
    for (int attempt = 0;; ++attempt) {
      if (Status s = connect(); !s) return s;
      std::size_t calls = 0;
      for (std::size_t i = begin; i < end; i += kRowsPerCall, ++calls) {
        const std::vector<std::string> args = scriptCall(writes, i, std::min(end, i + kRowsPerCall));
        Argv argv(args);
        if (redisAppendCommandArgv(context_, argv.count(), argv.pointers.data(), argv.lengths.data()) != REDIS_OK) {
          return retry(std::string("cannot queue a command: ") + context_->errstr);
        }
      }
      ++stats_.roundTrips;
      bool reload = false;
      std::string failure;
      std::size_t failedCall = 0;
      for (std::size_t call = 0; call < calls; ++call) {
        void* raw = nullptr;
        if (redisGetReply(context_, &raw) != REDIS_OK) return retry(std::string("lost the connection: ") + context_->errstr);
        Reply r(static_cast<redisReply*>(raw));
        const std::size_t first = begin + call * kRowsPerCall;
        if (r->type == REDIS_REPLY_ARRAY) {
          for (std::size_t k = 0; k < r->elements; ++k) {
            if (r->element[k]->integer == 0) {
              ++stats_.stale;
            } else if (writes[first + k].kind == RedisWrite::Kind::kDelete) {
              ++stats_.deleted;
            } else {
              ++stats_.written;
            }
          }
          continue;
        }
        const std::string error = replyText(r.get());
        if (error.rfind("NOSCRIPT", 0) == 0) {
          reload = true;
        } else if (failure.empty()) {
          failure = error;
          failedCall = first;
        }
      }
      if (!failure.empty()) {
        const RedisWrite& w = writes[failedCall];
        const std::size_t last = std::min(end, failedCall + kRowsPerCall) - 1;
        const std::string what = "redis " + where() + ": the writes of " + w.change->where() + " to " +
                                 writes[last].change->where() + " (first key " + w.key + "): " + failure;
        if (transient(failure) || failure.rfind("NOAUTH", 0) == 0) {
          disconnect();
          return Status(kSinkRetry, what);
        }
        return Status(kSinkFatal, what);
      }
      if (!reload) return Status::ok();
      if (attempt > 0) return retry("the write script is not kept (SCRIPT LOAD succeeded, EVALSHA says NOSCRIPT)");
      log_("redis " + name_ + ": the write script was gone (Redis restarted?); loaded again");
      if (Status s = loadScript(); !s) return s;
    }
  }

  std::string name_;
  RedisSinkConfig config_;
  Logger log_;
  redisContext* context_ = nullptr;
  std::string sha_;
  RedisCounters stats_;
};

client::Result<std::unique_ptr<RedisSink>> RedisSink::create(std::string name, const RedisSinkConfig& config, Logger log) {
  if (config.mappings.empty()) return Status(Status::kInvalidArgument, "redis: no table mapping");
  auto impl = std::make_unique<Impl>(name, config, std::move(log));
  return std::unique_ptr<RedisSink>(new RedisSink(std::move(name), std::move(impl)));
}

RedisSink::RedisSink(std::string name, std::unique_ptr<Impl> impl) : name_(std::move(name)), impl_(std::move(impl)) {}
RedisSink::~RedisSink() = default;

Status RedisSink::write(const std::vector<const Change*>& changes, std::int64_t) { return impl_->write(changes); }

Status RedisSink::connect() { return impl_->connect(); }

const RedisCounters& RedisSink::stats() const { return impl_->stats(); }

std::string RedisSink::counters() const {
  const RedisCounters& s = impl_->stats();
  return name_ + ": " + std::to_string(s.written) + " written, " + std::to_string(s.deleted) + " deleted, " +
         std::to_string(s.stale) + " stale, " + std::to_string(s.roundTrips) + " round trips, " +
         std::to_string(s.reconnects) + " connects";
}

}  // namespace canal::forwarder
