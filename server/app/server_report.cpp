#include "server/app/server_report.h"

#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>

namespace canal::app {
namespace {

using Json = nlohmann::ordered_json;
using instance::DestinationStats;

// Label values escaped as the text format wants (backslash, quote, newline).
std::string escape(const std::string& v) {
  std::string out;
  for (const char c : v) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

std::string number(double v) {
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (std::isnan(v)) return "NaN";
  if (v == std::floor(v) && std::fabs(v) < 1e15) return std::to_string(static_cast<std::int64_t>(v));
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.9g", v);
  return buf;
}

// Java's Double.toString for the bucket bounds Canal's histogram prints (2.5, 10.0, ...).
std::string javaDouble(double v) {
  std::string s = number(v);
  if (s.find('.') == std::string::npos && s.find('e') == std::string::npos) s += ".0";
  return s;
}

using Labels = std::vector<std::pair<std::string, std::string>>;

class Writer {
 public:
  // Starts a family; samples follow with sample().
  void family(const std::string& name, const char* type, const std::string& help) {
    out_ << "# HELP " << name << ' ' << help << "\n# TYPE " << name << ' ' << type << '\n';
  }
  void sample(const std::string& name, const Labels& labels, double value) {
    out_ << name;
    if (!labels.empty()) {
      out_ << '{';
      for (std::size_t i = 0; i < labels.size(); ++i) {
        if (i) out_ << ',';
        out_ << labels[i].first << "=\"" << escape(labels[i].second) << '"';
      }
      out_ << '}';
    }
    out_ << ' ' << number(value) << '\n';
  }
  // A histogram's samples; `scale` converts the seconds it holds (1000: milliseconds); only the
  // bounds in `only` when given.
  void histogram(const std::string& name, const Labels& labels, const Histogram& h, double scale,
                 const std::vector<double>& only = {}) {
    const auto& bounds = h.bounds();
    for (std::size_t i = 0; i < bounds.size(); ++i) {
      if (!only.empty() && std::find(only.begin(), only.end(), bounds[i]) == only.end()) continue;
      Labels l = labels;
      l.emplace_back("le", scale == 1 ? number(bounds[i]) : javaDouble(bounds[i] * scale));
      sample(name + "_bucket", l, static_cast<double>(h.cumulative(i)));
    }
    Labels inf = labels;
    inf.emplace_back("le", "+Inf");
    sample(name + "_bucket", inf, static_cast<double>(h.count()));
    sample(name + "_count", labels, static_cast<double>(h.count()));
    sample(name + "_sum", labels, h.sum() * scale);
  }
  // A family of one unlabelled sample.
  void single(const std::string& name, const char* type, const std::string& help, double value) {
    family(name, type, help);
    sample(name, {}, value);
  }
  std::string text() const { return out_.str(); }

 private:
  std::ostringstream out_;
};

// One family over every destination that has a value for it.
template <typename Views, typename Emit>
void each(Writer& w, const Views& views, const std::string& name, const char* type, const std::string& help, Emit emit) {
  bool started = false;
  for (const DestinationView& v : views) {
    std::vector<std::pair<Labels, double>> samples;
    emit(v, [&](Labels labels, double value) { samples.emplace_back(std::move(labels), value); });
    for (auto& [labels, value] : samples) {
      if (!started) w.family(name, type, help);
      started = true;
      w.sample(name, labels, value);
    }
  }
}

Labels dest(const DestinationView& v) { return {{"destination", v.name}}; }

std::string gtidOf(const CommitPosition& p) { return !p.mysqlGtidSet.empty() ? p.mysqlGtidSet : p.mariaGtid; }

std::string stateOf(const DestinationView& v) {
  if (v.config.fingerprint.empty()) return "invalid";  // its instance.properties never loaded
  if (v.stopped) return "stopped";
  if (!v.active) return "standby";
  return instance::stateName(v.stats->state);
}

std::int64_t sinceMs(std::int64_t nowMs, std::int64_t thenMs) { return thenMs > 0 ? std::max<std::int64_t>(0, nowMs - thenMs) : 0; }

std::string isoTime(std::int64_t ms) {
  if (ms <= 0) return {};
  const std::time_t t = ms / 1000;
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[80];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms % 1000));
  return buf;
}

struct ProcessFigures {
  double cpuSeconds = 0;
  double residentBytes = 0;
  double virtualBytes = 0;
  double startSeconds = 0;
  double openFds = 0;
  double maxFds = 0;
  double threads = 0;
};

ProcessFigures processFigures() {
  ProcessFigures f;
  std::ifstream stat("/proc/self/stat");
  std::string line;
  std::getline(stat, line);
  // Fields after the parenthesised command name: state is field 3.
  const auto close = line.rfind(')');
  if (close != std::string::npos) {
    std::istringstream in(line.substr(close + 2));
    std::vector<std::string> fields;
    for (std::string x; in >> x;) fields.push_back(x);
    const auto field = [&](std::size_t n) { return n - 3 < fields.size() ? std::atof(fields[n - 3].c_str()) : 0.0; };
    const double ticks = static_cast<double>(::sysconf(_SC_CLK_TCK));
    f.cpuSeconds = (field(14) + field(15)) / ticks;
    f.threads = field(20);
    f.virtualBytes = field(23);
    f.residentBytes = field(24) * static_cast<double>(::sysconf(_SC_PAGESIZE));
    std::ifstream uptime("/proc/uptime");
    double up = 0;
    uptime >> up;
    f.startSeconds = static_cast<double>(std::time(nullptr)) - up + field(22) / ticks;
  }
  if (DIR* d = ::opendir("/proc/self/fd")) {
    while (const dirent* e = ::readdir(d)) {
      if (e->d_name[0] != '.') ++f.openFds;
    }
    ::closedir(d);
    --f.openFds;  // the directory itself
  }
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) == 0) f.maxFds = static_cast<double>(limit.rlim_cur);
  return f;
}

