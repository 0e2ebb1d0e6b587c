#include "server/common/thread_name.h"

#include <gtest/gtest.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <fstream>
#include <string>
#include <thread>

namespace canal {
namespace {

std::string nameOf(long tid) {
  std::ifstream comm("/proc/self/task/" + std::to_string(tid) + "/comm");
  std::string name;
  std::getline(comm, name);
  return name;
}

TEST(ThreadName, ANameLongerThanLinuxKeepsIsCutNotRefused) {
  std::string shortName;
  std::string longName;
  std::thread([&] {
    const long tid = syscall(SYS_gettid);
    nameThisThread("stream:example");
    shortName = nameOf(tid);
    nameThisThread("stream:a-destination-with-a-long-name");
    longName = nameOf(tid);
  }).join();
  EXPECT_EQ(shortName, "stream:example");
  EXPECT_EQ(longName, "stream:a-destin");
}

}  // namespace
}  // namespace canal
