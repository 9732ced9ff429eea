// A small flag parser with runc's conventions: --flag value, --flag=value, short aliases,
// booleans that take no value, flags before or between positional arguments.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace berth::cli {

struct FlagSpec {
  std::string name;      // "bundle"
  std::string alias;     // "b" (may be empty)
  bool takes_value = false;
  bool repeatable = false;
  // A boolean whose value, if any, is joined to it (`--sig-proxy=false`): alone it is "true"
  // and never takes the next argument (pflag's booleans; takes_value must be set too).
  bool joined_value_only = false;
};

// Thrown by Args for `--help` among a verb's flags: the program prints that verb's help.
struct HelpRequest {
  std::string command;
  std::vector<FlagSpec> flags;
};

// "  -d, --detach\n      --name value\n…": a verb's flags, sorted by name, one per line.
std::string describe_flags(const std::vector<FlagSpec>& flags);

class Args {
 public:
  // Parses argv[first..argc). Throws berth::Error on an unknown flag or a missing value, and
  // HelpRequest for --help (before any positional argument when stop_at_positional).
  // With stop_at_positional, everything from the first positional argument on is positional
  // (`exec ID sh -c ...`).
  Args(const std::string& command, const std::vector<FlagSpec>& flags, int argc, char** argv,
       int first, bool stop_at_positional = false);
  bool has(const std::string& name) const { return values_.count(name) > 0; }
  std::string get(const std::string& name, const std::string& def = "") const;
  const std::vector<std::string>& all(const std::string& name) const;
  const std::vector<std::string>& positional() const { return positional_; }
  // The single positional container id; throws if missing or extra arguments are given.
  std::string id(size_t max_positional = 1) const;

 private:
  std::string command_;
  std::map<std::string, std::vector<std::string>> values_;
  std::vector<std::string> positional_;
};

// Global flags before the command ("--root DIR", "--root=DIR", booleans). `on_flag(name,
// value)` handles one flag — `value()` takes its argument — and returns false for an unknown
// one (an error). Returns the index of the command word (argc when there is none).
int parse_global_flags(int argc, char** argv,
                       const std::function<bool(const std::string& name,
                                                const std::function<std::string()>& value)>& on_flag);

// /run/berth-runtime for root; $XDG_RUNTIME_DIR/berth-runtime for other users (as runc).
std::string default_root();

struct Global {
  std::string root = default_root();
  std::string log, log_format = "text";
  bool debug = false, systemd_cgroup = false;
};

// One function per verb (one file each).
int cmd_create(const Global& g, int argc, char** argv, int first);
int cmd_start(const Global& g, int argc, char** argv, int first);
int cmd_run(const Global& g, int argc, char** argv, int first);
int cmd_state(const Global& g, int argc, char** argv, int first);
int cmd_kill(const Global& g, int argc, char** argv, int first);
int cmd_delete(const Global& g, int argc, char** argv, int first);
int cmd_list(const Global& g, int argc, char** argv, int first);
int cmd_spec(const Global& g, int argc, char** argv, int first);
int cmd_features(const Global& g, int argc, char** argv, int first);
int cmd_exec(const Global& g, int argc, char** argv, int first);
int cmd_ps(const Global& g, int argc, char** argv, int first);
int cmd_pause(const Global& g, int argc, char** argv, int first);
int cmd_resume(const Global& g, int argc, char** argv, int first);
int cmd_update(const Global& g, int argc, char** argv, int first);
int cmd_events(const Global& g, int argc, char** argv, int first);

// Flags shared by create and run.
std::vector<FlagSpec> create_flags();

}  // namespace berth::cli
