// images, image inspect, tag, rmi, import, system df and check.
#include <fcntl.h>
#include <fnmatch.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <string_view>

#include "cli/berth/commands.hpp"
#include "cli/runtime/args.hpp"
#include "common/download.hpp"
#include "common/error.hpp"
#include "common/fs.hpp"
#include "engine/instructions.hpp"
#include "image/search.hpp"
#include "format/template.hpp"
#include "oci/reference.hpp"

namespace berth::cli {

using nlohmann::json;

namespace {

struct Row {
  std::string repository, tag, id, digest, created_since, created_at, size;
  int64_t created = 0;  // unix seconds: the list is newest first (Docker's order)
};

// Docker's CreatedAt: Go's time.Time String() in UTC, "2006-01-02 15:04:05 +0000 UTC".
std::string docker_time(int64_t unix_seconds) {
  const time_t t = static_cast<time_t>(unix_seconds);
  struct tm tm {};
  ::gmtime_r(&t, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S +0000 UTC", &tm);
  return buf;
}

void print_table(const std::vector<Row>& rows, bool digests) {
  // Docker's tabwriter: each column as wide as its widest cell plus 3 (pad() adds them), at
  // least 10.
  auto width = [&](const char* title, std::string Row::*field) {
    size_t w = std::string_view(title).size();
    for (auto& r : rows) w = std::max(w, (r.*field).size());
    return std::max<size_t>(7, w);
  };
  const size_t w_repo = width("REPOSITORY", &Row::repository), w_tag = width("TAG", &Row::tag),
               w_dig = width("DIGEST", &Row::digest), w_id = width("IMAGE ID", &Row::id),
               w_created = width("CREATED", &Row::created_since);
  std::string head = pad("REPOSITORY", w_repo) + pad("TAG", w_tag);
  if (digests) head += pad("DIGEST", w_dig);
  head += pad("IMAGE ID", w_id) + pad("CREATED", w_created) + "SIZE";
  std::puts(head.c_str());
  for (auto& r : rows) {
    std::string line = pad(r.repository, w_repo) + pad(r.tag, w_tag);
    if (digests) line += pad(r.digest, w_dig);
    line += pad(r.id, w_id) + pad(r.created_since, w_created) + r.size;
    std::puts(line.c_str());
  }
}

}  // namespace

std::string time_ago(int64_t t) {
  if (t <= 0) return "N/A";
  int64_t d = static_cast<int64_t>(std::time(nullptr)) - t;
  if (d < 1) return "Less than a second ago";
  auto unit = [](int64_t n, const char* u) {
    return std::to_string(n) + " " + u + (n == 1 ? "" : "s") + " ago";
  };
  if (d < 60) return unit(d, "second");
  if (d < 3600) return d < 120 ? "About a minute ago" : unit(d / 60, "minute");
  if (d < 86400 * 2) return d < 7200 ? "About an hour ago" : unit(d / 3600, "hour");
  if (d < 86400 * 7 * 2) return unit(d / 86400, "day");
  if (d < 86400 * 30 * 2) return unit(d / (86400 * 7), "week");
  if (d < 86400 * 365 * 2) return unit(d / (86400 * 30), "month");
  return unit(d / (86400 * 365), "year");
}

int cmd_images(const Engine& e, int argc, char** argv, int first) {
  Args a = parse_args("images",
         {{"quiet", "q", false}, {"digests", "", false}, {"format", "", true}, {"no-trunc", "", false},
          {"all", "a", false}, {"filter", "f", true, true}},
         argc, argv, first);
  if (a.positional().size() > 1) throw Error("images: at most one REPOSITORY[:TAG] filter");
  const std::string format = a.get("format", "table");
  if (format != "table" && format != "json") format::Template::parse(format.rfind("table ", 0) == 0 ? format.substr(6) : format);
  auto svc = e.images();
  // Docker's image filters: values of one key are alternatives (labels: all must hold).
  const Filters filters("images", a.all("filter"), {"dangling", "label", "reference", "before", "since"});
  filters.check_values("dangling", {"true", "false", "1", "0"});
  int64_t before = 0, since = 0;
  for (auto& v : filters.values("before")) {
    const int64_t t = parse_rfc3339_ns(svc.resolve(v).config.created);
    before = before ? std::min(before, t) : t;
  }
  for (auto& v : filters.values("since")) since = std::max(since, parse_rfc3339_ns(svc.resolve(v).config.created));
  std::vector<Row> rows;
  std::set<std::string> quiet_ids;
  // With -a, Docker's intermediate images too: the build's steps (<none>:<none>, not dangling:
  // an image was built on them).
  for (auto& [img, intermediate] : svc.list_with_steps(a.has("all"))) {
    const bool unnamed = intermediate || image::is_dangling_name(img.record.name);
    auto ref = unnamed ? oci::Reference{} : oci::Reference::parse(img.record.name);
    oci::Reference bare = ref;
    bare.tag.clear();
    bare.digest.clear();
    std::string repo = unnamed ? "<none>" : bare.familiar();
    if (!a.positional().empty()) {
      if (unnamed) continue;
      const std::string& f = a.positional()[0];
      if (f != repo && f != ref.familiar() && f != bare.str() && f != ref.str()) continue;
    }
    const bool dangling = !intermediate && ref.tag.empty();
    if (!filters.any("dangling", [&](const std::string& v) { return (v == "true" || v == "1") == dangling; })) continue;
    if (!filters.values("reference").empty() && unnamed) continue;
    if (!filters.any("reference", [&](const std::string& v) {
          const std::string full = repo + (ref.tag.empty() ? "" : ":" + ref.tag);
          return ::fnmatch(v.c_str(), full.c_str(), 0) == 0 || ::fnmatch(v.c_str(), repo.c_str(), 0) == 0;
        }))
      continue;
    const json labels = img.config.config.is_object() ? img.config.config.value("Labels", json::object()) : json::object();
    if (!filters.all("label", [&](const std::string& v) { return has_label(labels, v); })) continue;
    const int64_t made = parse_rfc3339_ns(img.config.created);
    if ((before && made >= before) || (since && made <= since)) continue;
    Row r;
    r.repository = repo;
    r.tag = ref.tag.empty() ? "<none>" : ref.tag;
    r.id = a.has("no-trunc") ? img.id.str() : image::short_id(img.id);
    r.digest = unnamed || !image::from_registry(img.record) ? "<none>" : img.record.target.digest;
    const int64_t created = parse_rfc3339(img.config.created);
    r.created_since = time_ago(created);
    r.created_at = docker_time(created);
    r.created = created;
    r.size = image::human_size(svc.unpacked_size(img));
    rows.push_back(r);
  }
  std::stable_sort(rows.begin(), rows.end(), [](const Row& x, const Row& y) { return x.created > y.created; });
  if (a.has("quiet")) {
    for (auto& r : rows)
      if (quiet_ids.insert(r.id).second) std::puts(r.id.c_str());
    return 0;
  }
  if (format != "table") {
    std::vector<json> views;
    for (auto& r : rows)
      views.push_back({{"Repository", r.repository}, {"Tag", r.tag}, {"ID", r.id}, {"Digest", r.digest},
                       {"CreatedSince", r.created_since}, {"CreatedAt", r.created_at}, {"Size", r.size},
                       {"Containers", "N/A"}});
    static const json headers = {{"Repository", "REPOSITORY"}, {"Tag", "TAG"}, {"ID", "IMAGE ID"}, {"Digest", "DIGEST"},
                                 {"CreatedSince", "CREATED"}, {"CreatedAt", "CREATED AT"}, {"Size", "SIZE"},
                                 {"Containers", "CONTAINERS"}};
    print_list(format, "", headers, views);
    return 0;
  }
  print_table(rows, a.has("digests"));
  return 0;
}

// Docker's history: the image config's history, newest first; a non-empty step's size is its
// layer's unpacked size (the snapshot of its chain ID).
int cmd_history(const Engine& e, int argc, char** argv, int first) {
  Args a = parse_args("history", {{"human", "H", true, false, true}, {"no-trunc", "", false}, {"quiet", "q", false}, {"format", "", true}},
                      argc, argv, first);
  if (a.positional().size() != 1) throw Error("history: exactly one IMAGE is required");
  const std::string format = a.get("format", "table");
  if (format != "table" && format != "json") format::Template::parse(format.rfind("table ", 0) == 0 ? format.substr(6) : format);
  const std::string h = a.get("human", "true");
  if (h != "true" && h != "false") throw Error("history: --human takes true or false");
  const bool human = h == "true";
  const bool trunc = !a.has("no-trunc");
  auto svc = e.images();
  const image::Image img = svc.resolve(a.positional()[0]);
  std::vector<json> rows;
  for (const auto& h : svc.history(img)) {
    std::string by = h.created_by;
    for (auto& ch : by)
      if (ch == '\n' || ch == '\t') ch = ' ';
    if (trunc && by.size() > 45) by = by.substr(0, 44) + "…";
    const std::string id = h.id == "<missing>" || !trunc ? h.id : image::short_id(img.id);
    rows.push_back({{"ID", id}, {"CreatedSince", h.created ? time_ago(h.created) : std::string("N/A")},
                    {"CreatedAt", h.created ? rfc3339_nano(h.created * 1000000000).substr(0, 19) + "Z" : ""},
                    {"CreatedBy", by},
                    {"Size", h.size < 0 ? std::string("N/A") : human ? image::human_size(h.size) : std::to_string(h.size)},
                    {"Comment", h.comment}});
  }
  if (a.has("quiet")) {
    for (auto& r : rows) std::puts(r["ID"].get<std::string>().c_str());
    return 0;
  }
  static const json headers = {{"ID", "IMAGE"}, {"CreatedSince", "CREATED"}, {"CreatedAt", "CREATED AT"},
                               {"CreatedBy", "CREATED BY"}, {"Size", "SIZE"}, {"Comment", "COMMENT"}};
  print_list(format, "{{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}", headers, rows);
  return 0;
}

int cmd_image_inspect(const Engine& e, int argc, char** argv, int first) {
  Args a = parse_args("image inspect", {{"format", "f", true}}, argc, argv, first);
  if (a.positional().empty()) throw Error("image inspect: requires at least one IMAGE");
  auto svc = e.images();
  json out = json::array();
  std::vector<std::string> errors;
  for (auto& name : a.positional()) {
    try {
      out.push_back(svc.inspect(svc.resolve(name)));
    } catch (const Error& err) {
      errors.push_back(err.what());
    }
  }
  return print_inspect(a.get("format"), out, errors);
}

int cmd_tag(const Engine& e, int argc, char** argv, int first) {
  Args a = parse_args("tag", {}, argc, argv, first);
  if (a.positional().size() != 2) throw Error("tag: requires exactly 2 arguments: SOURCE TARGET");
  e.images().tag(a.positional()[0], a.positional()[1]);
  return 0;
}

int cmd_rmi(const Engine& e, int argc, char** argv, int first) {
  Args a = parse_args("rmi", {{"force", "f", false}, {"no-prune", "", false}}, argc, argv, first);
  if (a.positional().empty()) throw Error("rmi: requires at least one IMAGE");
  auto eng = make_engine(e);
  int rc = 0;
  for (auto& name : a.positional()) {
    try {
      for (auto& line : eng.remove_image(name, a.has("force"))) std::puts(line.c_str());
    } catch (const Error& err) {
      std::fprintf(stderr, "Error: %s\n", err.what());
      // Docker's CLI: with -f, an image that is not there is said, not a failure.
      if (!(a.has("force") && err.kind() == ErrorKind::not_found)) rc = 1;
    }
  }
  return rc;
}

int cmd_import(const Engine& e, int argc, char** argv, int first) {
  Args a = parse_args("import", {{"message", "m", true}, {"change", "c", true, true}, {"platform", "", true}}, argc,
         argv, first);
  if (a.positional().empty() || a.positional().size() > 2)
    throw UsageError("import: requires FILE|URL|- and, optionally, REPOSITORY[:TAG]");
  const std::string& file = a.positional()[0];
  const std::string repo = a.positional().size() > 1 ? a.positional()[1] : "";
  if (!repo.empty()) oci::Reference::parse(repo);  // a bad name: its error, before any download
  UniqueFd fd;
  int in = 0;
  if (file.rfind("http://", 0) == 0 || file.rfind("https://", 0) == 0) {
    fd = download(fetch_url, file, e.root + "/build", "import");  // Docker's `import URL`
    in = fd.get();
  } else if (file != "-") {
    fd.reset(::open(file.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) throw_errno("import: open `" + file + "`");
    in = fd.get();
  }
  image::ImportOptions opt;
  opt.message = a.get("message");
  // Docker's "Imported from SOURCE": a URL, else "-" (its CLI sends a file as the body)
  if (file.rfind("http://", 0) == 0 || file.rfind("https://", 0) == 0) opt.source = file;
  opt.edit_config = engine::import_changes(a.all("change"));
  auto svc = e.images();
  diff::Reader reader = [in, &file](void* buf, size_t n) { return fs::read_fd(in, buf, n, file); };
  auto img = svc.import(reader, repo, opt);
  std::puts(img.id.str().c_str());
  return 0;
}

// Docker's search: Docker Hub's index, or REGISTRY/TERM's registry (image/search.hpp).
int cmd_search(const Engine&, int argc, char** argv, int first) {
  Args a = parse_args("search", {{"limit", "", true}, {"filter", "f", true, true}, {"no-trunc", "", false}, {"format", "", true}},
                      argc, argv, first);
  if (a.positional().size() != 1) throw UsageError("search: requires exactly one argument: TERM");
  image::SearchOptions o;
  if (a.has("limit")) {
    const std::string v = a.get("limit");
    char* end = nullptr;
    const long n = std::strtol(v.c_str(), &end, 10);
    if (v.empty() || *end) throw UsageError("search: invalid --limit `" + v + "`");
    o.limit = static_cast<int>(std::max(-1L, std::min(n, 1000L)));
  }
  o.filters = a.all("filter");
  const std::string format = a.get("format", "table");
  if (format != "table" && format != "json") format::Template::parse(format.rfind("table ", 0) == 0 ? format.substr(6) : format);
  const bool trunc = !a.has("no-trunc");
  std::vector<json> views;
  for (const auto& r : image::search(a.positional()[0], o, fetch_url))
    views.push_back({{"Name", r.name},
                     {"Description", trunc ? cell_text(r.description, 45) : cell_text(r.description, 0)},
                     {"StarCount", std::to_string(r.stars)},
                     {"IsOfficial", r.official ? "[OK]" : ""},
                     {"IsAutomated", r.automated ? "[OK]" : ""}});
  static const json headers = {{"Name", "NAME"}, {"Description", "DESCRIPTION"}, {"StarCount", "STARS"},
                               {"IsOfficial", "OFFICIAL"}, {"IsAutomated", "AUTOMATED"}};
  print_list(format, "{{.Name}}\t{{.Description}}\t{{.StarCount}}\t{{.IsOfficial}}\t{{.IsAutomated}}", headers, views);
  return 0;
}

int cmd_system_check(const Engine& e, int argc, char** argv, int first) {
  Args a = parse_args("system check", {{"repair", "", false}}, argc, argv, first);
  auto r = make_engine(e).check(a.has("repair"));
  for (auto& l : r.repaired) std::printf("repaired: %s\n", l.c_str());
  for (auto& l : r.problems) std::printf("problem: %s\n", l.c_str());
  if (r.problems.empty()) {
    std::puts(r.repaired.empty() ? "the store is consistent" : "the store is consistent now");
    return 0;
  }
  std::printf("%zu problem%s%s\n", r.problems.size(), r.problems.size() == 1 ? "" : "s",
              a.has("repair") ? " left" : " (--repair removes orphan files and directories)");
  return 1;
}


}  // namespace berth::cli
