#include "build/ignore.hpp"

#include <fnmatch.h>

namespace berth::build {

namespace {

std::vector<std::string> split_path(std::string_view p) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i <= p.size()) {
    size_t j = p.find('/', i);
    if (j == std::string_view::npos) j = p.size();
    if (j > i) out.emplace_back(p.substr(i, j - i));
    i = j + 1;
  }
  return out;
}

bool glob(const std::string& pattern, const std::string& name) {
  // `**` inside an element is `*` there; fnmatch's `*` and `?` never match '/', and names
  // here have none.
  std::string p;
  for (size_t i = 0; i < pattern.size(); ++i) {
    if (pattern[i] == '*' && i + 1 < pattern.size() && pattern[i + 1] == '*') continue;
    p += pattern[i];
  }
  return ::fnmatch(p.c_str(), name.c_str(), 0) == 0;  // a leading dot is matched by * (Go's filepath.Match)
}

// Whether pattern elements [pi…] match path elements [si…] exactly.
bool match_from(const std::vector<std::string>& pat, size_t pi, const std::vector<std::string>& path, size_t si) {
  while (pi < pat.size()) {
    if (pat[pi] == "**") {
      // Any number of elements, zero too.
      for (size_t k = si; k <= path.size(); ++k)
        if (match_from(pat, pi + 1, path, k)) return true;
      return false;
    }
    if (si >= path.size() || !glob(pat[pi], path[si])) return false;
    ++pi;
    ++si;
  }
  return si == path.size();
}

}  // namespace

std::string clean_relative(std::string_view path) {
  std::vector<std::string> out;
  for (auto& e : split_path(path)) {
    if (e == ".") continue;
    if (e == "..") {
      if (!out.empty() && out.back() != "..") out.pop_back();
      else out.push_back("..");
      continue;
    }
    out.push_back(e);
  }
  std::string s;
  for (auto& e : out) s += (s.empty() ? "" : "/") + e;
  return s.empty() ? "." : s;
}

IgnoreRules IgnoreRules::parse(std::string_view text) {
  IgnoreRules r;
  size_t start = 0;
  while (start <= text.size()) {
    size_t nl = text.find('\n', start);
    if (nl == std::string_view::npos) nl = text.size();
    std::string_view line = text.substr(start, nl - start);
    start = nl + 1;
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t')) line.remove_suffix(1);
    while (!line.empty() && (line.front() == ' ' || line.front() == '\t')) line.remove_prefix(1);
    if (line.empty() || line.front() == '#') {
      if (nl == text.size()) break;
      continue;
    }
    Pattern p;
    if (line.front() == '!') {
      p.exclusion = true;
      line.remove_prefix(1);
      while (!line.empty() && (line.front() == ' ' || line.front() == '\t')) line.remove_prefix(1);
    }
    while (!line.empty() && line.front() == '/') line.remove_prefix(1);
    const std::string cleaned = clean_relative(line);
    if (cleaned == ".") {
      if (nl == text.size()) break;
      continue;  // "/" or "." alone: nothing (Docker ignores it)
    }
    p.parts = split_path(cleaned);
    if (p.exclusion) r.exceptions_ = true;
    r.patterns_.push_back(std::move(p));
    if (nl == text.size()) break;
  }
  return r;
}

bool IgnoreRules::excluded(std::string_view path) const {
  const std::vector<std::string> parts = split_path(clean_relative(path));
  bool out = false;
  for (const Pattern& p : patterns_) {
    bool m = false;
    // The path itself, or one of its parent directories.
    for (size_t n = 1; n <= parts.size() && !m; ++n) {
      std::vector<std::string> prefix(parts.begin(), parts.begin() + static_cast<long>(n));
      m = match_from(p.parts, 0, prefix, 0);
    }
    if (m) out = !p.exclusion;
  }
  return out;
}

}  // namespace berth::build
