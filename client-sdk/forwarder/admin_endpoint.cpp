#include "forwarder/admin_endpoint.h"

#include <boost/asio/ip/address.hpp>
#include <boost/beast/core/detail/base64.hpp>
#include <deque>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "forwarder/reindex.h"
#include "forwarder/sql/sql_load.h"
#include "http_server.h"

namespace canal::forwarder {
namespace {

namespace beast = boost::beast;
using Json = nlohmann::json;

std::string base64(const std::string& in) {
  std::string out(beast::detail::base64::encoded_size(in.size()), '\0');
  out.resize(beast::detail::base64::encode(out.data(), in.data(), in.size()));
  return out;
}

// Reindexes that run at once (each reads a snapshot and writes an index).
constexpr std::size_t kMaxReindexes = 2;

// Compares a credential sent (`sent`) with the expected one in a time that depends on the
// length of what was sent only, not on where the two differ.
bool sameBytes(const std::string& sent, const std::string& expected) {
  unsigned char differ = sent.size() != expected.size();
  for (std::size_t i = 0; i < sent.size(); ++i) {
    differ |= static_cast<unsigned char>(sent[i] ^ (i < expected.size() ? expected[i] : 0));
  }
  return differ == 0;
}

// One reindex or load started over the endpoint.
struct Job {
  std::thread thread;
  volatile int stop = 0;
  mutable std::mutex mutex;
  std::string state = "running";  // running, done, failed, stopped
  std::string error;
  std::deque<std::string> log;  // the last lines

  void add(const std::string& line) {
    std::lock_guard<std::mutex> lock(mutex);
    log.push_back(line);
    if (log.size() > 50) log.pop_front();
  }
  // `field`: "alias" (a reindex) or "table" (a load).
  Json report(const std::string& field, const std::string& name) const {
    std::lock_guard<std::mutex> lock(mutex);
    Json j = {{field, name}, {"state", state}, {"log", Json(std::vector<std::string>(log.begin(), log.end()))}};
    if (!error.empty()) j["error"] = error;
    return j;
  }
  bool running() const {
    std::lock_guard<std::mutex> lock(mutex);
    return state == "running";
  }
};

}  // namespace

class AdminEndpoint::Impl {
 public:
  Impl(ForwarderConfig config, const Forwarder& forwarder, Logger log)
      : config_(std::move(config)), forwarder_(forwarder), log_(std::move(log)) {}

  client::Status listen() {
    const std::string& listen = config_.admin.listen;
    const auto colon = listen.rfind(':');
    boost::system::error_code ec;
    const auto address = boost::asio::ip::make_address(listen.substr(0, colon == std::string::npos ? 0 : colon), ec);
    int port = -1;
    try {
      port = colon == std::string::npos ? -1 : std::stoi(listen.substr(colon + 1));
    } catch (const std::exception&) {
    }
    if (ec || port < 0 || port > 65535) {
      return client::Status(client::Status::kInvalidArgument, "admin.listen " + listen + ": not an IP address and port");
    }
    if (config_.admin.password.empty() && !address.is_loopback()) {
      return client::Status(client::Status::kInvalidArgument,
                            "admin.listen " + listen + " is not a loopback address and admin.password is empty: "
                            "set a password, or listen on 127.0.0.1");
    }
    http::ServerOptions options;
    options.name = "canal-forwarder";
    options.threadName = "admin-http";
    options.logError = log_;
    options.logWarning = log_;
    server_ = std::make_unique<http::Server>(options);
    server_->route("/", [this](const http::Request& request) {
      const auto [status, body] = answer(request);
      http::Response response;
      response.status = status;
      response.body = body.dump() + "\n";
      if (status == 401) response.headers.emplace_back("WWW-Authenticate", "Basic realm=\"canal-forwarder\"");
      return response;
    });
    if (const std::string error = server_->listen(address.to_string(), port); !error.empty()) {
      return client::Status(client::Status::kInvalidArgument, "admin.listen " + listen + ": " + error);
    }
    return client::Status::ok();
  }

  ~Impl() {
    if (server_) server_->stop();
    std::lock_guard<std::mutex> lock(jobsMutex_);
    for (auto& [alias, job] : jobs_) job->stop = 1;
    for (auto& [alias, job] : jobs_) {
      if (job->thread.joinable()) job->thread.join();
    }
  }

  int port() const { return server_ ? server_->port() : 0; }

