#include "publish/rabbitmq_publisher.h"

#include <amqp.h>
#include <amqp_tcp_socket.h>

#include <set>
#include <sys/time.h>

namespace canal::publish {
namespace {

using client::Result;
using client::Status;

std::string text(amqp_bytes_t b) { return std::string(static_cast<const char*>(b.bytes), b.len); }

// What a failed RPC says; `fatal` is set when retrying cannot help (the broker refused access
// or a name it does not know).
std::string replyText(const amqp_rpc_reply_t& r, const std::string& what, bool* fatal) {
  switch (r.reply_type) {
    case AMQP_RESPONSE_NORMAL:
      return {};
    case AMQP_RESPONSE_NONE:
      return what + ": no reply";
    case AMQP_RESPONSE_LIBRARY_EXCEPTION:
      return what + ": " + amqp_error_string2(r.library_error);
    case AMQP_RESPONSE_SERVER_EXCEPTION:
      if (r.reply.id == AMQP_CONNECTION_CLOSE_METHOD) {
        const auto* m = static_cast<const amqp_connection_close_t*>(r.reply.decoded);
        if (fatal) *fatal = m->reply_code == 403 || m->reply_code == 530;
        return what + ": the broker closed the connection: " + std::to_string(m->reply_code) + " " + text(m->reply_text);
      }
      if (r.reply.id == AMQP_CHANNEL_CLOSE_METHOD) {
        const auto* m = static_cast<const amqp_channel_close_t*>(r.reply.decoded);
        if (fatal) *fatal = m->reply_code == 403 || m->reply_code == 404 || m->reply_code == 406;
        return what + ": the broker closed the channel: " + std::to_string(m->reply_code) + " " + text(m->reply_text);
      }
      return what + ": the broker refused (method " + std::to_string(r.reply.id) + ")";
  }
  return what + ": unknown reply";
}

timeval toTimeval(std::chrono::microseconds d) {
  if (d.count() < 0) d = std::chrono::microseconds(0);
  timeval tv;
  tv.tv_sec = static_cast<time_t>(d.count() / 1000000);
  tv.tv_usec = static_cast<suseconds_t>(d.count() % 1000000);
  return tv;
}

}  // namespace

class RabbitMqPublisher::Connection {
 public:
  Connection() : state(amqp_new_connection()) {}
  ~Connection() {
    if (open) {
      amqp_channel_close(state, 1, AMQP_REPLY_SUCCESS);
      amqp_connection_close(state, AMQP_REPLY_SUCCESS);
    }
    amqp_destroy_connection(state);
  }
  amqp_connection_state_t state;
  bool open = false;
  std::uint64_t nextTag = 1;        // the delivery tag of the next publish (confirm mode)
  std::set<std::uint64_t> unconfirmed;
};

Result<std::unique_ptr<RabbitMqPublisher>> RabbitMqPublisher::create(RabbitMqOptions options) {
  if (options.host.empty()) return Status(Status::kInvalidArgument, "rabbitmq: no host");
  if (options.host.rfind("amqp", 0) == 0) {
    std::string copy = options.host;
    amqp_connection_info info;
    if (amqp_parse_url(copy.data(), &info) != AMQP_STATUS_OK) {
      return Status(Status::kInvalidArgument, "rabbitmq: '" + options.host + "' is not an amqp:// URI");
    }
    if (info.ssl) return Status(Status::kInvalidArgument, "rabbitmq: amqps:// (TLS) is not supported");
  }
  if (!options.exchangeType.empty() && options.exchangeType != "direct" && options.exchangeType != "fanout" &&
      options.exchangeType != "topic" && options.exchangeType != "headers") {
    return Status(Status::kInvalidArgument, "rabbitmq: exchange type '" + options.exchangeType +
                                                "' is not direct, fanout, topic or headers");
  }
  return std::unique_ptr<RabbitMqPublisher>(new RabbitMqPublisher(std::move(options)));
}

RabbitMqPublisher::RabbitMqPublisher(RabbitMqOptions options) : options_(std::move(options)) {}
RabbitMqPublisher::~RabbitMqPublisher() = default;

Status RabbitMqPublisher::connect() {
  std::string host = options_.host, vhost = options_.virtualHost, user = options_.username,
              password = options_.password;
  int port = 5672;
  std::string uri = options_.host;
  if (uri.rfind("amqp", 0) == 0) {
    amqp_connection_info info;
    amqp_parse_url(uri.data(), &info);  // checked by create()
    host = info.host;
    port = info.port;
    vhost = info.vhost;
    user = info.user;
    password = info.password;
  } else if (const auto colon = host.rfind(':'); colon != std::string::npos) {
    port = std::atoi(host.c_str() + colon + 1);
    host = host.substr(0, colon);
  }
  auto c = std::make_unique<Connection>();
  amqp_socket_t* socket = amqp_tcp_socket_new(c->state);
  if (!socket) return Status(kSinkRetry, "rabbitmq: cannot make a socket");
  timeval tv = toTimeval(options_.timeout);
  if (const int rc = amqp_socket_open_noblock(socket, host.c_str(), port, &tv); rc != AMQP_STATUS_OK) {
    return Status(kSinkRetry, "rabbitmq: connecting to " + host + ":" + std::to_string(port) + ": " +
                                  amqp_error_string2(rc));
  }
  const std::string where = "rabbitmq " + host + ":" + std::to_string(port);
  bool fatal = false;
  amqp_rpc_reply_t r = amqp_login(c->state, vhost.c_str(), 0, 131072, 0, AMQP_SASL_METHOD_PLAIN, user.c_str(),
                                  password.c_str());
  if (r.reply_type != AMQP_RESPONSE_NORMAL) {
    const std::string message = replyText(r, where + ": login as " + user + " to virtual host " + vhost, &fatal);
    return Status(fatal ? kSinkFatal : kSinkRetry, message);
  }
  c->open = true;
  auto rpc = [&](const std::string& what) -> Status {
    const amqp_rpc_reply_t reply = amqp_get_rpc_reply(c->state);
    if (reply.reply_type == AMQP_RESPONSE_NORMAL) return Status::ok();
    bool refused = false;
    const std::string message = replyText(reply, where + ": " + what, &refused);
    return Status(refused ? kSinkFatal : kSinkRetry, message);
  };
  amqp_channel_open(c->state, 1);
  if (Status s = rpc("opening a channel"); !s) return s;
  amqp_confirm_select(c->state, 1);
  if (Status s = rpc("turning on publisher confirms"); !s) return s;
  // As Canal's producer: a durable queue when named; a durable exchange of the configured type,
  // and the queue bound to it, when all four are set.
  if (!options_.queue.empty()) {
    amqp_queue_declare(c->state, 1, amqp_cstring_bytes(options_.queue.c_str()), 0, 1, 0, 0, amqp_empty_table);
    if (Status s = rpc("declaring queue " + options_.queue); !s) return s;
  }
  if (!options_.queue.empty() && !options_.exchange.empty() && !options_.exchangeType.empty() &&
      !options_.routingKey.empty()) {
    amqp_exchange_declare(c->state, 1, amqp_cstring_bytes(options_.exchange.c_str()),
                          amqp_cstring_bytes(options_.exchangeType.c_str()), 0, 1, 0, 0, amqp_empty_table);
    if (Status s = rpc("declaring exchange " + options_.exchange); !s) return s;
    amqp_queue_bind(c->state, 1, amqp_cstring_bytes(options_.queue.c_str()), amqp_cstring_bytes(options_.exchange.c_str()),
                    amqp_cstring_bytes(options_.routingKey.c_str()), amqp_empty_table);
    if (Status s = rpc("binding queue " + options_.queue + " to " + options_.exchange); !s) return s;
  }
  connection_ = std::move(c);
  return Status::ok();
}

Status RabbitMqPublisher::publish(const std::vector<MqMessage>& messages) {
  const auto started = std::chrono::steady_clock::now();
  const auto fail = [&](Status s) {
    connection_.reset();  // unconfirmed messages are sent again on a new connection
    stats_.inFlight.store(0, std::memory_order_relaxed);
    stats_.failures.fetch_add(1, std::memory_order_relaxed);
    return s;
  };
  if (!connection_) {
    if (Status s = connect(); !s) return fail(s);
  }
  Connection& c = *connection_;
  c.unconfirmed.clear();

  // Reads the broker's frames until `until` (or, with a zero wait, what has arrived); acks and
  // nacks settle delivery tags.
  bool nacked = false;
  std::uint64_t returned = 0;  // messages the broker could not route (basic.return)
  std::string returnedWhy;     // the first one's reply, exchange and routing key
  std::string closed;
  bool closedFatal = false;
  const auto readFrames = [&](std::chrono::steady_clock::time_point until, bool untilConfirmed) -> int {
    for (;;) {
      if (untilConfirmed && c.unconfirmed.empty()) return AMQP_STATUS_OK;
      amqp_frame_t frame;
      timeval tv = toTimeval(std::chrono::duration_cast<std::chrono::microseconds>(until - std::chrono::steady_clock::now()));
      const int rc = amqp_simple_wait_frame_noblock(c.state, &frame, &tv);
      if (rc != AMQP_STATUS_OK) return rc;
      if (frame.frame_type != AMQP_FRAME_METHOD) continue;
      const amqp_method_number_t id = frame.payload.method.id;
      if (id == AMQP_BASIC_ACK_METHOD || id == AMQP_BASIC_NACK_METHOD) {
        std::uint64_t tag = 0;
        bool multiple = false;
        if (id == AMQP_BASIC_ACK_METHOD) {
          const auto* ack = static_cast<const amqp_basic_ack_t*>(frame.payload.method.decoded);
          tag = ack->delivery_tag;
          multiple = ack->multiple;
        } else {
          const auto* nack = static_cast<const amqp_basic_nack_t*>(frame.payload.method.decoded);
          tag = nack->delivery_tag;
          multiple = nack->multiple;
          nacked = true;
        }
        if (multiple) {
          c.unconfirmed.erase(c.unconfirmed.begin(), c.unconfirmed.upper_bound(tag));
        } else {
          c.unconfirmed.erase(tag);
        }
      } else if (id == AMQP_BASIC_RETURN_METHOD) {
        // Its content header and body follow as frames of their own, passed over above.
        const auto* r = static_cast<const amqp_basic_return_t*>(frame.payload.method.decoded);
        if (returned++ == 0) {
          returnedWhy = std::to_string(r->reply_code) + " " + text(r->reply_text) + " (exchange '" + text(r->exchange) +
                        "', routing key '" + text(r->routing_key) + "')";
        }
      } else if (id == AMQP_CHANNEL_CLOSE_METHOD || id == AMQP_CONNECTION_CLOSE_METHOD) {
        amqp_rpc_reply_t r;
        r.reply_type = AMQP_RESPONSE_SERVER_EXCEPTION;
        r.reply = frame.payload.method;
        closed = replyText(r, "rabbitmq: publishing", &closedFatal);
        return AMQP_STATUS_CONNECTION_CLOSED;
      }
    }
  };

  amqp_basic_properties_t props;
  props._flags = AMQP_BASIC_CONTENT_TYPE_FLAG | AMQP_BASIC_DELIVERY_MODE_FLAG;
  props.content_type = amqp_cstring_bytes("text/plain");
  props.delivery_mode = 2;  // persistent
  const amqp_bytes_t exchange = amqp_cstring_bytes(options_.exchange.c_str());
  std::uint64_t bytes = 0;
  for (std::size_t i = 0; i < messages.size(); ++i) {
    const MqMessage& m = messages[i];
    amqp_bytes_t body;
    body.len = m.payload.size();
    body.bytes = const_cast<char*>(m.payload.data());
    amqp_table_entry_t sequence;
    props._flags &= ~AMQP_BASIC_HEADERS_FLAG;
    if (m.origin.sequence > 0) {
      sequence.key = amqp_cstring_bytes(kSequenceHeader);
      sequence.value.kind = AMQP_FIELD_KIND_I64;
      sequence.value.value.i64 = m.origin.sequence;
      props.headers.num_entries = 1;
      props.headers.entries = &sequence;
      props._flags |= AMQP_BASIC_HEADERS_FLAG;
    }
    const int rc = amqp_basic_publish(c.state, 1, exchange, amqp_cstring_bytes(m.topic.c_str()), /*mandatory=*/1,
                                      /*immediate=*/0, &props, body);
    if (rc != AMQP_STATUS_OK) {
      return fail(Status(kSinkRetry, "rabbitmq: publishing " + m.origin.where() + ": " + amqp_error_string2(rc)));
    }
    c.unconfirmed.insert(c.nextTag++);
    stats_.inFlight.store(c.unconfirmed.size(), std::memory_order_relaxed);
    bytes += m.payload.size();
    // Take the confirms that arrived now and then, so the broker never waits on a full socket.
    if (i % 64 == 63) {
      const int r = readFrames(std::chrono::steady_clock::now(), false);
      if (r != AMQP_STATUS_TIMEOUT && r != AMQP_STATUS_OK) {
        return fail(Status(closedFatal ? kSinkFatal : kSinkRetry, closed.empty() ? std::string("rabbitmq: ") + amqp_error_string2(r) : closed));
      }
    }
  }
  const int rc = readFrames(std::chrono::steady_clock::now() + options_.timeout, true);
  if (rc == AMQP_STATUS_TIMEOUT) {
    return fail(Status(kSinkRetry, "rabbitmq: " + std::to_string(c.unconfirmed.size()) + " message(s) not confirmed within " +
                                       std::to_string(options_.timeout.count()) + " ms"));
  }
  if (rc != AMQP_STATUS_OK) {
    return fail(Status(closedFatal ? kSinkFatal : kSinkRetry,
                       closed.empty() ? std::string("rabbitmq: ") + amqp_error_string2(rc) : closed));
  }
  if (nacked) return fail(Status(kSinkRetry, "rabbitmq: the broker refused (nack) a message of the batch"));
  if (returned > 0 && !options_.dropUnroutable) {
    // Sent again with the batch: once a queue is bound for them they arrive.
    stats_.inFlight.store(0, std::memory_order_relaxed);
    stats_.failures.fetch_add(1, std::memory_order_relaxed);
    return Status(kSinkRetry, "rabbitmq: " + std::to_string(returned) +
                                  " message(s) of the batch reached no queue: the broker returned them, " + returnedWhy +
                                  "; bind a queue for that routing key, or have such messages dropped (the forwarder sink's unroutable: drop, canal-server's rabbitmq.unroutable = drop)");
  }
  stats_.unroutable.fetch_add(returned, std::memory_order_relaxed);
  stats_.inFlight.store(0, std::memory_order_relaxed);
  stats_.messages.fetch_add(messages.size(), std::memory_order_relaxed);
  stats_.bytes.fetch_add(bytes, std::memory_order_relaxed);
  stats_.lastLatencyUs.store(static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(
                                                            std::chrono::steady_clock::now() - started)
                                                            .count()),
                             std::memory_order_relaxed);
  return Status::ok();
}

}  // namespace canal::publish
