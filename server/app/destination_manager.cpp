#include "server/app/destination_manager.h"

#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>

#include "server/app/destination_parts.h"
#include "server/app/canal_mq_publisher.h"
#include "server/common/logging.h"
#include "server/common/clock.h"
#include "server/ha/running_election.h"
#include "server/app/primary_check.h"
#include "server/convert/table_filter.h"
#include "server/meta/zookeeper_meta_store.h"
#include "server/snapshot/initial_snapshot.h"
#include "server/snapshot/snapshot_runner.h"

namespace canal::app {
namespace {

namespace fs = std::filesystem;

// "host:port" as connection options.
bool parseAddress(const std::string& address, mysql::ConnectOptions& out) {
  const auto colon = address.rfind(':');
  if (address.empty()) return false;
  out.host = colon == std::string::npos ? address : address.substr(0, colon);
  out.port = colon == std::string::npos ? 3306 : std::atoi(address.c_str() + colon + 1);
  return out.port > 0;
}

// Canal's replica server_id when canal.instance.mysql.slaveId is not set: the destination
// name's Java hashCode (7 bits) over the last three bytes of this host's IPv4 address, so
// destinations on one primary, and servers of one cluster, do not share an id.
std::uint32_t autoSlaveId(const std::string& destination) {
  std::int32_t hash = 0;  // Java String.hashCode over UTF-16 code units; names are ASCII
  for (unsigned char c : destination) hash = static_cast<std::int32_t>(31u * static_cast<std::uint32_t>(hash) + c);
  const auto ip = hostIpv4();
  return ((static_cast<std::uint32_t>(hash) & 0x7f) << 24) + (std::uint32_t{ip[1]} << 16) + (std::uint32_t{ip[2]} << 8) + ip[3];
}

instance::DestinationOptions destinationOptions(const InstanceConfig& c) {
  instance::DestinationOptions o;
  o.name = c.destination;
  parseAddress(c.master.address, o.master);
  o.master.user = c.dbUsername;
  o.master.password = c.dbPassword;
  o.master.database = c.defaultDatabaseName;
  if (!c.standby.address.empty()) {
    mysql::ConnectOptions standby = o.master;
    if (parseAddress(c.standby.address, standby)) o.standby = standby;
  }
  o.dump.slaveId = c.slaveId > 0 ? static_cast<std::uint32_t>(c.slaveId) : autoSlaveId(c.destination);
  o.start.journalName = c.master.journalName;
  if (c.master.position) o.start.position = static_cast<std::uint64_t>(*c.master.position);
  o.start.timestampMs = c.master.timestampMs;
  o.start.gtid = c.master.gtid;
  o.start.gtidMode = c.gtidOn;
  if (c.detectingEnable && c.heartbeatHaEnable) {
    o.detecting = replica::DetectingOptions{c.detectingSql, std::chrono::seconds(c.detectingIntervalSeconds),
                                            c.detectingRetryThreshold};
  }
  o.reconnect.failoverAfter = std::max(1, c.detectingRetryThreshold);
  o.reconnect.fallbackInterval = std::chrono::seconds(c.fallbackIntervalSeconds);
  o.store.bufferSize = static_cast<std::size_t>(c.bufferSize);
  o.store.memUnit = static_cast<std::size_t>(c.bufferMemUnit);
  o.store.mode = c.batchMode == BatchMode::kItemSize ? store::BatchMode::kItemSize : store::BatchMode::kMemSize;
  o.store.ddlIsolation = c.getDdlIsolation;
  o.pump.filterDmlInsert = c.filterDmlInsert;
  o.pump.filterDmlUpdate = c.filterDmlUpdate;
  o.pump.filterDmlDelete = c.filterDmlDelete;
  o.pump.filterQueryDdl = c.filterQueryDdl;
  o.pump.filterQueryDml = c.filterQueryDml;
  o.pump.filterQueryDcl = c.filterQueryDcl;
  o.pump.filterRows = c.filterRows;
  o.pump.filterTableError = c.filterTableError;
  o.pump.filterTransactionEntry = c.filterTransactionEntry;
  o.pump.retryInterval = std::chrono::milliseconds(c.streamRetryIntervalMs);
  o.tableFilter.regex = c.filterRegex;
  o.tableFilter.blackRegex = c.filterBlackRegex;
  o.tableFilter.field = c.filterField;
  o.tableFilter.blackField = c.filterBlackField;
  o.pump.render.decimal = c.renderExactDecimal ? binlog::DecimalStyle::kExact : binlog::DecimalStyle::kCanal;
  o.pump.render.convertColumnCharset = c.renderColumnCharset;
  o.initialSnapshot = c.snapshotMode != SnapshotMode::kNever;
  o.pump.snapshotOnly = c.snapshotMode == SnapshotMode::kInitialOnly;
  o.snapshotTables = c.snapshotTables;
  o.snapshotChunkSize = static_cast<std::size_t>(c.snapshotChunkSize);
  o.snapshotRowsPerSecond = static_cast<std::uint64_t>(c.snapshotRowsPerSecond);
  o.snapshotWatermarkTable = c.snapshotWatermarkTable;
  return o;
}

Result<std::string> readFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::ioError("cannot read", path.string());
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

std::array<std::uint8_t, 4> hostIpv4() {
  std::array<std::uint8_t, 4> ip = {127, 0, 0, 1};
  char host[256] = {};
  addrinfo hints{};
  hints.ai_family = AF_INET;
  addrinfo* found = nullptr;
  if (::gethostname(host, sizeof host - 1) == 0 && ::getaddrinfo(host, nullptr, &hints, &found) == 0) {
    for (addrinfo* a = found; a; a = a->ai_next) {
      const auto* in = reinterpret_cast<const sockaddr_in*>(a->ai_addr);
      std::memcpy(ip.data(), &in->sin_addr, 4);
      if (ip[0] != 127) break;
    }
    ::freeaddrinfo(found);
  }
  return ip;
}

Result<DestinationConfig> loadDestination(const ServerContext& context, const std::string& name, Warnings* warnings) {
  auto text = readFile(context.confDir / name / "instance.properties");
  if (!text) return text.status();
  return loadDestination(context, name, std::move(*text), warnings);
}

Result<DestinationConfig> loadDestination(const ServerContext& context, const std::string& name, std::string text,
                                          Warnings* warnings) {
  const fs::path instancePath = context.confDir / name / "instance.properties";
  auto instanceFile = PropertiesFile::parse(text, instancePath.string());
  if (!instanceFile) return instanceFile.status();
  auto instance = loadInstanceConfig(name, context.server, context.canalFile, *instanceFile, warnings);
  if (!instance) return instance.status();
  const auto mode = instance->mode;
  if (mode == InstanceMode::kDefault && !context.ha) {
    return Status::invalidArgument("default-instance.xml keeps positions in ZooKeeper; set canal.zkServers");
  }
  auto options = destinationOptions(*instance);
  auto zone = convert::TimeZone::parse(instance->renderTimeZone);
  if (!zone) return zone.status().withContext("canal.instance.render.timezone");
  options.pump.render.timeZone = *zone;
  // Filters are checked now, whatever the mode; stores and meta are opened when the
  // destination becomes active on this server.
  if (auto checked = convert::TableFilter::create(options.tableFilter); !checked) return checked.status();

  DestinationConfig config;
  config.name = name;
  config.fingerprint = std::move(text);
  config.checkPrimaries = [options, file = instancePath.string()] { return app::checkPrimaries(options, file); };
  config.mode = mode;
  config.durable = instance->storeType == StoreType::kRocksDb ||
                   (instance->storeType == StoreType::kByMode && mode != InstanceMode::kMemory);
  config.batchMode = instance->batchMode == BatchMode::kItemSize ? "ITEMSIZE" : "MEMSIZE";
  config.bufferSize = instance->bufferSize;
  const fs::path dir = context.dataDir / name;
  if (config.durable) options.storeDir = (dir / "store").string();
  if (mode != InstanceMode::kMemory) options.schemaHistoryPath = (dir / "schema.history").string();
  const auto filePeriod = std::chrono::milliseconds(context.server.fileFlushPeriodMs);
  const auto zkPeriod = std::chrono::milliseconds(context.server.zkFlushPeriodMs);
  config.make = [options, mode, dir, name, filePeriod, zkPeriod](const std::shared_ptr<ZooKeeperSession>& session)
      -> Result<std::unique_ptr<instance::Destination>> {
    std::unique_ptr<meta::MetaStore> meta;
    if (mode != InstanceMode::kMemory) {
      std::error_code ec;
      fs::create_directories(dir, ec);
      if (ec) return Status::ioError("cannot create the data directory: " + ec.message(), dir.string());
    }
    if (mode == InstanceMode::kFile) {
      meta = std::make_unique<meta::FileMetaStore>(name, (dir / "meta.dat").string(), filePeriod);
    } else if (mode == InstanceMode::kDefault) {
      meta = std::make_unique<meta::ZooKeeperMetaStore>(name, session, zkPeriod);
    }
    return makeDestination(options, std::move(meta));
  };
  if (context.server.serverMode != ServerMode::kTcp) {
    CANAL_RETURN_IF_ERROR(CanalMqPublisher::check(context.server, *instance, warnings));
    mq::MqWorkerOptions workerOptions;
    workerOptions.destination = name;
    workerOptions.batchSize = context.server.mqCanalBatchSize;
    workerOptions.getTimeout = std::chrono::milliseconds(context.server.mqCanalGetTimeoutMs);
    config.publish = [server = context.server, instance = *instance,
                      workerOptions](std::shared_ptr<instance::ClientSessions> sessions)
        -> Result<std::unique_ptr<mq::MqWorker>> {
      auto publisher = CanalMqPublisher::create(server, instance);
      if (!publisher) return publisher.status();
      return std::make_unique<mq::MqWorker>(std::move(sessions), std::move(*publisher), workerOptions);
    };
  }
  return config;
}

std::vector<std::string> destinationsInConf(const ServerContext& context, const std::vector<std::string>& configured) {
  std::set<std::string> names(configured.begin(), configured.end());
  std::error_code ec;
  if (context.server.autoScan) {
    for (const auto& entry : fs::directory_iterator(context.confDir, ec)) {
      const std::string name = entry.path().filename().string();
      if (name == "spring" || !entry.is_directory(ec)) continue;
      if (fs::is_regular_file(entry.path() / "instance.properties", ec)) names.insert(name);
    }
  }
  return {names.begin(), names.end()};
}

// One destination on this server: created and started when it becomes active here (at once, or
// when the running election picks this server), stopped and dropped when released.
class DestinationManager::Runner {
 public:
  Runner(DestinationConfig::Make make, DestinationConfig::Publish publish, std::string name)
      : make_(std::move(make)), publish_(std::move(publish)), name_(std::move(name)) {}

