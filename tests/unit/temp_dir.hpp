// A directory under /tmp for one test, removed with everything in it when the test is done.
#pragma once

#include <stdlib.h>

#include <stdexcept>
#include <string>

#include "common/fs.hpp"

namespace berth::test {

class TempDir {
 public:
  explicit TempDir(const char* tag = "berth-test") {
    std::string tmpl = std::string("/tmp/") + tag + "-XXXXXX";
    if (!::mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp " + tmpl);
    path_ = tmpl;
  }
  ~TempDir() {
    try {
      fs::remove_all(path_);
    } catch (...) {
    }
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string operator/(const std::string& rel) const { return path_ + "/" + rel; }

 private:
  std::string path_;
};

}  // namespace berth::test