const std::vector<double> kCanalLatencyBounds = {0.0025, 0.01, 0.025, 0.1};  // Canal's buckets, in s

// The figures of an active destination (views in `active` have them).
const DestinationStats& stats(const DestinationView& v) { return *v.stats; }
const mq::MqWorkerStats* mq(const DestinationView& v) { return v.mq ? &*v.mq : nullptr; }

// Canal's families of a destination: instance, subscriptions, traffic, parser, sink.
void canalFamilies(Writer& w, const std::vector<DestinationView>& active, std::int64_t nowMs) {
  each(w, active, "canal_instance", "gauge", "Canal instance", [](const DestinationView& v, auto put) {
    put({{"destination", v.name}, {"mode", "spring"}}, 1);
  });
  each(w, active, "canal_instance_subscriptions", "gauge", "Canal instance subscriptions",
       [&](const DestinationView& v, auto put) { put(dest(v), static_cast<double>(stats(v).clients.size())); });
  each(w, active, "canal_instance_traffic_delay", "gauge", "Traffic delay of canal instance in milliseconds",
       [&](const DestinationView& v, auto put) {
         const auto& s = stats(v);
         const std::int64_t latest = std::max(s.store.putExecuteTime, s.lastHeartbeatMs);
         if (latest > 0) put(dest(v), static_cast<double>(sinceMs(nowMs, latest)));
       });
  each(w, active, "canal_instance_transactions", "counter", "Received transactions",
       [&](const DestinationView& v, auto put) { put(dest(v), static_cast<double>(stats(v).transactions)); });
  each(w, active, "canal_instance_received_binlog_bytes", "counter", "Received binlog bytes",
       [&](const DestinationView& v, auto put) {
         put({{"destination", v.name}, {"parser", "0"}}, static_cast<double>(stats(v).binlogBytes));
       });
  each(w, active, "canal_instance_parser_mode", "gauge", "Parser mode of canal instance",
       [](const DestinationView& v, auto put) { put({{"destination", v.name}, {"parallel", "false"}}, 1); });
  each(w, active, "canal_instance_sink_blocking_time", "counter", "Total sink blocking time in milliseconds",
       [&](const DestinationView& v, auto put) {
         put(dest(v), static_cast<double>(stats(v).store.putBlockedNanos / 1000000));
       });
}

// Ours: the last snapshot of each destination.
void snapshotFamilies(Writer& w, const std::vector<DestinationView>& active) {
  each(w, active, "canal_instance_snapshot_rows", "counter", "Rows the last snapshot put into the stream",
       [](const DestinationView& v, auto put) {
         if (!v.snapshot) return;
         double rows = 0;
         for (const auto& t : v.snapshot->tables) rows += static_cast<double>(t.rows);
         put(dest(v), rows);
       });
  each(w, active, "canal_instance_snapshot_running", "gauge", "Whether a snapshot runs",
       [](const DestinationView& v, auto put) { put(dest(v), v.snapshot && v.snapshot->state == "running" ? 1 : 0); });
}

