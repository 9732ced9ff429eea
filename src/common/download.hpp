// A URL fetched into a file that has no name (O_TMPFILE): nothing of it stays, whatever happens.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "common/fd.hpp"

namespace berth {

// A GET of `url` into an fd (the registry modules' libcurl: `berth`'s fetch_url, berthd's
// Settings::fetch); returns the Last-Modified time (0: none).
using Fetch = std::function<int64_t(const std::string& url, int fd)>;

// `url` fetched into a file without a name in `dir` (made 0700 if missing), positioned at its
// start. A failed fetch is an invalid_argument error "WHAT: <the fetch's words>".
UniqueFd download(const Fetch& fetch, const std::string& url, const std::string& dir, const std::string& what);

}  // namespace berth
