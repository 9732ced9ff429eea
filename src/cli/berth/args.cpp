// What the verbs share: Docker's flag conventions (combined short flags), the handling of
// several containers in one command, and --since/--until times.
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <functional>
#include <string>
#include <vector>

#include "cli/berth/commands.hpp"
#include "cli/runtime/args.hpp"
#include "common/error.hpp"
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
      if (f && f->takes_value && a.find('=') == std::string::npos && i + 1 < argc) out.push_back(argv[++i]);
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

int64_t parse_since(const std::string& s) {
  if (s.empty()) return 0;
  // A duration ("10m", "30s", "2h") before now, an RFC 3339 time, or unix seconds.
  char unit = s.back();
  if ((unit == 's' || unit == 'm' || unit == 'h') && s.size() > 1 &&
      s.find_first_not_of("0123456789.", 0) == s.size() - 1) {
    double v = std::strtod(s.c_str(), nullptr) * (unit == 's' ? 1 : unit == 'm' ? 60 : 3600);
    return static_cast<int64_t>(std::time(nullptr)) - static_cast<int64_t>(v);
  }
  if (s.find_first_not_of("0123456789.") == std::string::npos) return std::atoll(s.c_str());
  int64_t t = parse_rfc3339(s);
  if (t == 0) throw Error("invalid --since `" + s + "`");
  return t;
}

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

}  // namespace berth::cli
