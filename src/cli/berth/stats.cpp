// berth stats: CPU, memory, network and block I/O, PIDs of containers, live or --no-stream.
#include <sys/sysinfo.h>
#include <unistd.h>

#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "cli/berth/commands.hpp"
#include "cli/runtime/args.hpp"
#include "common/error.hpp"
#include "engine/engine.hpp"
#include "format/template.hpp"

namespace berth::cli {

using nlohmann::json;

namespace {

// Docker's units: sizes of I/O in powers of 1000 ("1.2kB"), memory in powers of 1024 ("1.5MiB").
std::string binary_size(uint64_t b) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
  double v = static_cast<double>(b);
  int u = 0;
  while (v >= 1024 && u < 5) v /= 1024, ++u;
  char buf[32];
  std::snprintf(buf, sizeof buf, u == 0 ? "%.0f%s" : "%.4g%s", v, units[u]);
  return buf;
}

std::string percent(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f%%", v);
  return buf;
}

uint64_t host_memory() {
  struct sysinfo si {};
  if (::sysinfo(&si) != 0) return 0;
  return static_cast<uint64_t>(si.totalram) * si.mem_unit;
}

// `given`: the container as the command line named it (Docker's .Container), else its short id.
json stats_row(const engine::Container& c, const std::string& given, const engine::Stats* before, const engine::Stats* now) {
  const uint64_t limit = now && now->mem_limit ? now->mem_limit : host_memory();
  const double cpu = before && now ? engine::cpu_percent(*before, *now) : 0;
  const double mem = now && limit ? 100.0 * static_cast<double>(now->mem_usage) / static_cast<double>(limit) : 0;
  auto io = [](uint64_t a, uint64_t b) { return image::human_size(static_cast<int64_t>(a)) + " / " + image::human_size(static_cast<int64_t>(b)); };
  return {{"Container", given.empty() ? c.id().substr(0, 12) : given},
          {"ID", c.id().substr(0, 12)},
          {"Name", c.rec.name},
          {"CPUPerc", percent(cpu)},
          {"MemUsage", binary_size(now ? now->mem_usage : 0) + " / " + binary_size(now ? limit : 0)},
          {"MemPerc", percent(mem)},
          {"NetIO", io(now ? now->net_rx : 0, now ? now->net_tx : 0)},
          {"BlockIO", io(now ? now->blk_read : 0, now ? now->blk_write : 0)},
          {"PIDs", std::to_string(now ? now->pids : 0)}};
}

}  // namespace

int cmd_stats(const Engine& e, int argc, char** argv, int first) {
  Args a = parse_args("stats", {{"no-stream", "", false}, {"all", "a", false}, {"format", "", true}, {"no-trunc", "", false}},
         argc, argv, first);
  const std::string format = a.get("format");
  if (format != "table" && format != "json" && !format.empty())
    format::Template::parse(format.rfind("table ", 0) == 0 ? format.substr(6) : format);  // bad: before anything
  auto eng = make_engine(e);
  std::vector<engine::Container> cs;
  std::vector<std::string> given;
  if (a.positional().empty()) {
    for (auto& c : eng.list())
      if (a.has("all") || eng.state(c).running()) cs.push_back(c);
    given.resize(cs.size());
  } else {
    for (auto& r : a.positional()) {
      cs.push_back(eng.lookup(r));
      given.push_back(r);
    }
  }
  // A container that does not run has no reading: its row shows zeros, as Docker's.
  auto read = [&](const engine::Container& c) -> std::optional<engine::Stats> {
    try {
      return eng.stats(c.id());
    } catch (const Error& err) {
      if (err.kind() != ErrorKind::not_running && err.kind() != ErrorKind::not_found) throw;
      return std::nullopt;
    }
  };
  const json headers = {{"Container", "CONTAINER"}, {"ID", "CONTAINER ID"}, {"Name", "NAME"},
                        {"CPUPerc", "CPU %"},       {"MemUsage", "MEM USAGE / LIMIT"},
                        {"MemPerc", "MEM %"},       {"NetIO", "NET I/O"},
                        {"BlockIO", "BLOCK I/O"},   {"PIDs", "PIDS"}};
  const std::string table = "{{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}";
  const bool redraw = !a.has("no-stream") && ::isatty(1);
  std::vector<std::optional<engine::Stats>> prev;
  for (auto& c : cs) prev.push_back(read(c));
  for (;;) {
    // CPU % is the use between two readings: 0.5 s apart for the first round, then a round a second.
    ::usleep(a.has("no-stream") ? 500000 : 1000000);
    std::vector<json> rows;
    for (size_t i = 0; i < cs.size(); ++i) {
      auto now = read(cs[i]);
      rows.push_back(stats_row(cs[i], given[i], prev[i] ? &*prev[i] : nullptr, now ? &*now : nullptr));
      prev[i] = now;
    }
    if (redraw) std::fputs("\033[2J\033[H", stdout);  // Docker's: the table in place
    print_list(format, table, headers, rows);
    std::fflush(stdout);
    if (a.has("no-stream")) return 0;
  }
}

}  // namespace berth::cli
