#pragma once

// A directory under $TMPDIR (or /tmp) removed with everything in it on destruction.

#include <filesystem>
#include <string>

namespace canal::testing {

class TempDir {
 public:
  explicit TempDir(const std::string& prefix = "canal-test");
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& path() const { return path_; }
  // Keeps the directory after destruction (to inspect a failed test's files).
  void keep() { keep_ = true; }

 private:
  std::filesystem::path path_;
  bool keep_ = false;
};

}  // namespace canal::testing
