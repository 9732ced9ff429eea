#include <unistd.h>

#include <cctype>
#include <charconv>

#include "cli/runtime/args.hpp"
#include "common/error.hpp"
#include "common/fs.hpp"
#include "runtime/container.hpp"

namespace berth::cli {
namespace {

// "512m", "1g", "1024", "-1" → bytes (binary units, like runc's RAMInBytes).
int64_t parse_bytes(const std::string& flag, const std::string& v) {
  if (v == "-1") return -1;
  int64_t n = 0;
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
  if (ec != std::errc() || n < 0) throw Error("--" + flag + ": `" + v + "` is not a size");
  std::string unit(p, v.data() + v.size());
  for (auto& c : unit) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (unit == "b") unit.clear();
  if (!unit.empty() && unit.back() == 'b') unit.pop_back();
  int shift = unit.empty() ? 0 : unit == "k" ? 10 : unit == "m" ? 20 : unit == "g" ? 30 : unit == "t" ? 40 : -1;
  if (shift < 0) throw Error("--" + flag + ": `" + v + "` has an unknown unit");
  return n << shift;
}

int64_t parse_int(const std::string& flag, const std::string& v) {
  int64_t n = 0;
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
  if (ec != std::errc() || p != v.data() + v.size()) throw Error("--" + flag + ": `" + v + "` is not a number");
  return n;
}

}  // namespace

int cmd_update(const Global& g, int argc, char** argv, int first) {
  Args a("update",
         {{"resources", "r", true},   {"memory", "m", true},       {"memory-swap", "", true},
          {"memory-reservation", "", true}, {"cpu-shares", "", true}, {"cpu-quota", "", true},
          {"cpu-period", "", true},   {"cpuset-cpus", "", true},   {"cpuset-mems", "", true},
          {"pids-limit", "", true},   {"blkio-weight", "", true}},
         argc, argv, first);
  std::string id = a.id();
  nlohmann::json r = nlohmann::json::object();
  if (a.has("resources")) {
    std::string file = a.get("resources"), text;
    if (file == "-") {
      char buf[4096];
      ssize_t n;
      while ((n = ::read(0, buf, sizeof buf)) > 0) text.append(buf, static_cast<size_t>(n));
    } else {
      text = fs::read_file(file);
    }
    try {
      r = nlohmann::json::parse(text);
    } catch (const nlohmann::json::exception& e) {  // parse_error, and out_of_range for a number too big
      throw Error(std::string("--resources: invalid JSON: ") + e.what());
    }
  }
  if (a.has("memory")) r["memory"]["limit"] = parse_bytes("memory", a.get("memory"));
  if (a.has("memory-swap")) r["memory"]["swap"] = parse_bytes("memory-swap", a.get("memory-swap"));
  if (a.has("memory-reservation"))
    r["memory"]["reservation"] = parse_bytes("memory-reservation", a.get("memory-reservation"));
  if (a.has("cpu-shares")) r["cpu"]["shares"] = parse_int("cpu-shares", a.get("cpu-shares"));
  if (a.has("cpu-quota")) r["cpu"]["quota"] = parse_int("cpu-quota", a.get("cpu-quota"));
  if (a.has("cpu-period")) r["cpu"]["period"] = parse_int("cpu-period", a.get("cpu-period"));
  if (a.has("cpuset-cpus")) r["cpu"]["cpus"] = a.get("cpuset-cpus");
  if (a.has("cpuset-mems")) r["cpu"]["mems"] = a.get("cpuset-mems");
  if (a.has("pids-limit")) r["pids"]["limit"] = parse_int("pids-limit", a.get("pids-limit"));
  if (a.has("blkio-weight")) r["blockIO"]["weight"] = parse_int("blkio-weight", a.get("blkio-weight"));
  runtime::update_container(g.root, id, r);
  return 0;
}

}  // namespace berth::cli
