#pragma once

// Canal's protocol on one client connection: the handshake and authentication, then SUBSCRIPTION,
// UNSUBSCRIPTION, GET (waiting without a thread), CLIENTACK (written on the destination's lane,
// acks that arrive meanwhile together) and CLIENTROLLBACK, answered as Canal answers them, in
// order. The bytes in and out are the Connection's. Thread contract: on the connection's strand.

#include <memory>

#include "server/net/connection.h"

namespace canal::net {

// A new client connection speaking Canal's protocol (not started).
std::shared_ptr<Connection> makeCanalSession(ServerCore& server, tcp::socket socket);

}  // namespace canal::net
