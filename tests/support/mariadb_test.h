#pragma once

// A test fixture owning a MariaDB primary started for the test (see mariadb_server.h). Derived
// fixtures call MariaDbTest::SetUp() first and return when it failed.

#include <gtest/gtest.h>

#include <memory>

#include "server/mysql/mysql_connection.h"
#include "tests/support/mariadb_server.h"

namespace canal::testing {

class MariaDbTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto started = MariaDbServer::start(mariaDbOptions());
    ASSERT_TRUE(started.isOk()) << started.status().toString();
    db_ = std::move(*started);
  }
  virtual MariaDbOptions mariaDbOptions() const { return {}; }
  // How a replica (a destination) logs in to this primary.
  mysql::ConnectOptions replicaLogin() const {
    mysql::ConnectOptions o;
    o.host = db_->host();
    o.port = db_->port();
    o.user = db_->options().replicaUser;
    o.password = db_->options().replicaPassword;
    return o;
  }

  std::unique_ptr<MariaDbServer> db_;
};

}  // namespace canal::testing
