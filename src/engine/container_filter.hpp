// Docker's container list filters — `ps --filter KEY=VALUE` and the API's
// GET /containers/json?filters= — one implementation for the CLI and the daemon.
#pragma once

#include <cstdint>
#include <map>
#include <regex>
#include <string>
#include <vector>

#include "engine/engine.hpp"

namespace berth::engine {

class ContainerFilter {
 public:
  // The keys Docker's daemon takes (isolation and is-task included: every container here is
  // of the default isolation and none is a swarm task).
  static const std::vector<std::string>& keys();

  // `filters`: key → its values. The values of one key are alternatives, the keys all apply
  // (label: every value). invalid_argument, one line, for an unknown key or a bad value (a
  // status or health Docker does not know, an exit code that is no number, a name that is no
  // regular expression, a bad port range); before/since name containers (not_found).
  ContainerFilter(Engine& eng, const std::map<std::string, std::vector<std::string>>& filters);

  // A status was asked for: stopped containers are listed without --all (Docker's rule).
  bool wants_all() const { return has("status"); }
  bool empty() const { return f_.empty(); }

  // Whether container `c`, in state `s`, passes.
  bool match(Engine& eng, const Container& c, const State& s) const;

 private:
  bool has(const std::string& key) const { return f_.count(key) > 0; }
  const std::vector<std::string>& values(const std::string& key) const;

  std::map<std::string, std::vector<std::string>> f_;
  std::vector<std::regex> names_;
  std::vector<std::string> ancestor_ids_;
  int64_t before_ = 0, since_ = 0;
};

}  // namespace berth::engine