// Ours: Canal's MQ mode.
void mqFamilies(Writer& w, const std::vector<DestinationView>& active) {
  each(w, active, "canal_mq_messages", "counter", "Messages the broker confirmed",
       [&](const DestinationView& v, auto put) {
         if (const auto* m = mq(v)) put(dest(v), static_cast<double>(m->publisher.messages));
       });
  each(w, active, "canal_mq_bytes", "counter", "Payload bytes the broker confirmed",
       [&](const DestinationView& v, auto put) {
         if (const auto* m = mq(v)) put(dest(v), static_cast<double>(m->publisher.bytes));
       });
  each(w, active, "canal_mq_in_flight", "gauge", "Messages sent and not yet confirmed",
       [&](const DestinationView& v, auto put) {
         if (const auto* m = mq(v)) put(dest(v), static_cast<double>(m->publisher.inFlight));
       });
  each(w, active, "canal_mq_batch_latency_seconds", "gauge", "Send-to-confirmation time of the last batch",
       [&](const DestinationView& v, auto put) {
         if (const auto* m = mq(v)) put(dest(v), static_cast<double>(m->publisher.lastLatencyUs) / 1e6);
       });
  each(w, active, "canal_mq_batches", "counter", "Batches published and acked",
       [&](const DestinationView& v, auto put) {
         if (const auto* m = mq(v)) put(dest(v), static_cast<double>(m->batches));
       });
  each(w, active, "canal_mq_errors", "counter", "Batches the broker did not confirm (sent again) or refused",
       [&](const DestinationView& v, auto put) {
         if (const auto* m = mq(v)) put(dest(v), static_cast<double>(m->failures));
       });
  each(w, active, "canal_mq_dead_lettered", "counter", "Oversized messages sent to the dead-letter topic",
       [&](const DestinationView& v, auto put) {
         if (const auto* m = mq(v)) put(dest(v), static_cast<double>(m->publisher.deadLettered));
       });
  each(w, active, "canal_mq_publishing", "gauge", "1 while publishing, 0 when it stopped on an error",
       [&](const DestinationView& v, auto put) {
         if (const auto* m = mq(v)) put(dest(v), m->state == "failed" ? 0 : 1);
       });
}

