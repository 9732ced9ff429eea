// Minimal logging: text or runc-compatible JSON lines
// ({"level":"error","msg":"...","time":"..."}) to a file or stderr, or to a sink the program
// provides (a daemon's own log).
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace berth::log {

enum class Level { debug, info, warn, error };
enum class Format { text, json };

// Where log lines go: path empty = stderr only. `program` prefixes the plain lines on stderr
// ("berth-runtime: warning: …").
void init(std::string_view path, Format format, bool debug, std::string_view program);
// A daemon's way: every line from info up (debug too with debug on), timestamped, on stderr.
void init_stderr(Format format, bool debug, std::string_view program);
// Every line goes to `sink` instead (debug lines only with debug on); empty: back to the above.
// Set it before threads log.
using Sink = std::function<void(Level, std::string_view)>;
void set_sink(Sink sink, bool debug);
void write(Level level, std::string_view msg);
inline void debug(std::string_view m) { write(Level::debug, m); }
inline void info(std::string_view m) { write(Level::info, m); }
inline void warn(std::string_view m) { write(Level::warn, m); }
inline void error(std::string_view m) { write(Level::error, m); }
// While one lives, the warnings written on its thread are also kept in it (as well as
// logged): a daemon hands a request's warnings to its client (Docker's "Warnings").
class WarningCapture {
 public:
  WarningCapture();
  ~WarningCapture();
  WarningCapture(const WarningCapture&) = delete;
  WarningCapture& operator=(const WarningCapture&) = delete;
  const std::vector<std::string>& warnings() const { return warnings_; }
  void add(std::string_view w) { warnings_.emplace_back(w); }

 private:
  std::vector<std::string> warnings_;
  WarningCapture* outer_;
};

// Whether a log file is configured (errors then also go there, not only to stderr).
bool has_file();
// The log fd (or -1) so that child processes can keep writing after fork.
int file_fd();

}  // namespace berth::log
