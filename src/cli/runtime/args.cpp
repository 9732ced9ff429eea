#include "cli/runtime/args.hpp"

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "common/error.hpp"

namespace berth::cli {

Args::Args(const std::string& command, const std::vector<FlagSpec>& flags, int argc, char** argv,
           int first, bool stop_at_positional)
    : command_(command) {
  bool only_positional = false;
  for (int i = first; i < argc; ++i) {
    std::string a = argv[i];
    if (only_positional || a.size() < 2 || a[0] != '-') {
      positional_.push_back(a);
      if (stop_at_positional) only_positional = true;
      continue;
    }
    if (a == "--") {
      only_positional = true;
      continue;
    }
    // -h too where no flag is -h (run/create's is --hostname), as Docker's.
    if (a == "--help" || (a == "-h" && std::none_of(flags.begin(), flags.end(), [](const FlagSpec& f) { return f.alias == "h"; })))
      throw HelpRequest{command_, flags};
    std::string name = a.substr(a[1] == '-' ? 2 : 1);
    std::optional<std::string> value;
    if (auto eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
    }
    const FlagSpec* spec = nullptr;
    for (auto& f : flags)
      if (f.name == name || (!f.alias.empty() && f.alias == name)) spec = &f;
    if (!spec) throw UsageError(command_ + ": unknown flag `" + a + "`");
    if (spec->joined_value_only) {
      if (!value) value = "true";
    } else if (spec->takes_value) {
      if (!value) {
        if (i + 1 >= argc) throw UsageError(command_ + ": flag `--" + spec->name + "` needs a value");
        value = argv[++i];
      }
    } else if (value) {
      if (*value != "true" && *value != "false")
        throw UsageError(command_ + ": flag `--" + spec->name + "` takes no value");
      if (*value == "false") continue;
    }
    values_[spec->name].push_back(value.value_or("true"));
  }
}

std::string describe_flags(const std::vector<FlagSpec>& flags) {
  std::vector<FlagSpec> sorted = flags;
  std::sort(sorted.begin(), sorted.end(), [](const FlagSpec& a, const FlagSpec& b) { return a.name < b.name; });
  std::string out;
  for (const auto& f : sorted) {
    std::string line = f.alias.empty() ? "      " : "  -" + f.alias + ", ";
    line += "--" + f.name;
    if (f.takes_value) line += f.repeatable ? " value (repeatable)" : " value";
    out += line + "\n";
  }
  return out;
}

std::string Args::get(const std::string& name, const std::string& def) const {
  auto it = values_.find(name);
  return it == values_.end() ? def : it->second.back();
}

const std::vector<std::string>& Args::all(const std::string& name) const {
  static const std::vector<std::string> empty;
  auto it = values_.find(name);
  return it == values_.end() ? empty : it->second;
}

std::string Args::id(size_t max_positional) const {
  if (positional_.empty()) throw Error(command_ + ": a container id is required");
  if (positional_.size() > max_positional)
    throw Error(command_ + ": unexpected argument `" + positional_[max_positional] + "`");
  return positional_[0];
}

std::vector<FlagSpec> create_flags() {
  return {{"bundle", "b", true},       {"console-socket", "", true}, {"pid-file", "", true},
          {"no-pivot", "", false},     {"no-new-keyring", "", false}, {"preserve-fds", "", true},
          {"notify-socket", "", true}};
}

int parse_global_flags(int argc, char** argv,
                       const std::function<bool(const std::string& name,
                                                const std::function<std::string()>& value)>& on_flag) {
  int i = 1;
  for (; i < argc; ++i) {
    const std::string a = argv[i];
    if (a.empty() || a[0] != '-') break;
    std::string name = a, inline_value;
    bool has_value = false;
    if (auto eq = a.find('='); eq != std::string::npos) {
      name = a.substr(0, eq);
      inline_value = a.substr(eq + 1);
      has_value = true;
    }
    auto value = [&]() -> std::string {
      if (has_value) return inline_value;
      if (i + 1 >= argc) throw UsageError("flag `" + name + "` needs a value");
      return argv[++i];
    };
    if (!on_flag(name, value)) throw UsageError("unknown global flag `" + a + "`");
  }
  return i;
}

std::string default_root() {
  if (::geteuid() != 0)
    if (const char* xdg = std::getenv("XDG_RUNTIME_DIR"); xdg && xdg[0] == '/')
      return std::string(xdg) + "/berth-runtime";
  return "/run/berth-runtime";
}

}  // namespace berth::cli