  Status activate(const std::shared_ptr<ZooKeeperSession>& session) {
    DestinationLogScope scope(name_);
    auto made = make_(session);
    if (!made) return made.status();
    std::shared_ptr<instance::Destination> d = std::move(*made);
    d->start();
    const instance::DestinationOptions& o = d->options();
    // The runner keeps the destination (its gate) alive while an HTTP request still holds it.
    auto snapshots = std::make_shared<snapshot::SnapshotRunner>(name_, o.master, d->snapshots(), o.pump.render,
                                                                o.snapshotWatermarkTable, d);
    if (const Status s = snapshot::startSnapshotsOfStart(*d, *snapshots); !s.isOk()) {
      d->stop();
      return s;
    }
    std::unique_ptr<mq::MqWorker> worker;
    if (publish_) {
      auto made = publish_(instance::sessionsOf(d));
      Status started = made ? (*made)->start() : made.status();
      if (!started.isOk()) {
        snapshots->cancel();
        d->stop();
        return started.withContext("MQ mode (canal.serverMode)");
      }
      worker = std::move(*made);
    }
    std::lock_guard<std::mutex> lock(mutex_);
    current_ = std::move(d);
    snapshots_ = std::move(snapshots);
    worker_ = std::move(worker);
    return Status::ok();
  }
  void release() {
    DestinationLogScope scope(name_);
    std::shared_ptr<instance::Destination> d;
    std::shared_ptr<snapshot::SnapshotRunner> snapshots;
    std::shared_ptr<mq::MqWorker> worker;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      d.swap(current_);
      snapshots.swap(snapshots_);
      worker.swap(worker_);
    }
    // Publishing stops first: the batch in hand is confirmed or left unacked, never half-acked.
    if (worker) worker->stop();
    worker.reset();
    // The destination stops first: a snapshot in flight ends without clearing its progress, so a
    // restart goes on with it.
    if (d) d->stop();
    if (snapshots) snapshots->cancel();
    snapshots.reset();  // joins its thread
  }
  std::shared_ptr<instance::Destination> current() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return current_;
  }
  // The snapshots of the running destination (null when it does not run here).
  std::shared_ptr<snapshot::SnapshotRunner> snapshots() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return snapshots_;
  }
  std::optional<mq::MqWorkerStats> mqStats() const {
    std::shared_ptr<mq::MqWorker> worker;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      worker = worker_;
    }
    if (!worker) return std::nullopt;
    return worker->stats();
  }

 private:
  const DestinationConfig::Make make_;
  const DestinationConfig::Publish publish_;
  const std::string name_;
  mutable std::mutex mutex_;
  std::shared_ptr<instance::Destination> current_;
  std::shared_ptr<snapshot::SnapshotRunner> snapshots_;
  std::shared_ptr<mq::MqWorker> worker_;  // shared: /status reads it while release() stops it
};

