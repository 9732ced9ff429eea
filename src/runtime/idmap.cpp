#include "runtime/idmap.hpp"

#include <fcntl.h>
#include <linux/mount.h>
#include <sched.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>

#include "common/error.hpp"
#include "common/fs.hpp"

namespace berth::runtime {

std::string id_map_text(const std::vector<oci::IdMapping>& maps) {
  std::string s;
  for (auto& m : maps)
    s += std::to_string(m.containerID) + " " + std::to_string(m.hostID) + " " +
         std::to_string(m.size) + "\n";
  return s;
}

UniqueFd userns_with_mappings(const std::vector<oci::IdMapping>& uids,
                              const std::vector<oci::IdMapping>& gids) {
  int p[2];
  if (::pipe2(p, O_CLOEXEC) < 0) throw_errno("pipe");
  UniqueFd rd(p[0]), wr(p[1]);
  long rc = ::syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0);
  if (rc < 0) throw_errno("clone a user namespace for an idmapped mount");
  if (rc == 0) {
    // Lives until the parent has the namespace fd (it closes the pipe), then goes away.
    wr.reset();
    char c;
    while (::read(rd.get(), &c, 1) < 0 && errno == EINTR) {
    }
    ::_exit(0);
  }
  const pid_t pid = static_cast<pid_t>(rc);
  rd.reset();
  auto reap = [&] {
    wr.reset();
    while (::waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
    }
  };
  try {
    const std::string base = "/proc/" + std::to_string(pid) + "/";
    fs::write_file(base + "uid_map", id_map_text(uids));
    fs::write_file(base + "gid_map", id_map_text(gids));
    UniqueFd ns(::open((base + "ns/user").c_str(), O_RDONLY | O_CLOEXEC));
    if (!ns) throw_errno("open the user namespace of an idmapped mount");
    reap();
    return ns;
  } catch (...) {
    reap();
    throw;
  }
}

UniqueFd make_idmapped_tree(const oci::Mount& m, const std::string& bundle, int container_userns) {
  const std::string what = "mount `" + m.destination + "` (idmap)";
  bool recursive = false, rec_idmap = false;
  for (auto& o : m.options) {
    if (o == "rbind") recursive = true;
    if (o == "ridmap") rec_idmap = recursive = true;
  }
  UniqueFd own_ns;
  int userns = container_userns;
  if (!m.uidMappings.empty()) {
    own_ns = userns_with_mappings(m.uidMappings, m.gidMappings);
    userns = own_ns.get();
  }
  if (userns < 0)
    throw Error(what + ": needs uidMappings/gidMappings or a user namespace in the container");
  std::string src = m.source;
  if (src.empty()) throw Error(what + ": a bind mount needs a source");
  if (src[0] != '/') src = fs::join(bundle, src);
  UniqueFd tree(static_cast<int>(
      ::syscall(SYS_open_tree, AT_FDCWD, src.c_str(),
                OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | (recursive ? AT_RECURSIVE : 0))));
  if (!tree) throw_errno(what + ": open_tree `" + src + "`");
  struct mount_attr attr {};
  attr.attr_set = MOUNT_ATTR_IDMAP;
  attr.userns_fd = static_cast<uint64_t>(userns);
  if (::syscall(SYS_mount_setattr, tree.get(), "", AT_EMPTY_PATH | (rec_idmap ? AT_RECURSIVE : 0),
                &attr, sizeof attr) < 0) {
    int err = errno;
    if (err == EINVAL)
      throw Error(what + ": the filesystem of `" + src + "` does not support idmapped mounts");
    throw_errno(what + ": mount_setattr(MOUNT_ATTR_IDMAP)", err);
  }
  return tree;
}

void attach_tree(int tree, int target, const std::string& destination) {
  if (::syscall(SYS_move_mount, tree, "", target, "",
                MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
    throw_errno("mount `" + destination + "` (idmap): move_mount");
}

}  // namespace berth::runtime
