// What the verbs share: Docker's flag conventions (combined short flags), the handling of
// several containers in one command, and --since/--until times.
#include <sys/stat.h>
#include <algorithm>
#include <cctype>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "cli/berth/commands.hpp"
#include "cli/runtime/args.hpp"
#include "common/duration.hpp"
#include "common/error.hpp"
#include "common/strings.hpp"
#include "common/time.hpp"

namespace berth::cli {

namespace {

// Short flags as Docker's (pflag) reads them: "-it" → "-i" "-t"; a letter that takes a value
// takes the rest of the word ("-t0", "-p8080:80", "-e=X" → "-e" "X") or else the next
// argument. Flag values are skipped, and with stop_at_positional everything from the first
// positional argument on (the image and its command) is left alone. A word with a letter
// that is no flag of the verb stays whole (its error names it).
std::vector<std::string> expand_short(int argc, char** argv, int first, const std::vector<FlagSpec>& flags,
                                      bool stop_at_positional) {
  auto find = [&](const std::string& name) -> const FlagSpec* {
    for (auto& f : flags)
      if (f.name == name || (!f.alias.empty() && f.alias == name)) return &f;
    return nullptr;
  };
  std::vector<std::string> out;
  int i = first;
  for (; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--" || a.size() < 2 || a[0] != '-') {
      if (stop_at_positional || a == "--") break;
      out.push_back(a);
      continue;
    }
    if (a[1] == '-' || a.size() == 2) {
      out.push_back(a);
      const FlagSpec* f = find(a.substr(a[1] == '-' ? 2 : 1));
      if (f && f->takes_value && !f->joined_value_only && a.find('=') == std::string::npos && i + 1 < argc)
        out.push_back(argv[++i]);
      continue;
    }
    std::vector<std::string> split;
    bool known = true, value_next = false;
    for (size_t k = 1; k < a.size() && known; ++k) {
      const FlagSpec* f = find(std::string(1, a[k]));
      if (!f) {
        known = false;
        break;
      }
      split.push_back(std::string("-") + a[k]);
      if (f->joined_value_only) {  // a boolean: `-H=false`, or alone
        if (k + 1 < a.size() && a[k + 1] == '=') {
          split.back() += a.substr(k + 1);
          break;
        }
        continue;
      }
      if (!f->takes_value) continue;
      std::string rest = a.substr(k + 1);
      if (!rest.empty() && rest[0] == '=') rest.erase(0, 1);
      if (!rest.empty() || k + 1 < a.size()) split.push_back(rest);
      else value_next = true;
      break;
    }
    if (!known) {
      out.push_back(a);
      continue;
    }
    out.insert(out.end(), split.begin(), split.end());
    if (value_next && i + 1 < argc) out.push_back(argv[++i]);
  }
  for (; i < argc; ++i) out.push_back(argv[i]);
  return out;
}

struct Argv {
  std::vector<std::string> words;
  std::vector<char*> ptrs;
  explicit Argv(std::vector<std::string> w) : words(std::move(w)) {
    for (auto& s : words) ptrs.push_back(s.data());
    ptrs.push_back(nullptr);
  }
  int argc() const { return static_cast<int>(words.size()); }
  char** argv() { return ptrs.data(); }
};

}  // namespace

// Args with combined short flags ("-it", "-af") expanded first.
Args parse_args(const std::string& cmd, const std::vector<FlagSpec>& flags, int argc, char** argv,
                int first, bool stop_at_positional) {
  Argv w(expand_short(argc, argv, first, flags, stop_at_positional));
  return Args(cmd, flags, w.argc(), w.argv(), 0, stop_at_positional);
}

namespace {

// Docker's timestamps (timetypes.GetTimestamp): a date, optionally with an hour, minutes,
// seconds and a fraction ("2006-01-02", "2006-01-02T15", "…T15:04", "…T15:04:05.999"), then
// "Z" or an offset (±07:00, ±0700); without one the local time. Unix seconds; nullopt if not.
std::optional<int64_t> docker_time(const std::string& s) {
  struct tm tm {};
  tm.tm_isdst = -1;
  const char* p = ::strptime(s.c_str(), "%Y-%m-%d", &tm);
  if (!p) return std::nullopt;
  if (*p == 'T') {
    int fields = 0;
    for (const char* fmt : {"T%H", ":%M", ":%S"}) {
      const char* q = ::strptime(p, fmt, &tm);
      if (!q) break;
      p = q;
      ++fields;
    }
    if (fields == 0) return std::nullopt;
    if (fields == 3 && *p == '.')
      while (std::isdigit(static_cast<unsigned char>(*++p))) {
      }
  }
  if (*p == '\0') return static_cast<int64_t>(std::mktime(&tm));
  int64_t utc = static_cast<int64_t>(::timegm(&tm));
  if (*p == 'Z' && p[1] == '\0') return utc;
  if (*p == '+' || *p == '-') {
    const int sign = *p == '+' ? 1 : -1;
    int hh = 0, mm = 0;
    char rest = 0;
    if (std::sscanf(p + 1, "%2d:%2d%c", &hh, &mm, &rest) == 2 || std::sscanf(p + 1, "%2d%2d%c", &hh, &mm, &rest) == 2)
      return utc - sign * (hh * 3600 + mm * 60);
  }
  return std::nullopt;
}

}  // namespace

