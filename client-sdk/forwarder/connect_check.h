#pragma once

// canal-forwarder --check --connect: everything the configuration names, reached as the
// forwarder will reach it: canal-server (address or ZooKeeper, the login), each sink (the
// Elasticsearch cluster, Kafka's brokers, Redis with its login, RabbitMQ with its exchange and
// queue), the source database of documents with every mapped table and join column (and a table
// for each of the mappings' expressions, when documents name that database), the files
// of new indices, and the reindex's destination on canal-server's HTTP port. Each problem names
// the key that leads to it.
// Thread contract: a function without state.

#include <string>
#include <vector>

#include "forwarder/forwarder_config.h"

namespace canal::forwarder {

std::vector<std::string> checkConnections(const ForwarderConfig& config);

}  // namespace canal::forwarder