 private:
  std::pair<int, Json> answer(const http::Request& request) {
    const auto error = [](int status, const std::string& why) { return std::make_pair(status, Json{{"error", why}}); };
    if (!config_.admin.password.empty() &&
        !sameBytes(request.authorization,
                   "Basic " + base64(config_.admin.user + ":" + config_.admin.password))) {
      return error(401, "HTTP Basic authentication as admin.user is required");
    }
    const std::string& target = request.path;
    if (target == "/status") {
      if (request.method != "GET") return error(405, "GET /status");
      const ForwarderCounters c = forwarder_.counters();
      return {200, Json{{"destination", config_.source.destination}, {"batches", c.batches}, {"rows", c.rows},
                        {"entries", c.entries}, {"rollbacks", c.rollbacks}, {"lastExecuteTime", c.lastExecuteTime},
                        {"snapshotRows", c.snapshotRows}}};
    }
    const bool isLoad = target.rfind("/load/", 0) == 0;
    const std::string prefix = isLoad ? "/load/" : "/reindex/";
    if (target.rfind(prefix, 0) != 0 || target.size() == prefix.size() ||
        target.find('/', prefix.size()) != std::string::npos) {
      return error(404, "paths: /status, /reindex/{alias}, /load/{database.table}");
    }
    const std::string name = target.substr(prefix.size());
    const std::string what = isLoad ? "load" : "reindex";
    const std::string field = isLoad ? "table" : "alias";
    const std::string key = prefix + name;
    std::lock_guard<std::mutex> lock(jobsMutex_);
    auto found = jobs_.find(key);
    if (request.method == "GET") {
      if (found == jobs_.end()) return error(404, "no " + what + " of " + name + " was started here");
      return {200, found->second->report(field, name)};
    }
    if (request.method == "DELETE") {
      if (found == jobs_.end() || !found->second->running()) return error(404, "no " + what + " of " + name + " runs");
      found->second->stop = 1;
      return {202, found->second->report(field, name)};
    }
    if (request.method != "POST") return error(405, "GET, POST or DELETE " + key);
    if (isLoad) {
      if (auto sink = loadingSink(config_, name); !sink) return error(404, sink.status().message());
    } else if (!reindexable(config_, name)) {
      return error(404, "no elasticsearch mapping or document writes to the index '" + name + "'");
    }
    if (found != jobs_.end() && found->second->running()) {
      return error(409, "a " + what + " of " + name + " is running: GET " + key + " for its progress");
    }
    std::size_t running = 0;
    for (const auto& [other, job] : jobs_) running += job->running();
    if (running >= kMaxReindexes) {
      return error(409, std::to_string(running) + " reindexes and loads are running; at most " +
                            std::to_string(kMaxReindexes) + " at once");
    }
    if (found != jobs_.end()) {
      found->second->thread.join();
      jobs_.erase(found);
    }
    auto job = std::make_shared<Job>();
    log_(what + " of " + name + " asked over the admin endpoint");
    job->thread = std::thread([this, job, name, what, isLoad] {
      const auto line = [this, job, name, what](const std::string& text) {
        job->add(text);
        log_(what + " " + name + ": " + text);
      };
      const client::Status s = isLoad ? loadThrough(config_, name, forwarder_, line, &job->stop)
                                      : reindex(config_, name, line, &job->stop);
      std::lock_guard<std::mutex> lock(job->mutex);
      job->state = s ? "done" : job->stop ? "stopped" : "failed";
      if (!s) job->error = s.message();
      log_(what + " of " + name + " " + job->state + (s ? "" : ": " + s.message()));
    });
    jobs_[key] = job;
    return {202, job->report(field, name)};
  }

  ForwarderConfig config_;
  const Forwarder& forwarder_;
  Logger log_;
  std::unique_ptr<http::Server> server_;
  std::mutex jobsMutex_;
  std::map<std::string, std::shared_ptr<Job>> jobs_;  // by path: /reindex/{alias}, /load/{table}
};

client::Result<std::unique_ptr<AdminEndpoint>> AdminEndpoint::start(const ForwarderConfig& config,
                                                                    const Forwarder& forwarder, Logger log) {
  auto impl = std::make_unique<Impl>(config, forwarder, std::move(log));
  if (client::Status s = impl->listen(); !s) return s;
  return std::unique_ptr<AdminEndpoint>(new AdminEndpoint(std::move(impl)));
}

AdminEndpoint::AdminEndpoint(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
AdminEndpoint::~AdminEndpoint() = default;
int AdminEndpoint::port() const { return impl_->port(); }

}  // namespace canal::forwarder
