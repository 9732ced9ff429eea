// Internal to diff/: directory helpers shared by apply and create. All of them work relative
// to directory fds and never follow a symlink.
#pragma once

#include <locale.h>

#include <string>
#include <string_view>
#include <vector>

namespace berth::diff::detail {

// Removes `name` in `parent_fd`, recursively if it is a directory; nothing if it is absent.
// Symlinks are removed, never followed.
void remove_tree(int parent_fd, const std::string& name, std::string_view what);

// "/proc/self/fd/<dir_fd>/<name>": a path for the l*xattr calls on an entry that cannot be
// opened (symlink, device, fifo); its last component is not followed by them.
std::string proc_path(int dir_fd, std::string_view name);

// xattrs that belong to overlayfs itself (trusted.overlay.*, user.overlay.*): never taken from
// or written into a layer.
bool is_overlay_xattr(std::string_view name);

// libarchive converts pax names (UTF-8 by the standard) to and from the charset of the current
// locale, and in the C locale it replaces every non-ASCII byte with '?'. While alive, this
// makes the calling thread's locale C.UTF-8, so that names pass through unchanged.
class Utf8Locale {
 public:
  Utf8Locale() : loc_(::newlocale(LC_CTYPE_MASK, "C.UTF-8", nullptr)) {
    if (loc_) old_ = ::uselocale(loc_);
  }
  ~Utf8Locale() {
    if (loc_) {
      ::uselocale(old_);
      ::freelocale(loc_);
    }
  }
  Utf8Locale(const Utf8Locale&) = delete;
  Utf8Locale& operator=(const Utf8Locale&) = delete;

 private:
  locale_t loc_;
  locale_t old_ = nullptr;
};

}  // namespace berth::diff::detail
