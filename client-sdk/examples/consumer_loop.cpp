// The minimal consumer: take a batch without acking it, process it, ack it; on failure roll it
// back so the same entries come again.
//   consumer_loop HOST:PORT DESTINATION

#include <chrono>
#include <iostream>

#include "canal/client/canal_connector.h"
#include "canal/client/flat_message.h"

namespace {

// The application's work; false makes the batch come again.
bool process(const canal::client::Message& message) {
  // rowChanges() parses each entry's RowChange into one reused object: the fast way to read rows.
  auto changes = message.rowChanges();
  for (const auto& [entry, change] : changes) {
    for (const auto& row : change.rowdatas()) {
      const canal::client::RowView view(row, change.eventtype());
      std::cout << canal::protocol::entry::EventType_Name(change.eventtype()) << " "
                << entry.header().schemaname() << "." << entry.header().tablename();
      for (const auto& key : view.keyNames()) std::cout << " " << key << "=" << view.value(key).value_or("NULL");
      std::cout << "\n";
    }
  }
  if (!changes.ok()) std::cerr << changes.error() << "\n";
  return changes.ok();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::cerr << "usage: consumer_loop HOST:PORT DESTINATION\n";
    return 64;
  }
  auto connector = canal::client::newSingleConnector(argv[1], argv[2], "", "");
  if (auto s = connector->connect(); !s) {
    std::cerr << s.toString() << "\n";
    return 1;
  }
  if (auto s = connector->subscribe(); !s) {
    std::cerr << s.toString() << "\n";
    return 1;
  }
  for (;;) {
    auto message = connector->getWithoutAck(1000, std::chrono::milliseconds(1000));
    if (!message) {  // the connector already retried with backoff
      std::cerr << message.status().toString() << "\n";
      return 1;
    }
    if (message->empty()) continue;
    const auto s = process(*message) ? connector->ack(message->id()) : connector->rollback(message->id());
    if (!s) std::cerr << s.toString() << "\n";
  }
}
