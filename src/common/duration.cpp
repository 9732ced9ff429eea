#include "common/duration.hpp"

#include <cmath>
#include <cstdlib>

namespace berth {

std::optional<int64_t> parse_go_duration(std::string_view s) {
  bool negative = false;
  if (!s.empty() && (s[0] == '-' || s[0] == '+')) {
    negative = s[0] == '-';
    s.remove_prefix(1);
  }
  if (s == "0") return 0;
  if (s.empty()) return std::nullopt;
  static const std::pair<std::string_view, double> units[] = {
      {"ns", 1}, {"us", 1e3}, {"\u00b5s", 1e3}, {"\u03bcs", 1e3}, {"ms", 1e6}, {"s", 1e9}, {"m", 60e9}, {"h", 3600e9}};
  double total = 0;
  size_t i = 0;
  while (i < s.size()) {
    size_t j = i;
    bool digits = false;
    while (j < s.size() && ((s[j] >= '0' && s[j] <= '9') || s[j] == '.')) digits |= s[j++] != '.';
    if (!digits) return std::nullopt;
    const double v = std::strtod(std::string(s.substr(i, j - i)).c_str(), nullptr);
    size_t k = j;
    while (k < s.size() && !((s[k] >= '0' && s[k] <= '9') || s[k] == '.')) ++k;
    const std::string_view unit = s.substr(j, k - j);
    double mul = 0;
    for (const auto& [name, factor] : units)
      if (unit == name) mul = factor;
    if (mul == 0) return std::nullopt;
    total += v * mul;
    i = k;
  }
  if (total > 9.2e18) return std::nullopt;  // beyond Go's ~292 years
  const auto ns = static_cast<int64_t>(std::llround(total));
  return negative ? -ns : ns;
}

std::string go_duration(int64_t ns) {
  if (ns == 0) return "0s";
  const std::string sign = ns < 0 ? "-" : "";
  const uint64_t u = ns < 0 ? 0 - static_cast<uint64_t>(ns) : static_cast<uint64_t>(ns);
  auto frac = [](uint64_t v, uint64_t unit) {
    std::string s = std::to_string(v / unit);
    if (const uint64_t rest = v % unit) {
      std::string f = std::to_string(rest + unit).substr(1);  // zero-padded
      while (!f.empty() && f.back() == '0') f.pop_back();
      s += "." + f;
    }
    return s;
  };
  if (u < 1000) return sign + std::to_string(u) + "ns";
  if (u < 1000000) return sign + frac(u, 1000) + "\u00b5s";
  if (u < 1000000000) return sign + frac(u, 1000000) + "ms";
  const uint64_t h = u / 3600000000000ULL, m = (u / 60000000000ULL) % 60;
  const std::string s = frac(u % 60000000000ULL, 1000000000ULL) + "s";
  if (h) return sign + std::to_string(h) + "h" + std::to_string(m) + "m" + s;
  if (m) return sign + std::to_string(m) + "m" + s;
  return sign + s;
}

}  // namespace berth
