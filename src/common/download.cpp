#include "common/download.hpp"

#include <fcntl.h>
#include <unistd.h>

#include "common/error.hpp"
#include "common/fs.hpp"

namespace berth {

UniqueFd download(const Fetch& fetch, const std::string& url, const std::string& dir, const std::string& what) {
  if (!fetch) throw Error(ErrorKind::invalid_argument, what + ": downloads are not available here");
  fs::mkdir_p(dir, 0700);
  UniqueFd fd(::open(dir.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600));
  if (!fd) throw_errno(what + ": a temporary file in `" + dir + "`");
  try {
    fetch(url, fd.get());
  } catch (const std::exception& e) {
    throw Error(ErrorKind::invalid_argument, what + ": " + e.what());
  }
  if (::lseek(fd.get(), 0, SEEK_SET) < 0) throw_errno(what + ": seek");
  return fd;
}

}  // namespace berth