int64_t parse_time_ns(const std::string& s) {
  if (s.empty()) return 0;
  // Docker's forms: a duration before now ("10m", "1h30m"), unix seconds with an optional
  // fraction ("1700000000.25"), or a date and time (RFC 3339, or a prefix of it:
  // "2026-12-05", "2026-12-05T15:00").
  const size_t dot = s.find('.');
  if (s.find_first_not_of("0123456789.") == std::string::npos && s.find_first_of("0123456789") != std::string::npos &&
      (dot == std::string::npos || s.find('.', dot + 1) == std::string::npos)) {
    // Seconds past what nanoseconds can hold (year 2262) are that far: the future, not an
    // overflow into the past (which made `logs --since 99999999999999` print everything).
    constexpr int64_t kMaxSeconds = INT64_MAX / 1000000000 - 1;
    const std::string whole = s.substr(0, dot);
    const size_t digits = whole.size() - std::min(whole.size(), whole.find_first_not_of('0'));
    if (digits > 18 || std::atoll(whole.c_str()) > kMaxSeconds) return kMaxSeconds * 1000000000;
    int64_t ns = std::atoll(whole.c_str()) * 1000000000;
    if (dot != std::string::npos) {
      std::string frac = s.substr(dot + 1, 9);
      frac.append(9 - frac.size(), '0');
      ns += std::atoll(frac.c_str());
    }
    return ns;
  }
  if (auto d = parse_go_duration(s)) {
    timespec now{};
    clock_gettime(CLOCK_REALTIME, &now);
    return static_cast<int64_t>(now.tv_sec) * 1000000000 + now.tv_nsec - *d;
  }
  if (auto t = docker_time(s)) return *t * 1000000000;
  throw Error(ErrorKind::invalid_argument, "invalid time `" + s + "`: want a duration (10m, 1h30m), unix seconds or a date (2006-01-02[T15:04:05][Z|±07:00])");
}

int64_t parse_since(const std::string& s) { return parse_time_ns(s) / 1000000000; }

// Docker's way with several containers: each one done or its error printed, exit 1 if any
// failed; the name is printed for each success.
int for_each_container(const std::vector<std::string>& refs, const std::function<void(const std::string&)>& op) {
  int rc = 0;
  for (auto& ref : refs) {
    try {
      op(ref);
      std::puts(ref.c_str());
    } catch (const Error& ex) {
      std::fprintf(stderr, "berth: %s\n", ex.what());
      rc = 1;
    }
  }
  return rc;
}

void check_output_file(const std::string& verb, const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) < 0) {
    if (errno == ENOENT) return;
    throw_errno(verb + ": `" + path + "`");
  }
  if (S_ISREG(st.st_mode)) return;
  const char* what = S_ISDIR(st.st_mode)   ? "a directory"
                     : S_ISCHR(st.st_mode) ? "a character device"
                     : S_ISBLK(st.st_mode) ? "a block device"
                     : S_ISFIFO(st.st_mode) ? "a named pipe (FIFO)"
                                            : "a socket";
  throw Error(ErrorKind::invalid_argument, verb + ": invalid output path \"" + path + "\": it is " + what +
                                               ", not a regular file (redirect the output instead)");
}

int int_flag(const Args& a, const std::string& name, int otherwise) {
  if (!a.has(name)) return otherwise;
  const std::string v = a.get(name);
  char* end = nullptr;
  errno = 0;
  const long x = std::strtol(v.c_str(), &end, 10);
  if (v.empty() || *end || errno == ERANGE || x < INT_MIN || x > INT_MAX)
    throw UsageError("invalid --" + name + " `" + v + "`: want an integer");
  return static_cast<int>(x);
}

Filters::Filters(const std::string& verb, const std::vector<std::string>& specs, const std::vector<std::string>& keys)
    : verb_(verb) {
  for (auto& f : specs) {
    const size_t eq = f.find('=');
    if (eq == std::string::npos || eq == 0)
      throw Error(ErrorKind::invalid_argument, verb + ": invalid filter `" + f + "` (KEY=VALUE)");
    const std::string k = f.substr(0, eq);
    if (std::find(keys.begin(), keys.end(), k) == keys.end())
      throw Error(ErrorKind::invalid_argument, verb + ": invalid filter `" + k + "` (" + join(keys, ", ") + ")");
    by_key_[k].push_back(f.substr(eq + 1));
  }
}

const std::vector<std::string>& Filters::values(const std::string& key) const {
  static const std::vector<std::string> none;
  auto it = by_key_.find(key);
  return it == by_key_.end() ? none : it->second;
}

bool Filters::any(const std::string& key, const std::function<bool(const std::string&)>& ok) const {
  auto it = by_key_.find(key);
  return it == by_key_.end() || std::any_of(it->second.begin(), it->second.end(), ok);
}

bool Filters::all(const std::string& key, const std::function<bool(const std::string&)>& ok) const {
  const auto& v = values(key);
  return std::all_of(v.begin(), v.end(), ok);
}

void Filters::check_values(const std::string& key, const std::vector<std::string>& allowed) const {
  for (auto& v : values(key))
    if (std::find(allowed.begin(), allowed.end(), v) == allowed.end())
      throw Error(ErrorKind::invalid_argument, verb_ + ": invalid filter `" + key + "=" + v + "` (" + join(allowed, ", ") + ")");
}

}  // namespace berth::cli