// Canal's store families, the put/get/ack delays and the client request latencies.
void storeFamilies(Writer& w, const std::vector<DestinationView>& active, std::int64_t nowMs) {
  each(w, active, "canal_instance_store_produce_seq", "counter", "Produced events counter of canal instance",
       [&](const DestinationView& v, auto put) { put(dest(v), static_cast<double>(stats(v).store.putSequence)); });
  each(w, active, "canal_instance_store_consume_seq", "counter", "Consumed events counter of canal instance",
       [&](const DestinationView& v, auto put) { put(dest(v), static_cast<double>(stats(v).store.ackSequence)); });
  each(w, active, "canal_instance_store", "gauge", "Canal instance info", [&](const DestinationView& v, auto put) {
    put({{"destination", v.name}, {"batchMode", v.config.batchMode}, {"size", std::to_string(v.config.bufferSize)}}, 1);
  });
  each(w, active, "canal_instance_store_produce_mem", "counter", "Produced mem bytes of canal instance",
       [&](const DestinationView& v, auto put) {
         if (v.config.batchMode == "MEMSIZE") put(dest(v), static_cast<double>(stats(v).store.putBytes));
       });
  each(w, active, "canal_instance_store_consume_mem", "counter", "Consumed mem bytes of canal instance",
       [&](const DestinationView& v, auto put) {
         if (v.config.batchMode == "MEMSIZE") put(dest(v), static_cast<double>(stats(v).store.ackBytes));
       });
  // Delays of the last put / get / ack entry (get never newer than put, ack than get).
  const auto delays = [&](const DestinationView& v) {
    const auto& s = stats(v).store;
    const std::int64_t put = s.putExecuteTime;
    const std::int64_t get = std::min(s.getExecuteTime, put);
    const std::int64_t ack = std::min(s.ackExecuteTime, get);
    return std::array<std::int64_t, 3>{put, get, ack};
  };
  const char* stages[] = {"put", "get", "ack"};
  for (int i = 0; i < 3; ++i) {
    each(w, active, std::string("canal_instance_") + stages[i] + "_delay", "gauge",
         std::string("Traffic delay of canal instance ") + stages[i] + " in milliseconds",
         [&](const DestinationView& v, auto put) {
           const std::int64_t t = delays(v)[i];
           if (t > 0) put(dest(v), static_cast<double>(sinceMs(nowMs, t)));
         });
  }
  for (int i = 0; i < 3; ++i) {
    each(w, active, std::string("canal_instance_") + stages[i] + "_rows", "counter",
         std::string("Table rows of canal instance ") + stages[i], [&](const DestinationView& v, auto put) {
           const auto& s = stats(v).store;
           put(dest(v), static_cast<double>(i == 0 ? s.putRows : i == 1 ? s.getRows : s.ackRows));
         });
  }
  each(w, active, "canal_instance_client_packets", "counter", "Total client packets", [&](const DestinationView& v, auto put) {
    for (const auto& [type, n] : stats(v).traffic.packets) put({{"destination", v.name}, {"packetType", type}}, static_cast<double>(n));
  });
  each(w, active, "canal_instance_client_bytes", "counter", "Total bytes sent to clients",
       [&](const DestinationView& v, auto put) { put(dest(v), static_cast<double>(stats(v).traffic.bytes)); });
  each(w, active, "canal_instance_client_empty_batches", "counter", "Total empty batches sent to clients",
       [&](const DestinationView& v, auto put) { put(dest(v), static_cast<double>(stats(v).traffic.emptyBatches)); });
  each(w, active, "canal_instance_client_request_error", "counter", "Total client request errors",
       [&](const DestinationView& v, auto put) {
         for (const auto& [code, n] : stats(v).traffic.errors) {
           put({{"destination", v.name}, {"errorCode", std::to_string(code)}}, static_cast<double>(n));
         }
       });
  if (!active.empty()) {
    w.family("canal_instance_client_request_latency", "histogram", "Client request latency in milliseconds");
    for (const auto& v : active) {
      w.histogram("canal_instance_client_request_latency", dest(v), stats(v).traffic.latency, 1000, kCanalLatencyBounds);
    }
  }

}