DestinationManager::DestinationManager(ServerContext context, ha::RunningElection* election)
    : context_(std::move(context)), election_(election) {}

DestinationManager::~DestinationManager() { stopAll(); }

Status DestinationManager::add(DestinationConfig config) {
  auto runner = std::make_shared<Runner>(config.make, config.publish, config.name);
  const std::string name = config.name;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    Entry& e = entries_[name];
    e = Entry{std::move(config), runner, {}, 0, {}, wallClockMs()};
  }
  if (election_) {
    election_->add(ha::ElectionMember{name, [runner](const auto& session) { return runner->activate(session); },
                                      [runner] { runner->release(); }});
    return Status::ok();
  }
  const Status s = runner->activate(nullptr);
  if (!s.isOk()) {
    std::lock_guard<std::mutex> lock(mutex_);
    entries_.erase(name);
  }
  return s;
}

void DestinationManager::remove(const std::string& name) {
  std::shared_ptr<Runner> runner;
  {
    // Gone from lookups and /status first, so that no one sees it after its running node went.
    std::lock_guard<std::mutex> lock(mutex_);
    const auto it = entries_.find(name);
    if (it == entries_.end()) return;
    runner = it->second.runner;
    entries_.erase(it);
  }
  if (!runner) return;
  if (election_) election_->remove(name);
  runner->release();
}

