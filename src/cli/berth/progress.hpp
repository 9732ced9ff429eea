// Pull/push progress: live per-layer lines with bars on a terminal, plain lines otherwise.
#pragma once

#include <chrono>
#include <cstdio>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "image/service.hpp"

namespace berth::cli {

class ProgressPrinter {
 public:
  explicit ProgressPrinter(std::FILE* out);
  ~ProgressPrinter();
  void operator()(const image::ProgressEvent& e);
  image::ProgressFn fn() {
    return [this](const image::ProgressEvent& e) { (*this)(e); };
  }

 private:
  void redraw(bool force);
  std::string line_of(const std::string& id) const;

  std::FILE* out_;
  bool tty_;
  std::mutex mu_;
  std::vector<std::string> order_;  // layer ids in the order they appeared
  std::map<std::string, image::ProgressEvent> last_;
  size_t drawn_ = 0;  // lines of the live block on screen
  std::chrono::steady_clock::time_point last_draw_{};
};

}  // namespace berth::cli