// This server's families: every destination configured here, active or not.
void destinationFamilies(Writer& w, const std::vector<DestinationView>& views, const std::vector<DestinationView>& active,
                         std::int64_t nowMs) {
  each(w, views, "canal_destination_info", "gauge", "A destination configured on this server",
       [](const DestinationView& v, auto put) {
         const char* mode = v.config.mode == InstanceMode::kMemory ? "memory"
                            : v.config.mode == InstanceMode::kDefault ? "default" : "file";
         put({{"destination", v.name}, {"mode", mode}, {"store", v.config.durable ? "rocksdb" : "memory"}}, 1);
       });
  each(w, views, "canal_destination_active", "gauge", "1 when the destination runs on this server (0: standby)",
       [](const DestinationView& v, auto put) { put(dest(v), v.active ? 1 : 0); });
  each(w, views, "canal_destination_state", "gauge", "The destination's state (1 for the current one)",
       [](const DestinationView& v, auto put) {
         const std::string current = stateOf(v);
         for (const char* s : {"starting", "following", "retrying", "stuck", "stopped", "standby", "invalid"}) {
           put({{"destination", v.name}, {"state", s}}, current == s ? 1 : 0);
         }
       });
  each(w, views, "canal_destination_config_error", "gauge",
       "1 when the newest instance.properties does not load (the running version goes on)",
       [](const DestinationView& v, auto put) { put(dest(v), v.configError.isOk() ? 0 : 1); });
  each(w, active, "canal_destination_lag_milliseconds", "gauge",
       "How far the stored changes are behind the primary: 0 when caught up, else now minus the newest event's binlog time",
       [&](const DestinationView& v, auto put) {
         const std::int64_t lag = lagMs(stats(v), nowMs);
         if (lag >= 0) put(dest(v), static_cast<double>(lag));
       });
  each(w, active, "canal_destination_primary_silence_milliseconds", "gauge",
       "Time since the primary last sent an event or a heartbeat", [&](const DestinationView& v, auto put) {
         const std::int64_t contact = std::max(stats(v).lastEventArrivalMs, stats(v).lastHeartbeatMs);
         if (contact > 0) put(dest(v), static_cast<double>(sinceMs(nowMs, contact)));
       });
  each(w, active, "canal_destination_binlog_file_index", "gauge",
       "Number of the binlog file of the last transaction stored", [&](const DestinationView& v, auto put) {
         if (const auto& p = stats(v).position) put(dest(v), static_cast<double>(binlogFileIndex(p->file)));
       });
  each(w, active, "canal_destination_binlog_position", "gauge",
       "Offset in that file after the last transaction stored", [&](const DestinationView& v, auto put) {
         if (const auto& p = stats(v).position) put(dest(v), static_cast<double>(p->position));
       });
  each(w, active, "canal_destination_binlog_info", "gauge", "Binlog file and GTID set of the last transaction stored",
       [&](const DestinationView& v, auto put) {
         if (const auto& p = stats(v).position) put({{"destination", v.name}, {"file", p->file}, {"gtid", gtidOf(*p)}}, 1);
       });
  const struct {
    const char* name;
    const char* help;
    std::function<double(const DestinationStats&)> value;
  } counters[] = {
      {"canal_destination_events_total", "Events read from the primary, heartbeats included",
       [](const DestinationStats& s) { return static_cast<double>(s.events); }},
      {"canal_destination_heartbeats_total", "Heartbeats read from the primary",
       [](const DestinationStats& s) { return static_cast<double>(s.heartbeats); }},
      {"canal_destination_binlog_bytes_total", "Binlog bytes read from the primary",
       [](const DestinationStats& s) { return static_cast<double>(s.binlogBytes); }},
      {"canal_destination_rows_total", "Table rows stored",
       [](const DestinationStats& s) { return static_cast<double>(s.store.putRows); }},
      {"canal_destination_entries_total", "Entries stored",
       [](const DestinationStats& s) { return static_cast<double>(s.store.putSequence); }},
      {"canal_destination_stream_starts_total", "Times the stream was started (1 + restarts after errors)",
       [](const DestinationStats& s) { return static_cast<double>(s.streamStarts); }},
      {"canal_destination_stream_failures_total", "Times the stream stopped with an error (then retried)",
       [](const DestinationStats& s) { return static_cast<double>(s.streamFailures); }},
  };
  for (const auto& c : counters) {
    each(w, active, c.name, "counter", c.help, [&](const DestinationView& v, auto put) { put(dest(v), c.value(stats(v))); });
  }
  const struct {
    const char* name;
    const char* help;
    std::function<double(const store::StoreStats&)> value;
  } gauges[] = {
      {"canal_destination_store_items", "Entries held by the store (not acked)",
       [](const store::StoreStats& s) { return static_cast<double>(s.items); }},
      {"canal_destination_store_bytes", "Bytes of the entries held by the store",
       [](const store::StoreStats& s) { return static_cast<double>(s.bytes); }},
      {"canal_destination_store_capacity_items", "The store's size in entries (ITEMSIZE), 0 in MEMSIZE",
       [](const store::StoreStats& s) { return static_cast<double>(s.capacityItems); }},
      {"canal_destination_store_capacity_bytes", "The store's size in bytes (MEMSIZE), 0 in ITEMSIZE",
       [](const store::StoreStats& s) { return static_cast<double>(s.capacityBytes); }},
      {"canal_destination_store_disk_bytes", "Size of the RocksDB store on disk (estimate), 0 in memory",
       [](const store::StoreStats& s) { return static_cast<double>(s.journalBytes); }},
  };
  for (const auto& g : gauges) {
    each(w, active, g.name, "gauge", g.help, [&](const DestinationView& v, auto put) { put(dest(v), g.value(stats(v).store)); });
  }
  each(w, active, "canal_client_unacked_batches", "gauge", "Batches handed to a client and not acked yet",
       [&](const DestinationView& v, auto put) {
         for (const auto& c : stats(v).clients) {
           put({{"destination", v.name}, {"clientId", std::to_string(c.clientId)}}, static_cast<double>(c.unackedBatches));
         }
       });
  bool anyClient = false;
  for (const auto& v : active) anyClient = anyClient || !stats(v).clients.empty();
  if (anyClient) {
    w.family("canal_client_request_seconds", "histogram", "Server time of a client's getWithoutAck and ack");
    for (const auto& v : active) {
      for (const auto& c : stats(v).clients) {
        const std::string id = std::to_string(c.clientId);
        w.histogram("canal_client_request_seconds", {{"destination", v.name}, {"clientId", id}, {"request", "get"}},
                    c.getLatency, 1);
        w.histogram("canal_client_request_seconds", {{"destination", v.name}, {"clientId", id}, {"request", "ack"}},
                    c.ackLatency, 1);
      }
    }
  }
}

