// The layer applier on hostile tars: into a fresh directory each time, and nothing may appear
// next to it (a path that escaped).
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>

#include "common/error.hpp"
#include "common/fd.hpp"
#include "common/fs.hpp"
#include "diff/layer.hpp"

namespace {

std::string g_base;

// The directory goes at exit (libFuzzer ends a timed run with exit()): each run left one.
void remove_base() {
  try {
    if (!g_base.empty()) berth::fs::remove_all(g_base);
  } catch (...) {
  }
}

std::string make_base() {
  char tmpl[] = "/tmp/berth-fuzz-layer.XXXXXX";
  if (!::mkdtemp(tmpl)) std::abort();
  g_base = tmpl;
  std::atexit(remove_base);
  return tmpl;
}

size_t entries(const std::string& dir) {
  size_t n = 0;
  if (DIR* d = ::opendir(dir.c_str())) {
    while (dirent* e = ::readdir(d))
      if (std::strcmp(e->d_name, ".") && std::strcmp(e->d_name, "..")) ++n;
    ::closedir(d);
  }
  return n;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string base = make_base();
  const std::string root = base + "/root";
  berth::fs::remove_all(root);
  if (::mkdir(root.c_str(), 0755) < 0) std::abort();
  berth::UniqueFd dest(::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  size_t off = 0;
  berth::diff::Reader reader = [&](void* buf, size_t n) {
    size_t k = std::min(n, size - off);
    std::memcpy(buf, data + off, k);
    off += k;
    return k;
  };
  try {
    berth::diff::apply_layer(reader, berth::diff::Compression::none, dest.get());
  } catch (const berth::Error&) {
  }
  if (entries(base) != 1) std::abort();  // something was made outside root
  return 0;
}
