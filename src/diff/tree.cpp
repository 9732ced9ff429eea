#include "diff/tree.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "common/error.hpp"
#include "common/fd.hpp"
#include "common/fs.hpp"

namespace berth::diff::detail {

void remove_tree(int parent_fd, const std::string& name, std::string_view what) {
  // fs::remove_all walks iteratively with bounded fds (a layer may whiteout a directory tree
  // of any depth); the parent is reached through its fd, the name itself is not followed.
  try {
    fs::remove_all(proc_path(parent_fd, name));
  } catch (const Error& e) {
    throw Error("remove `" + std::string(what) + "`: " + e.what(), e.code());
  }
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
