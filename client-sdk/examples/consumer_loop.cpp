// The minimal consumer: take a batch without acking it, process it, ack it; on failure roll it
// back so the same entries come again.
//   consumer_loop HOST:PORT DESTINATION

#include <chrono>
#include <iostream>

#include "canal/client/canal_connector.h"

namespace {

namespace eb = canal::protocol::entry;

// The application's work; false makes the batch come again.
bool process(const canal::client::Message& message) {
  // rowChangeViews() reads each entry's RowChange in place into one reused reader: the fast way
  // to read rows (rowChanges() gives protobuf objects instead).
  auto changes = message.rowChangeViews();
  for (const auto& [entry, change] : changes) {
    if (change.isDdl()) continue;
    const auto type = static_cast<eb::EventType>(change.eventType());
    for (std::size_t r = 0; r < change.rows(); ++r) {
      std::cout << eb::EventType_Name(type) << " " << entry.header().schemaname() << "." << entry.header().tablename();
      for (const auto& column : type == eb::DELETE ? change.before(r) : change.after(r)) {
        if (column.isKey) std::cout << " " << column.name << "=" << (column.isNull ? "NULL" : column.value);
      }
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