// The client port's connections.
void serverFamilies(Writer& w, const ServerFacts& server) {
  w.single("canal_server_sessions", "gauge", "Open client connections", static_cast<double>(server.sessions));
  w.single("canal_server_receiving_bytes", "gauge", "Bytes of client frames being received (canal.net.receive.budget)",
           static_cast<double>(server.receivingBytes));
  w.single("canal_server_connections_refused_total", "counter", "Client connections closed over canal.net.connections.max",
           static_cast<double>(server.refusedConnections));
  w.single("canal_server_connections_over_budget_total", "counter",
           "Client connections closed because frames being received exceeded canal.net.receive.budget",
           static_cast<double>(server.overBudgetCloses));
  w.single("canal_server_connections_evicted_total", "counter",
           "Unauthenticated client connections closed to make room for a newcomer",
           static_cast<double>(server.unauthenticatedEvictions));

}

// The process, as Prometheus' client libraries name its figures.
void processFamilies(Writer& w) {
  const ProcessFigures p = processFigures();
  w.single("process_cpu_seconds_total", "counter", "Total user and system CPU time spent in seconds.", p.cpuSeconds);
  w.single("process_resident_memory_bytes", "gauge", "Resident memory size in bytes.", p.residentBytes);
  w.single("process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.", p.virtualBytes);
  w.single("process_start_time_seconds", "gauge", "Start time of the process since unix epoch in seconds.",
           std::floor(p.startSeconds));
  w.single("process_open_fds", "gauge", "Number of open file descriptors.", p.openFds);
  w.single("process_max_fds", "gauge", "Maximum number of open file descriptors.", p.maxFds);
  w.single("process_threads", "gauge", "Number of OS threads in the process.", p.threads);
}

}  // namespace

std::int64_t lagMs(const DestinationStats& s, std::int64_t nowMs) {
  const std::int64_t contact = std::max(s.lastEventArrivalMs, s.lastHeartbeatMs);
  const bool alive = contact > 0 && nowMs - contact <= 2 * std::max<std::int64_t>(s.heartbeatPeriodMs, 1000);
  // waitingSinceMs is stamped at the system's tick (up to about 4 ms early): waiting for 10 ms
  // by it is waiting for at least a few.
  const bool waiting = s.waitingSinceMs > 0 && nowMs - s.waitingSinceMs >= 10;
  if (s.state == instance::DestinationState::kFollowing && waiting && alive) return 0;
  // Behind by the newest event read, else (nothing read since the start: a stream that cannot
  // start) by the last transaction stored.
  std::int64_t newest = s.lastEventTimeMs;
  if (newest <= 0 && s.position && s.position->timestamp > 0) newest = std::int64_t{s.position->timestamp} * 1000;
  if (newest <= 0) return -1;
  return std::max<std::int64_t>(0, nowMs - newest);
}

std::string renderMetrics(const ServerFacts& server, const std::vector<DestinationView>& views, std::int64_t nowMs) {
  Writer w;
  std::vector<DestinationView> active;
  for (const auto& v : views) {
    if (v.active && v.stats) active.push_back(v);
  }
  canalFamilies(w, active, nowMs);
  snapshotFamilies(w, active);
  mqFamilies(w, active);
  storeFamilies(w, active, nowMs);
  destinationFamilies(w, views, active, nowMs);
  serverFamilies(w, server);
  processFamilies(w);
  return w.text();
}

