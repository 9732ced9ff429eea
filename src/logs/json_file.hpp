// The json-file log of a container (Docker's format): one object per line,
//   {"log":"hello\n","stream":"stdout","time":"2026-12-03T10:00:00.123456789Z"}
// lines longer than 16 KiB split into several records, rotation by size into PATH.1 … PATH.N-1
// (PATH.1 the newest of the old ones). The shim writes it (Writer); the engine reads it
// (read_log, Follower).
// The same Writer writes the kubelet's CRI format instead (containerd's and CRI-O's, Podman's
// k8s-file), one line per record:
//   2026-12-03T10:00:00.123456789Z stdout F hello
// F: the record ends a line (its newline not written), P: a part of a longer line (or the
// output's end without a newline). The readers take both formats, line by line.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace berth::logs {

enum class Format { json_file, cri };

// Where the shim sends the container's output: a log file (Writer) or a syslog (syslog.hpp).
class Output {
 public:
  virtual ~Output() = default;
  // Output of `stream` ("stdout", "stderr"): whole lines are written, the rest waits in
  // `pending` (one per stream, held by the caller) for more or for flush(); a line longer
  // than kMaxLine goes in parts.
  void add(const char* stream, const char* data, size_t n, std::string& pending);
  // Writes `pending` as a record, even without its newline (the stream ended).
  virtual void flush(const char* stream, std::string& pending) = 0;
  // Opens the path again (the kubelet renamed the file to rotate it: ReopenContainerLog).
  virtual void reopen() {}
};
inline constexpr size_t kMaxLine = 16 * 1024;  // Docker splits longer lines into several records

inline void Output::add(const char* stream, const char* data, size_t n, std::string& pending) {
  for (size_t i = 0; i < n; ++i) {
    pending.push_back(data[i]);
    if (data[i] == '\n' || pending.size() >= kMaxLine) flush(stream, pending);
  }
}

class Writer : public Output {
 public:
  // max_size 0: no rotation; max_files: the live file and max_files - 1 rotated ones (1:
  // the file is truncated instead). `attrs`: json-file's extra attributes of every record
  // (Docker's --log-opt labels/env/tag: "attrs":{…} between stream and time).
  // `compress`: each rotated file becomes PATH.N.gz (Docker's --log-opt compress), gzipped by
  // a thread of the writer so that the output keeps flowing meanwhile.
  Writer(std::string path, int64_t max_size, int max_files, Format format = Format::json_file,
         const std::map<std::string, std::string>& attrs = {}, bool compress = false);
  ~Writer();
  Writer(const Writer&) = delete;
  Writer& operator=(const Writer&) = delete;

  void flush(const char* stream, std::string& pending) override;
  void reopen() override;

 private:
  void open_file();
  void rotate();
  std::string path_;
  int64_t max_size_;
  int max_files_;
  Format format_;
  std::string attrs_;  // ,"attrs":{…} (json-file), or empty
  bool compress_;
  std::thread gzip_;   // compressing PATH.1 (joined before the next rotation and at the end)
  int fd_ = -1;
  int64_t size_ = 0;
  bool warned_ = false;
};

struct Entry {
  std::string log, stream, time;  // time as written (RFC 3339, ns)
  std::vector<std::pair<std::string, std::string>> attrs;  // json-file's "attrs", if any
  int64_t nanos() const;          // unix ns of `time`, 0 if unparsable
  // What `logs` prints of it (Docker's daemon's order): with `details`, the record's extra
  // attributes (k=v,… sorted by key, each query-escaped) and a space before the line; with
  // `timestamps`, its time and a space before that.
  std::string text(bool timestamps, bool details) const;
};

// One line of the file (without its newline); false for a line that is not a record.
bool parse_line(std::string_view line, Entry& out);

// The files of a log, oldest first: PATH.N-1 … PATH.1, PATH (only those that exist, PATH
// always last). A rotated file is PATH.N or, compressed, PATH.N.gz (PATH.N while both are
// there: the compression is not finished).
std::vector<std::string> files(const std::string& path);

// gzips `from` into `to` (through a temporary name beside it), then removes `from`; false and
// `from` kept on an error.
bool gzip_file(const std::string& from, const std::string& to);

// Returns false to stop reading.
using Sink = std::function<bool(const Entry&)>;
// The same for the raw lines of any line-based file (without their newline).
using LineSink = std::function<bool(std::string_view)>;

struct ReadOptions {
  long tail = -1;      // the last N records only (-1: all)
  int64_t since = 0;   // unix ns; 0: no bound
  int64_t until = 0;   // unix ns; 0: no bound (Docker's: to the nanosecond, not the second)
};

// Follows a log from a point in it: what is appended from there, across rotations. Made
// before the existing records are read, it fixes where they end, so that a record written
// meanwhile is seen once — by the follower, not by both.
class Follower {
 public:
  explicit Follower(std::string path);
  ~Follower();
  Follower(const Follower&) = delete;
  Follower& operator=(const Follower&) = delete;

  // The records written before this follower was made, as `o` selects them, oldest first.
  // --tail alone reads from the end: it costs what it returns, not the size of the log.
  // False if the sink asked to stop.
  bool read_existing(const ReadOptions& o, const Sink& sink) const;
  // Every line written before this follower was made, oldest first (any line-based file
  // rotated the same way, such as the events log).
  bool read_existing_lines(const LineSink& sink) const;
  // An inotify fd that is readable when the log has changed (written or rotated); -1 when
  // inotify is not available (then call drain() from time to time).
  int fd() const { return inotify_; }
  // Hands `sink` the complete records appended since the last call; clears fd()'s events.
  // False if the sink asked to stop.
  bool drain(const Sink& sink);
  bool drain_lines(const LineSink& sink);

 private:
  std::string path_;
  int inotify_ = -1;
  int cur_ = -1;  // the file followed, held open: a rotation renames it, a compression removes it
  ino_t ino_ = 0;
  int64_t offset_ = 0;
  std::string partial_;
};

}  // namespace berth::logs
