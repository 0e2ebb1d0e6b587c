#include "tests/support/rabbitmq_server.h"

#include <amqp.h>
#include <amqp_tcp_socket.h>
#include <sys/time.h>

#include <filesystem>
#include <fstream>
#include <thread>

namespace canal::testing {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

constexpr const char* kServer = "/usr/lib/rabbitmq/bin/rabbitmq-server";

// An AMQP connection logged in as guest with channel 1 open; null when the broker is not there.
amqp_connection_state_t login(int port) {
  amqp_connection_state_t c = amqp_new_connection();
  amqp_socket_t* socket = amqp_tcp_socket_new(c);
  timeval tv{2, 0};
  if (!socket || amqp_socket_open_noblock(socket, "127.0.0.1", port, &tv) != AMQP_STATUS_OK) {
    amqp_destroy_connection(c);
    return nullptr;
  }
  if (amqp_login(c, "/", 0, 131072, 0, AMQP_SASL_METHOD_PLAIN, "guest", "guest").reply_type != AMQP_RESPONSE_NORMAL) {
    amqp_destroy_connection(c);
    return nullptr;
  }
  amqp_channel_open(c, 1);
  if (amqp_get_rpc_reply(c).reply_type != AMQP_RESPONSE_NORMAL) {
    amqp_connection_close(c, AMQP_REPLY_SUCCESS);
    amqp_destroy_connection(c);
    return nullptr;
  }
  return c;
}

void logout(amqp_connection_state_t c) {
  amqp_channel_close(c, 1, AMQP_REPLY_SUCCESS);
  amqp_connection_close(c, AMQP_REPLY_SUCCESS);
  amqp_destroy_connection(c);
}

}  // namespace

Result<std::unique_ptr<RabbitMqServer>> RabbitMqServer::start() {
  if (!fs::exists(kServer)) {
    return Status::unavailable(std::string("RabbitMQ is not installed (") + kServer + " missing; run bin/install-deps.sh)");
  }
  std::unique_ptr<RabbitMqServer> server(new RabbitMqServer());
  server->dir_ = std::make_unique<TempDir>("canal-rabbitmq");
  server->port_ = freePort();
  server->distPort_ = freePort();
  server->epmdPort_ = freePort();
  const fs::path root = server->dir_->path();
  std::ofstream(root / "enabled_plugins") << "[].\n";
  std::ofstream(root / "rabbitmq.conf") << "listeners.tcp.default = 127.0.0.1:" << server->port_ << "\n";
  CANAL_RETURN_IF_ERROR(server->launch());
  return server;
}

Status RabbitMqServer::launch() {
  const fs::path root = dir_->path();
  const std::vector<std::string> argv = {
      "/usr/bin/env",
      "HOME=" + root.string(),  // the Erlang cookie
      "RABBITMQ_NODENAME=rabbit-" + std::to_string(port_) + "@localhost",
      "RABBITMQ_NODE_PORT=" + std::to_string(port_),
      "RABBITMQ_DIST_PORT=" + std::to_string(distPort_),
      "ERL_EPMD_PORT=" + std::to_string(epmdPort_),
      "RABBITMQ_MNESIA_BASE=" + (root / "mnesia").string(),
      "RABBITMQ_LOG_BASE=" + (root / "log").string(),
      "RABBITMQ_PID_FILE=" + (root / "rabbit.pid").string(),
      "RABBITMQ_CONFIG_FILE=" + (root / "rabbitmq").string(),
      "RABBITMQ_ENABLED_PLUGINS_FILE=" + (root / "enabled_plugins").string(),
      kServer};
  CANAL_RETURN_IF_ERROR(process_.start(argv, (root / "rabbitmq.out").string()));
  bool exited = false;
  const bool up = waitUntil(90s, [&] {
    if (!process_.running()) {
      exited = true;
      return true;
    }
    if (amqp_connection_state_t c = login(port_)) {
      logout(c);
      return true;
    }
    return false;
  }, 200ms);
  if (up && !exited) return Status::ok();
  const std::string log = process_.logTail();
  process_.stop();
  return Status::unavailable(std::string(exited ? "rabbitmq-server exited at start: " : "rabbitmq-server did not answer "
                                                                                         "within 90 s: ") + log);
}

void RabbitMqServer::kill() { process_.kill(); }

Status RabbitMqServer::restart() {
  process_.stop();
  return launch();
}

RabbitMqServer::~RabbitMqServer() {
  process_.stop(30s);
  std::string ignored;
  runCommand({"/usr/bin/epmd", "-port", std::to_string(epmdPort_), "-kill"}, &ignored);
}

struct RabbitMqConsumer::Connection {
  amqp_connection_state_t state = nullptr;
  ~Connection() {
    if (state) logout(state);
  }
};

RabbitMqConsumer::RabbitMqConsumer(const RabbitMqServer& server, std::string queue)
    : server_(server), queue_(std::move(queue)) {}

RabbitMqConsumer::~RabbitMqConsumer() = default;

std::vector<std::string> RabbitMqConsumer::take(std::size_t expected, std::chrono::milliseconds timeout) {
  std::vector<std::string> out;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (out.size() < expected && std::chrono::steady_clock::now() < deadline) {
    if (!connection_) {
      auto c = std::make_unique<Connection>();
      c->state = login(server_.port());
      if (!c->state) {
        std::this_thread::sleep_for(100ms);  // the broker restarts
        continue;
      }
      amqp_basic_qos(c->state, 1, 0, 500, 0);
      amqp_basic_consume(c->state, 1, amqp_cstring_bytes(queue_.c_str()), amqp_empty_bytes, 0, 0, 0, amqp_empty_table);
      if (amqp_get_rpc_reply(c->state).reply_type != AMQP_RESPONSE_NORMAL) {
        std::this_thread::sleep_for(100ms);  // no queue yet
        continue;
      }
      connection_ = std::move(c);
    }
    amqp_envelope_t envelope;
    amqp_maybe_release_buffers(connection_->state);
    timeval tv{0, 200000};
    const amqp_rpc_reply_t r = amqp_consume_message(connection_->state, &envelope, &tv, 0);
    if (r.reply_type == AMQP_RESPONSE_NORMAL) {
      out.emplace_back(static_cast<const char*>(envelope.message.body.bytes), envelope.message.body.len);
      std::int64_t sequence = 0;
      const amqp_basic_properties_t& props = envelope.message.properties;
      if (props._flags & AMQP_BASIC_HEADERS_FLAG) {
        for (int i = 0; i < props.headers.num_entries; ++i) {
          const amqp_table_entry_t& e = props.headers.entries[i];
          if (std::string(static_cast<const char*>(e.key.bytes), e.key.len) == "canal-sequence" &&
              e.value.kind == AMQP_FIELD_KIND_I64) {
            sequence = e.value.value.i64;
          }
        }
      }
      sequences_.push_back(sequence);
      amqp_basic_ack(connection_->state, 1, envelope.delivery_tag, 0);
      amqp_destroy_envelope(&envelope);
    } else if (!(r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION && r.library_error == AMQP_STATUS_TIMEOUT)) {
      connection_.reset();  // the broker went away: consume again once it is back
    }
  }
  return out;
}

}  // namespace canal::testing