std::string renderStatus(const ServerFacts& server, const std::vector<DestinationView>& views, std::int64_t nowMs) {
  Json destinations = Json::array();
  for (const DestinationView& v : views) {
    Json d;
    d["name"] = v.name;
    d["state"] = stateOf(v);
    d["active"] = v.active;
    // The server that runs it: this one, or with HA the one its running node in ZooKeeper names.
    d["runningAt"] = v.active ? Json(server.address) : v.runningAt.empty() ? Json(nullptr) : Json(v.runningAt);
    d["since"] = isoTime(v.startedMs);  // when this version of its configuration was set up
    if (!v.configError.isOk()) {
      d["configError"] = {{"message", v.configError.toString()}, {"time", isoTime(v.configErrorTimeMs)}};
    }
    if (v.stats) {
      const DestinationStats& s = *v.stats;
      d["primary"] = s.primary;
      d["reading"] = s.reading.empty() ? Json(nullptr) : Json(s.reading);
      Json notices = Json::array();
      for (const auto& n : s.notices) notices.push_back({{"time", isoTime(n.timeMs)}, {"what", n.what}});
      d["streamNotices"] = std::move(notices);
      if (s.position) {
        d["position"] = {{"journalName", s.position->file},
                         {"position", s.position->position},
                         {"timestamp", std::int64_t{s.position->timestamp} * 1000},
                         {"gtid", gtidOf(*s.position)}};
      } else {
        d["position"] = nullptr;
      }
      const std::int64_t lag = lagMs(s, nowMs);
      d["lagMs"] = lag >= 0 ? Json(lag) : Json(nullptr);
      d["events"] = s.events;
      d["rows"] = s.store.putRows;
      d["transactions"] = s.transactions;
      d["streamFailures"] = s.streamFailures;
      d["binlogBytes"] = s.binlogBytes;
      d["store"] = {{"type", v.config.durable ? "rocksdb" : "memory"},
                    {"batchMode", v.config.batchMode},
                    {"items", s.store.items},
                    {"bytes", s.store.bytes},
                    {"capacityItems", s.store.capacityItems},
                    {"capacityBytes", s.store.capacityBytes},
                    {"diskBytes", s.store.journalBytes},
                    {"putSequence", s.store.putSequence},
                    {"ackSequence", s.store.ackSequence}};
      Json clients = Json::array();
      for (const auto& c : s.clients) {
        Json cj = {{"clientId", c.clientId}, {"filter", c.filter}, {"unackedBatches", c.unackedBatches}};
        if (c.cursor) {
          cj["cursor"] = {{"journalName", c.cursor->journalName},
                          {"position", c.cursor->position},
                          {"timestamp", c.cursor->timestamp},
                          {"gtid", c.cursor->gtid}};
        } else {
          cj["cursor"] = nullptr;
        }
        clients.push_back(std::move(cj));
      }
      d["clients"] = std::move(clients);
      d["snapshot"] = v.snapshot ? Json::parse(v.snapshot->toJson()) : Json(nullptr);
      if (v.mq) {
        const mq::MqWorkerStats& m = *v.mq;
        d["mq"] = {{"broker", m.broker},
                   {"state", m.state},
                   {"batches", m.batches},
                   {"entries", m.entries},
                   {"lastBatchId", m.lastBatchId},
                   {"messages", m.publisher.messages},
                   {"bytes", m.publisher.bytes},
                   {"inFlight", m.publisher.inFlight},
                   {"deadLettered", m.publisher.deadLettered},
                   {"unroutable", m.publisher.unroutable},
                   {"transactions", m.publisher.transactions},
                   {"lastBatchLatencyUs", m.publisher.lastLatencyUs},
                   {"failures", m.failures},
                   {"lastError", m.lastError.empty() ? Json(nullptr) : Json(m.lastError)}};
      }
      if (!s.lastError.isOk()) {
        d["lastError"] = {{"message", s.lastError.toString()}, {"time", isoTime(s.lastErrorTimeMs)}};
      } else {
        d["lastError"] = nullptr;
      }
    }
    destinations.push_back(std::move(d));
  }
  Json out = {{"server",
               {{"address", server.address},
                {"version", CANAL_CPP_VERSION},
                {"mode", server.mode},
                {"zkServers", server.zkServers},
                {"started", isoTime(server.startedMs)},
                {"uptimeSeconds", server.startedMs > 0 ? (nowMs - server.startedMs) / 1000 : 0},
                {"sessions", server.sessions}}},
              {"time", isoTime(nowMs)},
              {"destinations", std::move(destinations)}};
  return out.dump(2) + "\n";
}

}  // namespace canal::app