Status DestinationManager::start(std::vector<DestinationConfig> configs) {
  for (DestinationConfig& c : configs) {
    const std::string name = c.name;
    if (const Status s = add(std::move(c)); !s.isOk()) return s.withContext("destination " + name);
  }
  return Status::ok();
}

std::vector<std::string> DestinationManager::scan() {
  auto log = moduleLogger("app");
  std::vector<std::string> changes;
  const auto note = [&](std::string line, bool error = false) {
    if (error) {
      log->error("{}", line);
    } else {
      log->info("{}", line);
    }
    changes.push_back(std::move(line));
  };
  auto configured = destinationNames(context_.server);
  const auto names = destinationsInConf(context_, configured ? *configured : std::vector<std::string>{});
  std::vector<std::string> known;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    for (const auto& [name, e] : entries_) known.push_back(name);
  }
  for (const std::string& name : known) {
    if (!std::binary_search(names.begin(), names.end(), name) ||
        !fs::exists(context_.confDir / name / "instance.properties")) {
      remove(name);
      note("destination " + name + ": its instance.properties is gone; stopped");
    }
  }
  for (const std::string& name : names) {
    auto text = readFile(context_.confDir / name / "instance.properties");
    const std::string content = text ? *text : std::string();
    bool present = false;
    bool hadRunner = false;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (const auto it = entries_.find(name); it != entries_.end()) {
        Entry& e = it->second;
        present = true;
        hadRunner = e.runner != nullptr;
        if (content == e.rejectedFingerprint) continue;  // already reported
        if (content == e.config.fingerprint) {           // back to the version in place
          e.configError = Status::ok();
          e.rejectedFingerprint.clear();
          continue;
        }
      }
    }
    Warnings warnings;
    auto config = text ? loadDestination(context_, name, content, &warnings) : Result<DestinationConfig>(text.status());
    for (const auto& w : warnings) log->warn("{}", w);
    if (!config) {
      // Reported once per content; a running version goes on.
      std::lock_guard<std::mutex> lock(mutex_);
      Entry& e = entries_[name];
      e.rejectedFingerprint = content;
      e.configError = config.status();
      e.configErrorTimeMs = wallClockMs();
      if (!hadRunner) e.config.name = name;
      changes.push_back("destination " + name + ": " + config.status().toString() +
                        (hadRunner ? "; the running version goes on" : "; not started"));
      log->error("{}", changes.back());
      continue;
    }
    if (hadRunner) {
      remove(name);
      const Status s = add(std::move(*config));
      note("destination " + name + ": instance.properties changed; restarted" +
               (s.isOk() ? std::string() : " but it failed: " + s.toString()),
           !s.isOk());
      continue;
    }
    if (present) {
      std::lock_guard<std::mutex> lock(mutex_);
      entries_.erase(name);  // only a rejected file was known
    }
    const Status s = add(std::move(*config));
    note("destination " + name + (s.isOk() ? ": added; started" : ": added but it failed: " + s.toString()), !s.isOk());
  }
  return changes;
}

