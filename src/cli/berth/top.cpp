// berth top: the container's processes (Engine::top, ps options).
#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include "cli/berth/commands.hpp"
#include "cli/runtime/args.hpp"
#include "common/error.hpp"

namespace berth::cli {

int cmd_top(const Engine& e, int argc, char** argv, int first) {
  Args a = parse_args("top", {}, argc, argv, first, true);
  if (a.positional().empty()) throw Error("top: a container is required");
  std::vector<std::string> ps_args(a.positional().begin() + 1, a.positional().end());
  if (ps_args.empty()) ps_args = {"-ef"};
  auto p = make_engine(e).top(a.positional()[0], ps_args);
  // Docker's table: a column is its widest cell + 3 wide, at least 20 (pad() adds the 3).
  std::vector<size_t> w(p.titles.size(), 17);
  auto measure = [&](const std::vector<std::string>& row) {
    for (size_t i = 0; i < row.size() && i < w.size(); ++i) w[i] = std::max(w[i], width(row[i]));
  };
  measure(p.titles);
  for (auto& r : p.rows) measure(r);
  auto print = [&](const std::vector<std::string>& row) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) line += i + 1 < row.size() ? pad(row[i], w[i]) : row[i];
    std::puts(line.c_str());
  };
  print(p.titles);
  for (auto& r : p.rows) print(r);
  return 0;
}

}  // namespace berth::cli
