#pragma once

// What the operations endpoint serves: the Prometheus text (format 0.0.4) of /metrics — Canal's
// metric names and labels (docs/operations.md, "Metrics and status"), so existing dashboards work, then
// this server's own canal_destination_* / canal_client_* / process_* families — and the JSON
// of /status. Pure functions of a snapshot, so they are tested without a server.

#include <cstdint>
#include <string>
#include <vector>

#include "server/app/destination_manager.h"

namespace canal::app {

struct ServerFacts {
  std::string address;      // ip:port clients connect to
  std::string zkServers;    // empty without HA
  std::int64_t startedMs = 0;
  std::size_t sessions = 0;  // open client connections
  std::size_t receivingBytes = 0;           // of client frames being received
  std::uint64_t refusedConnections = 0;     // over canal.net.connections.max
  std::uint64_t overBudgetCloses = 0;       // connections closed over canal.net.receive.budget
  std::uint64_t unauthenticatedEvictions = 0;  // unauthenticated connections closed for a newcomer
  std::string mode;  // canal.serverMode: tcp, kafka, rocketmq, rabbitmq, pulsarmq
};

// How far the data of a destination is behind its primary, in ms: 0 while the stream has read
// everything the primary sent and has been waiting for more for at least 5 ms on a link that
// an event or heartbeat proved alive within two heartbeat periods; otherwise now minus the
// binlog time of the newest event read; -1 before the first event.
std::int64_t lagMs(const instance::DestinationStats& s, std::int64_t nowMs);

std::string renderMetrics(const ServerFacts& server, const std::vector<DestinationView>& destinations, std::int64_t nowMs);
std::string renderStatus(const ServerFacts& server, const std::vector<DestinationView>& destinations, std::int64_t nowMs);

}  // namespace canal::app
