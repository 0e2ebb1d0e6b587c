// Uses the installed SDK: a connector to a port where nothing listens must fail with a
// network error, and the Entry protos must be usable.
#include <canal/client/canal_connector.h>
#include <canal/client/flat_message.h>

#include <iostream>

int main(int argc, char** argv) {
  const std::string address = argc > 1 ? argv[1] : "127.0.0.1:1";
  canal::client::ConnectorOptions options;
  options.retries = 0;
  options.connectTimeout = std::chrono::milliseconds(2000);
  auto connector = canal::client::newSingleConnector(address, "example", "", "", options);
  const canal::client::Status s = connector->connect();
  canal::client::Entry entry;
  entry.mutable_header()->set_logfilename("mysql-bin.000001");
  std::cout << "connect: " << s.toString() << "; entry bytes: " << entry.ByteSizeLong() << "\n";
  return s.code() == canal::client::Status::kNetwork ? 0 : 1;
}
