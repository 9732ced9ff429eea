#include "image/search.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <cctype>
#include <cstdlib>

#include <nlohmann/json.hpp>

#include "common/error.hpp"
#include "common/fd.hpp"
#include "common/fs.hpp"
#include "common/strings.hpp"

namespace berth::image {

namespace {

Error bad(const std::string& msg) { return Error(ErrorKind::invalid_argument, "search: " + msg); }

bool loopback(const std::string& host) {
  const std::string h = host.substr(0, host.rfind(':') == std::string::npos || host[0] == '[' ? host.size() : host.rfind(':'));
  return h == "localhost" || h.rfind("127.", 0) == 0 || h == "[::1]";
}

struct Filters {
  int official = -1, automated = -1;  // -1: either
  int64_t stars = 0;
};

Filters parse_filters(const std::vector<std::string>& given) {
  Filters f;
  for (const std::string& kv : given) {
    const auto eq = kv.find('=');
    const std::string k = kv.substr(0, eq), v = eq == std::string::npos ? "" : kv.substr(eq + 1);
    auto boolean = [&]() {
      if (v == "true" || v == "1") return 1;
      if (v == "false" || v == "0") return 0;
      throw bad("invalid filter '" + kv + "': " + k + " takes true or false");
    };
    if (k == "is-official") {
      f.official = boolean();
    } else if (k == "is-automated") {
      f.automated = boolean();
    } else if (k == "stars") {
      char* end = nullptr;
      const long long n = std::strtoll(v.c_str(), &end, 10);
      if (v.empty() || *end || n < 0) throw bad("invalid filter '" + kv + "': stars takes a number");
      f.stars = n;
    } else {
      throw bad("invalid filter '" + k + "'");
    }
  }
  return f;
}

}  // namespace

std::string search_url(const std::string& term_given, const SearchOptions& o) {
  if (o.limit < 1 || o.limit > 100) throw bad("limit " + std::to_string(o.limit) + " is outside the range of [1, 100]");
  parse_filters(o.filters);
  std::string registry = "docker.io", term = term_given;
  // "REGISTRY/TERM": the first part names a registry when it looks like a host (Docker's rule).
  if (const auto slash = term.find('/'); slash != std::string::npos) {
    const std::string first = term.substr(0, slash);
    if (first.find_first_of(".:") != std::string::npos || first == "localhost") {
      registry = first;
      term = term.substr(slash + 1);
    }
  }
  if (term.empty() || term.find_first_of(" \t\r\n") != std::string::npos) throw bad("invalid term `" + term_given + "`");
  const std::string base = registry == "docker.io" || registry == "index.docker.io" || registry == "registry-1.docker.io"
                               ? "https://index.docker.io"
                               : (loopback(registry) ? "http://" : "https://") + registry;
  return base + "/v1/search?q=" + url_escape(term) + "&n=" + std::to_string(o.limit);
}

std::vector<SearchResult> search(const std::string& term, const SearchOptions& o,
                                 const std::function<int64_t(const std::string&, int)>& fetch) {
  const std::string url = search_url(term, o);
  const Filters f = parse_filters(o.filters);
  if (!fetch) throw bad("not available here");
  UniqueFd fd(::memfd_create("berth-search", MFD_CLOEXEC));
  if (!fd) throw_errno("search: memfd");
  try {
    fetch(url, fd.get());
  } catch (const std::exception& e) {
    throw Error(ErrorKind::unavailable, std::string("search: ") + e.what());
  }
  if (::lseek(fd.get(), 0, SEEK_SET) < 0) throw_errno("search: seek");
  std::string body;
  char buf[65536];
  for (size_t n; (n = fs::read_fd(fd.get(), buf, sizeof buf, "the search's answer")) > 0;) {
    body.append(buf, n);
    if (body.size() > (8u << 20)) throw bad("the answer of " + url + " is larger than 8 MiB");
  }
  const nlohmann::json j = nlohmann::json::parse(body, nullptr, false);
  if (!j.is_object() || !j.contains("results") || !j["results"].is_array())
    throw Error(ErrorKind::unavailable, "search: " + url + " did not answer with search results");
  std::vector<SearchResult> out;
  for (const auto& r : j["results"]) {
    if (!r.is_object()) continue;
    SearchResult s;
    try {  // a result with fields of the wrong types is left out
      s.name = r.value("name", "");
      s.description = r.value("description", "");
      s.stars = r.value("star_count", int64_t{0});
      s.official = r.value("is_official", false);
      s.automated = r.value("is_automated", false);
    } catch (const nlohmann::json::exception&) {
      continue;
    }
    if (s.name.empty()) continue;
    if (f.official >= 0 && s.official != (f.official == 1)) continue;
    if (f.automated >= 0 && s.automated != (f.automated == 1)) continue;
    if (s.stars < f.stars) continue;
    out.push_back(std::move(s));
    if (static_cast<int>(out.size()) >= o.limit) break;
  }
  return out;
}

}  // namespace berth::image
