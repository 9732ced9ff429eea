// `search` (Docker's): a registry's v1 search endpoint — Docker Hub's index
// (https://index.docker.io/v1/search) for a plain term, REGISTRY/v1/search for "REGISTRY/TERM"
// (http for a loopback registry, as Docker's daemon reaches those) — its results filtered as
// Docker's daemon filters them.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace berth::image {

struct SearchResult {
  std::string name, description;
  int64_t stars = 0;
  bool official = false, automated = false;
};

struct SearchOptions {
  int limit = 25;                    // 1..100 (Docker's bounds)
  std::vector<std::string> filters;  // "is-official=true", "is-automated=false", "stars=N"
};

// The URL the search of `term` asks. Throws berth::Error (invalid_argument) for a bad term,
// limit or filter.
std::string search_url(const std::string& term, const SearchOptions& o);

// Runs the search through `fetch` (a GET of the URL into an fd: the registry module's) and
// returns the results that pass the filters. Throws berth::Error with one line: the fetch's
// own words, or an answer that is not the v1 search's JSON.
std::vector<SearchResult> search(const std::string& term, const SearchOptions& o,
                                 const std::function<int64_t(const std::string&, int)>& fetch);

}  // namespace berth::image
