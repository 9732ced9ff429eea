#include "oci/reference.hpp"

#include "common/error.hpp"

namespace berth::oci {

namespace {

bool lower_alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

// path-component: [a-z0-9]+ ((\.|_|__|-+)[a-z0-9]+)*
bool valid_component(std::string_view c) {
  if (c.empty() || !lower_alnum(c.front()) || !lower_alnum(c.back())) return false;
  for (size_t i = 0; i < c.size();) {
    if (lower_alnum(c[i])) {
      ++i;
      continue;
    }
    size_t j = i;
    if (c[i] == '.') j = i + 1;
    else if (c[i] == '_') j = (i + 1 < c.size() && c[i + 1] == '_') ? i + 2 : i + 1;
    else if (c[i] == '-') while (j < c.size() && c[j] == '-') ++j;
    else return false;
    if (j >= c.size() || !lower_alnum(c[j])) return false;
    i = j;
  }
  return true;
}

bool valid_tag(std::string_view t) {
  if (t.empty() || t.size() > 128) return false;
  auto word = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
  };
  if (!word(t[0])) return false;
  for (char c : t)
    if (!word(c) && c != '.' && c != '-') return false;
  return true;
}

bool valid_registry(std::string_view r) {
  if (r.empty()) return false;
  std::string_view host = r, port;
  if (r.front() == '[') {  // [ipv6]:port
    auto close = r.find(']');
    if (close == std::string_view::npos) return false;
    host = r.substr(0, close + 1);
    port = close + 1 < r.size() ? r.substr(close + 1) : std::string_view();
    if (!port.empty() && port.front() != ':') return false;
    if (!port.empty()) port.remove_prefix(1);
  } else if (auto colon = r.rfind(':'); colon != std::string_view::npos) {
    host = r.substr(0, colon);
    port = r.substr(colon + 1);
    if (port.empty()) return false;
  }
  for (char c : port)
    if (c < '0' || c > '9') return false;
  if (host.front() == '[') return true;
  // The distribution grammar's domain: components of letters, digits and inner '-', joined by
  // single dots ("..", ".", "a..b", "-a.b" are none).
  auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); };
  size_t start = 0;
  for (;;) {
    const size_t dot = host.find('.', start);
    const std::string_view label = host.substr(start, dot == std::string_view::npos ? host.npos : dot - start);
    if (label.empty() || !alnum(label.front()) || !alnum(label.back())) return false;
    for (char c : label)
      if (!alnum(c) && c != '-') return false;
    if (dot == std::string_view::npos) return true;
    start = dot + 1;
  }
}

bool valid_digest(std::string_view d) {
  auto colon = d.find(':');
  if (colon == std::string_view::npos || colon == 0) return false;
  std::string_view alg = d.substr(0, colon), hex = d.substr(colon + 1);
  size_t want = alg == "sha256" ? 64 : alg == "sha512" ? 128 : 0;
  if (!want || hex.size() != want) return false;
  for (char c : hex)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

}  // namespace

Reference Reference::parse(std::string_view s) {
  auto bad = [&](const std::string& why) {
    return Error(ErrorKind::invalid_argument, "invalid reference `" + std::string(s) + "`: " + why);
  };
  if (s.empty()) throw bad("empty");
  if (s.size() > 4096) throw bad("too long");
  Reference r;
  std::string_view rest = s;
  if (auto at = rest.find('@'); at != std::string_view::npos) {
    r.digest = std::string(rest.substr(at + 1));
    if (!valid_digest(r.digest)) throw bad("invalid digest `" + r.digest + "`");
    rest = rest.substr(0, at);
  }
  // A tag is after the last ':' that comes after the last '/'.
  auto slash = rest.rfind('/');
  auto colon = rest.rfind(':');
  if (colon != std::string_view::npos && (slash == std::string_view::npos || colon > slash)) {
    r.tag = std::string(rest.substr(colon + 1));
    if (!valid_tag(r.tag)) throw bad("invalid tag `" + r.tag + "`");
    rest = rest.substr(0, colon);
  }
  if (rest.empty()) throw bad("no repository name");
  // The first component is a registry if it looks like a host (has '.' or ':' or is
  // localhost) and more components follow.
  std::string_view path = rest;
  if (auto first = rest.find('/'); first != std::string_view::npos) {
    std::string_view head = rest.substr(0, first);
    if (head.find('.') != std::string_view::npos || head.find(':') != std::string_view::npos ||
        head == "localhost" || (head.front() == '[')) {
      if (!valid_registry(head)) throw bad("invalid registry `" + std::string(head) + "`");
      r.registry = std::string(head);
      path = rest.substr(first + 1);
    }
  }
  if (r.registry.empty()) r.registry = "docker.io";
  if (r.registry == "index.docker.io" || r.registry == "registry-1.docker.io") r.registry = "docker.io";
  size_t start = 0;
  for (;;) {
    auto end = path.find('/', start);
    std::string_view comp = path.substr(start, end == std::string_view::npos ? path.npos : end - start);
    if (!valid_component(comp))
      throw bad(comp.empty() ? "empty path component"
                             : "invalid path component `" + std::string(comp) +
                                   "` (lowercase letters, digits and . _ - only)");
    if (end == std::string_view::npos) break;
    start = end + 1;
  }
  r.repository = std::string(path);
  if (r.registry == "docker.io" && r.repository.find('/') == std::string::npos)
    r.repository = "library/" + r.repository;
  if (r.name().size() > 255) throw bad("repository name longer than 255 characters");
  if (r.tag.empty() && r.digest.empty()) r.tag = "latest";
  return r;
}

bool Reference::valid(std::string_view s) {
  try {
    (void)parse(s);
    return true;
  } catch (const Error&) {
    return false;
  }
}

std::string Reference::str() const {
  std::string s = name();
  if (!tag.empty()) s += ":" + tag;
  if (!digest.empty()) s += "@" + digest;
  return s;
}

std::string Reference::familiar() const {
  std::string n = name();
  if (registry == "docker.io") {
    n = repository;
    if (n.rfind("library/", 0) == 0) n = n.substr(8);
  }
  if (!tag.empty()) n += ":" + tag;
  if (!digest.empty()) n += "@" + digest;
  return n;
}

}  // namespace berth::oci
