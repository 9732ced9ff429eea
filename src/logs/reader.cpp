#include <fcntl.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <deque>
#include <nlohmann/json.hpp>
#include <zlib.h>

#include "common/fd.hpp"
#include "common/fs.hpp"
#include "logs/json_file.hpp"

namespace berth::logs {

namespace {

// Reads [from, to) of fd in blocks, handing each piece to `take`; false if `take` said stop.
template <class F>
bool read_range(int fd, int64_t from, int64_t to, F&& take) {
  std::string buf(65536, '\0');
  while (from < to) {
    const size_t want = static_cast<size_t>(std::min<int64_t>(to - from, static_cast<int64_t>(buf.size())));
    ssize_t n = ::pread(fd, buf.data(), want, from);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    from += n;
    if (!take(std::string_view(buf.data(), static_cast<size_t>(n)))) return false;
  }
  return true;
}

bool is_gz(const std::string& file) { return file.size() > 3 && file.compare(file.size() - 3, 3, ".gz") == 0; }

// A compressed rotated file, decompressed piece by piece into `take`; false if `take` said
// stop. A damaged file ends where it can no longer be read.
template <class F>
bool read_gz(int fd, F&& take) {
  const int dup = ::fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (dup < 0) return true;
  gzFile gz = ::gzdopen(dup, "rb");
  if (!gz) {
    ::close(dup);
    return true;
  }
  std::string buf(65536, '\0');
  bool go = true;
  for (int n; go && (n = ::gzread(gz, buf.data(), static_cast<unsigned>(buf.size()))) > 0;)
    go = take(std::string_view(buf.data(), static_cast<size_t>(n)));
  ::gzclose(gz);
  return go;
}

// The last n lines of the files (oldest first), read from the end; the newest file only up
// to `limit`. A line still being written (no newline yet) is left out.
std::vector<std::string> last_lines(const std::vector<std::string>& files, size_t n, int64_t limit) {
  std::vector<std::string> rev;  // newest first
  for (auto f = files.rbegin(); f != files.rend() && rev.size() < n; ++f) {
    UniqueFd fd(::open(f->c_str(), O_RDONLY | O_CLOEXEC));
    struct stat st;
    if (!fd || ::fstat(fd.get(), &st) < 0) continue;
    if (is_gz(*f)) {
      // Compressed: read whole (a rotated file is at most max-size), its lines from the end.
      std::string text;
      read_gz(fd.get(), [&](std::string_view piece) {
        text.append(piece);
        return true;
      });
      if (!text.empty() && text.back() != '\n') text.resize(text.rfind('\n') == std::string::npos ? 0 : text.rfind('\n') + 1);
      size_t end = text.size();
      while (rev.size() < n && end > 0) {
        const size_t prev = end >= 2 ? text.rfind('\n', end - 2) : std::string::npos;
        const size_t start = prev == std::string::npos ? 0 : prev + 1;
        rev.push_back(text.substr(start, end - 1 - start));
        end = start;
      }
      continue;
    }
    off_t pos = f == files.rbegin() ? std::min<off_t>(st.st_size, limit) : st.st_size;
    std::string acc;  // bytes read and not yet split, ending with a newline once trimmed
    bool trimmed = false;
    while (pos > 0 && rev.size() < n) {
      const size_t len = static_cast<size_t>(std::min<off_t>(pos, 65536));
      pos -= static_cast<off_t>(len);
      std::string block(len, '\0');
      if (::pread(fd.get(), block.data(), len, pos) != static_cast<ssize_t>(len)) break;
      acc.insert(0, block);
      if (!trimmed) {
        const size_t nl = acc.rfind('\n');
        if (nl == std::string::npos) continue;
        acc.resize(nl + 1);
        trimmed = true;
      }
      // Take whole lines from the end while the newline before them is in acc.
      while (rev.size() < n && acc.size() > 1) {
        const size_t prev = acc.rfind('\n', acc.size() - 2);
        if (prev == std::string::npos) break;
        rev.push_back(acc.substr(prev + 1, acc.size() - prev - 2));
        acc.resize(prev + 1);
      }
    }
    // The file's first line.
    if (pos == 0 && trimmed && rev.size() < n && acc.size() > 1) rev.push_back(acc.substr(0, acc.size() - 1));
  }
  return {rev.rbegin(), rev.rend()};
}

// Splits `piece` into lines (the unfinished rest kept in `partial`) and hands them on.
bool feed(std::string& partial, std::string_view piece, const LineSink& sink) {
  partial.append(piece);
  size_t start = 0, nl;
  bool go = true;
  while (go && (nl = partial.find('\n', start)) != std::string::npos) {
    go = sink(std::string_view(partial).substr(start, nl - start));
    start = nl + 1;
  }
  partial.erase(0, start);
  return go;
}

// Go's url.QueryEscape, as Docker's `logs --details` prints attributes.
void query_escape(const std::string& in, std::string& out) {
  static const char hex[] = "0123456789ABCDEF";
  for (unsigned char c : in) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else if (c == ' ') {
      out += '+';
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
}

LineSink records(const Sink& sink) {
  return [&sink](std::string_view line) {
    Entry e;
    return !parse_line(line, e) || sink(e);
  };
}

}  // namespace

std::string Entry::text(bool timestamps, bool details) const {
  std::string t;
  if (timestamps) t = time + " ";
  if (details) {
    auto sorted = attrs;
    std::sort(sorted.begin(), sorted.end());
    for (size_t i = 0; i < sorted.size(); ++i) {
      if (i) t += ',';
      query_escape(sorted[i].first, t);
      t += '=';
      query_escape(sorted[i].second, t);
    }
    t += ' ';
  }
  return t + log;
}

int64_t Entry::nanos() const {
  struct tm tm {};
  const char* rest = ::strptime(time.c_str(), "%Y-%m-%dT%H:%M:%S", &tm);
  if (!rest) return 0;
  int64_t ns = static_cast<int64_t>(::timegm(&tm)) * 1000000000;
  if (*rest == '.') {  // the fraction (up to 9 digits), then Z (what the writers write)
    int64_t scale = 100000000;
    for (++rest; *rest >= '0' && *rest <= '9'; ++rest, scale /= 10)
      if (scale > 0) ns += (*rest - '0') * scale;
  }
  return ns;
}

bool parse_line(std::string_view line, Entry& out) {
  if (!line.empty() && line[0] != '{') {
    // CRI: TIME STREAM F|P MESSAGE
    const size_t a = line.find(' ');
    const size_t b = a == std::string_view::npos ? a : line.find(' ', a + 1);
    if (b == std::string_view::npos || b + 2 > line.size() || (line[b + 1] != 'F' && line[b + 1] != 'P')) return false;
    out.time = std::string(line.substr(0, a));
    out.stream = std::string(line.substr(a + 1, b - a - 1));
    out.log = b + 3 <= line.size() ? std::string(line.substr(b + 3)) : std::string();
    if (line[b + 1] == 'F') out.log += '\n';
    return true;
  }
  auto j = nlohmann::json::parse(line, nullptr, false);
  if (!j.is_object()) return false;
  auto str = [&](const char* k, const char* dflt) {
    auto it = j.find(k);
    return it != j.end() && it->is_string() ? it->get<std::string>() : std::string(dflt);
  };
  out.log = str("log", "");
  out.stream = str("stream", "stdout");
  out.time = str("time", "");
  out.attrs.clear();
  if (auto a = j.find("attrs"); a != j.end() && a->is_object())
    for (auto& [k, v] : a->items())
      if (v.is_string()) out.attrs.emplace_back(k, v.get<std::string>());
  return true;
}

std::vector<std::string> files(const std::string& path) {
  std::vector<std::string> out;
  for (int i = 99; i >= 1; --i) {
    const std::string f = path + "." + std::to_string(i);
    if (fs::exists(f))
      out.push_back(f);
    else if (fs::exists(f + ".gz"))
      out.push_back(f + ".gz");
  }
  out.push_back(path);
  return out;
}

Follower::Follower(std::string path) : path_(std::move(path)) {
  // The directory, not the file: a rotation replaces the file.
  inotify_ = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (inotify_ >= 0) {
    const std::string dir = path_.substr(0, path_.rfind('/'));
    if (::inotify_add_watch(inotify_, dir.c_str(), IN_MODIFY | IN_CREATE | IN_MOVED_TO | IN_CLOSE_WRITE) < 0) {
      ::close(inotify_);
      inotify_ = -1;
    }
  }
  cur_ = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
  struct stat st {};
  if (cur_ >= 0 && ::fstat(cur_, &st) == 0) {
    ino_ = st.st_ino;
    offset_ = st.st_size;
  }
}

Follower::~Follower() {
  if (inotify_ >= 0) ::close(inotify_);
  if (cur_ >= 0) ::close(cur_);
}

bool Follower::read_existing(const ReadOptions& o, const Sink& sink) const {
  const auto all = files(path_);
  if (o.tail >= 0 && !o.since && !o.until) {
    for (auto& raw : last_lines(all, static_cast<size_t>(o.tail), offset_)) {
      Entry e;
      if (parse_line(raw, e) && !sink(e)) return false;
    }
    return true;
  }
  // Streamed: memory holds one block (and, with --tail and a time filter, the last N).
  std::deque<Entry> last;
  const Sink select = [&](const Entry& e) {
    if (o.since || o.until) {
      const int64_t t = e.nanos();
      if (o.since && t < o.since) return true;
      if (o.until && t > o.until) return true;
    }
    if (o.tail < 0) return sink(e);
    last.push_back(e);
    if (last.size() > static_cast<size_t>(o.tail)) last.pop_front();
    return true;
  };
  if (!read_existing_lines(records(select))) return false;
  for (auto& e : last)
    if (!sink(e)) return false;
  return true;
}

bool Follower::read_existing_lines(const LineSink& sink) const {
  // The rotated files by name, the followed one (the newest when this follower was made) from
  // its held fd up to where following starts: a rotation since then moved it among the
  // rotated names, where it is skipped.
  auto all = files(path_);
  all.pop_back();
  for (const auto& f : all) {
    UniqueFd fd(::open(f.c_str(), O_RDONLY | O_CLOEXEC));
    struct stat st {};
    if (!fd || ::fstat(fd.get(), &st) < 0 || (cur_ >= 0 && st.st_ino == ino_)) continue;
    std::string partial;
    const auto take = [&](std::string_view piece) { return feed(partial, piece, sink); };
    if (!(is_gz(f) ? read_gz(fd.get(), take) : read_range(fd.get(), 0, st.st_size, take))) return false;
  }
  if (cur_ < 0) return true;
  std::string partial;
  return read_range(cur_, 0, offset_, [&](std::string_view piece) { return feed(partial, piece, sink); });
}

bool Follower::drain(const Sink& sink) { return drain_lines(records(sink)); }

bool Follower::drain_lines(const LineSink& sink) {
  if (inotify_ >= 0) {
    alignas(inotify_event) char ev[4096];
    while (::read(inotify_, ev, sizeof ev) > 0) {
    }
  }
  const auto take = [&](std::string_view piece) { return feed(partial_, piece, sink); };
  struct stat st {};
  const bool there = ::stat(path_.c_str(), &st) == 0;  // not: between a rotation's renames
  if (cur_ >= 0 && (!there || st.st_ino != ino_)) {
    // Rotated: the rest of the file followed, whatever its name now (PATH.1, or removed by
    // its compression), is still read through the fd held.
    struct stat ost {};
    if (::fstat(cur_, &ost) == 0 && ost.st_size > offset_ && !read_range(cur_, offset_, ost.st_size, take)) return false;
    offset_ = ost.st_size;
    if (!there) return true;
  }
  if (!there) return true;
  if (cur_ < 0 || st.st_ino != ino_) {
    UniqueFd fd(::open(path_.c_str(), O_RDONLY | O_CLOEXEC));
    struct stat nst {};
    if (!fd || ::fstat(fd.get(), &nst) < 0) return true;
    if (cur_ >= 0) ::close(cur_);
    cur_ = fd.release();
    partial_.clear();
    ino_ = nst.st_ino;
    offset_ = 0;
    st = nst;
  } else if (st.st_size < offset_) {
    offset_ = 0;  // truncated (a rotation that keeps one file)
    partial_.clear();
  }
  struct stat cst {};
  if (::fstat(cur_, &cst) < 0) return true;
  const int64_t from = offset_;
  offset_ = cst.st_size;
  return read_range(cur_, from, cst.st_size, take);
}

}  // namespace berth::logs
