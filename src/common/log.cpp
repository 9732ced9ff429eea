#include "common/log.hpp"

#include <fcntl.h>
#include <sys/time.h>
#include <unistd.h>

#include <cstdio>
#include <ctime>
#include <nlohmann/json.hpp>
#include <string>

namespace berth::log {
namespace {
int g_fd = -1;
bool g_fd_is_stderr = false;  // g_fd is stderr: no plain second copy of errors
Format g_format = Format::text;
bool g_debug = false;
std::string g_program = "berth";
Sink g_sink;

const char* name(Level l) {
  switch (l) {
    case Level::debug: return "debug";
    case Level::info: return "info";
    case Level::warn: return "warning";
    case Level::error: return "error";
  }
  return "info";
}

std::string now_rfc3339() {
  struct timeval tv;
  ::gettimeofday(&tv, nullptr);
  struct tm tm;
  ::gmtime_r(&tv.tv_sec, &tm);
  char buf[64];
  size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  std::snprintf(buf + n, sizeof buf - n, ".%06ldZ", static_cast<long>(tv.tv_usec));
  return buf;
}
}  // namespace

void set_sink(Sink sink, bool debug) {
  g_sink = std::move(sink);
  g_debug = debug;
}

void init(std::string_view path, Format format, bool debug, std::string_view program) {
  g_format = format;
  g_debug = debug;
  g_program = program;
  if (!path.empty()) {
    std::string p(path);
    g_fd = ::open(p.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  }
}

void init_stderr(Format format, bool debug, std::string_view program) {
  init("", format, debug, program);
  g_fd = 2;
  g_fd_is_stderr = true;
}

bool has_file() { return g_fd >= 0; }
int file_fd() { return g_fd; }

namespace {
thread_local WarningCapture* t_capture = nullptr;
}  // namespace

WarningCapture::WarningCapture() : outer_(t_capture) { t_capture = this; }
WarningCapture::~WarningCapture() { t_capture = outer_; }

void write(Level level, std::string_view msg) {
  if (level == Level::warn && t_capture) t_capture->add(msg);
  if (level == Level::debug && !g_debug) return;
  if (g_sink) return g_sink(level, msg);
  std::string line;
  if (g_format == Format::json) {
    nlohmann::json j = {{"level", name(level)}, {"msg", msg}, {"time", now_rfc3339()}};
    line = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  } else {
    line = now_rfc3339() + " " + name(level) + ": " + std::string(msg) + "\n";
  }
  if (g_fd >= 0) {
    [[maybe_unused]] auto r = ::write(g_fd, line.data(), line.size());
  }
  // Errors always reach stderr as one plain line, so a person sees them too.
  if (level == Level::error && !g_fd_is_stderr) {
    std::string plain = g_program + ": " + std::string(msg) + "\n";
    [[maybe_unused]] auto r = ::write(2, plain.data(), plain.size());
  } else if (g_fd < 0 && level == Level::warn) {
    // Like runc without --log: warnings reach the person on stderr.
    std::string plain = g_program + ": warning: " + std::string(msg) + "\n";
    [[maybe_unused]] auto r = ::write(2, plain.data(), plain.size());
  } else if (g_fd < 0 && g_debug) {
    [[maybe_unused]] auto r = ::write(2, line.data(), line.size());
  }
}

}  // namespace berth::log
