#include "diff/tree.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "common/error.hpp"
#include "common/fd.hpp"

namespace berth::diff::detail {

std::vector<std::string> list_dir(int dir_fd, std::string_view what) {
  int fd = ::openat(dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) throw_errno("open directory `" + std::string(what) + "`");
  DIR* d = ::fdopendir(fd);
  if (!d) {
    int err = errno;
    ::close(fd);
    throw_errno("open directory `" + std::string(what) + "`", err);
  }
  std::vector<std::string> names;
  for (;;) {
    errno = 0;
    dirent* de = ::readdir(d);
    if (!de) break;
    std::string_view n = de->d_name;
    if (n == "." || n == "..") continue;
    names.emplace_back(n);
  }
  int err = errno;
  ::closedir(d);
  if (err) throw_errno("read directory `" + std::string(what) + "`", err);
  std::sort(names.begin(), names.end());
  return names;
}

void remove_tree(int parent_fd, const std::string& name, std::string_view what) {
  if (::unlinkat(parent_fd, name.c_str(), 0) == 0 || errno == ENOENT) return;
  if (errno != EISDIR) throw_errno("remove `" + std::string(what) + "`");
  {
    UniqueFd dir(
        ::openat(parent_fd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!dir) throw_errno("open `" + std::string(what) + "`");
    for (const auto& child : list_dir(dir.get(), what))
      remove_tree(dir.get(), child, std::string(what) + "/" + child);
  }
  if (::unlinkat(parent_fd, name.c_str(), AT_REMOVEDIR) < 0 && errno != ENOENT)
    throw_errno("remove `" + std::string(what) + "`");
}

std::string proc_path(int dir_fd, std::string_view name) {
  std::string p = "/proc/self/fd/" + std::to_string(dir_fd);
  p += '/';
  p += name;
  return p;
}

bool is_overlay_xattr(std::string_view name) {
  return name.starts_with("trusted.overlay.") || name.starts_with("user.overlay.");
}

}  // namespace berth::diff::detail
