// --format for inspect and list verbs: Go templates (format/template.hpp), "json", and
// Docker's "table TEMPLATE".
#include <cstdio>
#include <string>
#include <vector>

#include "cli/berth/commands.hpp"
#include "common/error.hpp"
#include "format/template.hpp"

namespace berth::cli {

using nlohmann::json;

int print_inspect(const std::string& format, const json& docs, int rc) {
  if (format.empty()) {
    std::puts(docs.dump(4).c_str());
    return rc;
  }
  if (format == "json") {  // Docker 23+: the documents as JSON, one per line
    for (const auto& d : docs) std::puts(d.dump().c_str());
    return rc;
  }
  // Parsed once, before anything is printed: a bad template prints nothing.
  const auto t = format::Template::parse(format);
  for (const auto& d : docs) {
    std::string line = t.render(d);
    std::puts(line.c_str());
  }
  return rc;
}

int print_inspect(const std::string& format, const json& docs, const std::vector<std::string>& errors) {
  const int rc = print_inspect(format, docs, errors.empty() ? 0 : 1);
  std::fflush(stdout);
  for (auto& e : errors) std::fprintf(stderr, "Error: %s\n", e.c_str());
  return rc;
}

void print_list(const std::string& format, const std::string& default_table, const json& headers,
                const std::vector<json>& rows) {
  std::string out = format::render_list(format, default_table, headers, rows);
  std::fwrite(out.data(), 1, out.size(), stdout);
}

// Characters on screen (UTF-8 code points), for table columns.
size_t width(const std::string& s) {
  size_t n = 0;
  for (unsigned char ch : s) n += (ch & 0xC0) != 0x80;
  return n;
}

std::string pad(const std::string& s, size_t w) {
  return s + std::string(w + 3 - std::min(w, width(s)), ' ');
}

// A value for one table cell: control characters (a command's newlines, tabs) become spaces,
// and with max > 0 it is cut to max characters (whole UTF-8 sequences) ending in "…".
std::string cell_text(std::string s, size_t max) {
  for (auto& ch : s)
    if (static_cast<unsigned char>(ch) < 0x20 || ch == 0x7f) ch = ' ';
  if (max == 0 || width(s) <= max) return s;
  size_t chars = 0, i = 0;
  for (; i < s.size(); ++i)
    if ((static_cast<unsigned char>(s[i]) & 0xC0) != 0x80 && chars++ == max - 1) break;
  return s.substr(0, i) + "…";
}

}  // namespace berth::cli
