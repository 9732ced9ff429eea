#include "cli/berth/progress.hpp"

#include <unistd.h>

#include "image/service.hpp"

namespace berth::cli {

ProgressPrinter::ProgressPrinter(std::FILE* out) : out_(out), tty_(::isatty(::fileno(out))) {}

ProgressPrinter::~ProgressPrinter() {
  std::lock_guard<std::mutex> lk(mu_);
  if (tty_) redraw(true);
}

std::string ProgressPrinter::line_of(const std::string& id) const {
  const image::ProgressEvent& e = last_.at(id);
  std::string line = id + ": " + e.status;
  if (e.done >= 0 && e.total > 0 && (e.status == "Downloading" || e.status == "Pushing")) {
    const int width = 40;
    int filled = static_cast<int>(width * e.done / e.total);
    if (filled > width) filled = width;
    line += " [" + std::string(filled, '=') + (filled < width ? ">" : "") +
            std::string(width - filled - (filled < width ? 1 : 0), ' ') + "] " +
            image::human_size(e.done) + "/" + image::human_size(e.total);
  }
  return line;
}

void ProgressPrinter::redraw(bool force) {
  auto now = std::chrono::steady_clock::now();
  if (!force && now - last_draw_ < std::chrono::milliseconds(100)) return;
  last_draw_ = now;
  if (drawn_) std::fprintf(out_, "\x1b[%zuA", drawn_);
  for (auto& id : order_) std::fprintf(out_, "\x1b[2K%s\n", line_of(id).c_str());
  drawn_ = order_.size();
  std::fflush(out_);
}

void ProgressPrinter::operator()(const image::ProgressEvent& e) {
  std::lock_guard<std::mutex> lk(mu_);
  if (e.id.empty()) {
    // Image-level messages go above (before) the live block, or after it once it is done.
    if (tty_ && drawn_) {
      redraw(true);
      drawn_ = 0;
      order_.clear();
      last_.clear();
    }
    std::fprintf(out_, "%s\n", e.status.c_str());
    std::fflush(out_);
    return;
  }
  auto it = last_.find(e.id);
  const bool changed = it == last_.end() || it->second.status != e.status;
  if (it == last_.end()) order_.push_back(e.id);
  last_[e.id] = e;
  if (tty_) {
    redraw(changed);
  } else if (changed) {
    std::fprintf(out_, "%s: %s\n", e.id.c_str(), e.status.c_str());
    std::fflush(out_);
  }
}

}  // namespace berth::cli