void DestinationManager::stopAll() {
  std::vector<std::string> names;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    for (const auto& [name, e] : entries_) names.push_back(name);
  }
  for (const auto& name : names) remove(name);
}

std::shared_ptr<DestinationManager::Runner> DestinationManager::runnerOf(const std::string& name) const {
  std::lock_guard<std::mutex> lock(mutex_);
  const auto it = entries_.find(name);
  return it == entries_.end() ? nullptr : it->second.runner;
}

std::shared_ptr<instance::ClientSessions> DestinationManager::lookup(const std::string& name) const {
  const auto runner = runnerOf(name);
  return runner ? instance::sessionsOf(runner->current()) : nullptr;
}

std::shared_ptr<instance::Destination> DestinationManager::running(const std::string& name) const {
  const auto runner = runnerOf(name);
  return runner ? runner->current() : nullptr;
}

std::shared_ptr<snapshot::SnapshotRunner> DestinationManager::snapshots(const std::string& name) const {
  const auto runner = runnerOf(name);
  return runner ? runner->snapshots() : nullptr;
}

std::vector<DestinationView> DestinationManager::views() const {
  std::vector<std::pair<DestinationView, std::shared_ptr<Runner>>> found;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    for (const auto& [name, e] : entries_) {
      DestinationView v;
      v.name = name;
      v.config = e.config;
      v.config.make = nullptr;
      v.config.publish = nullptr;
      v.configError = e.configError;
      v.configErrorTimeMs = e.configErrorTimeMs;
      v.startedMs = e.startedMs;
      found.emplace_back(std::move(v), e.runner);
    }
  }
  std::vector<DestinationView> out;
  for (auto& [v, runner] : found) {
    if (runner) {
      if (auto d = runner->current()) {
        v.active = true;
        v.stats = d->stats();
        if (auto snapshots = runner->snapshots()) v.snapshot = snapshots->progress();
        v.mq = runner->mqStats();
      }
    }
    out.push_back(std::move(v));
  }
  return out;
}

}  // namespace canal::app
