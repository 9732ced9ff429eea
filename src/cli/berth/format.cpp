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

void print_list(const std::string& format, const std::string& default_table, const json& headers,
                const std::vector<json>& rows) {
  std::string out = format::render_list(format, default_table, headers, rows);
  std::fwrite(out.data(), 1, out.size(), stdout);
}

}  // namespace berth::cli
