// Engine::watch_monitors: a daemon's watch over the containers' monitors (Docker's restart
// manager, for the case the shims cannot handle themselves: their own death).
//
// A shim restarts its container in place when the policy says so; what no shim can do is
// outlive a SIGKILL (or the OOM killer) of itself: the container dies with it (parent-death
// signal) and nothing records it until a command looks. Docker's daemon learns it from
// containerd at once and restarts such a container by its policy; berthd does the same here.
// New shims are found by inotify (a container directory created, its shim.pid written), their
// ends by pidfds: nothing is polled.
#include <fcntl.h>
#include <poll.h>
#include <sys/inotify.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <vector>

#include "common/fd.hpp"
#include "common/fs.hpp"
#include "common/log.hpp"
#include "engine/engine.hpp"
#include "engine/model.hpp"
#include "shim/files.hpp"

namespace berth::engine {

void Engine::watch_monitors(const std::atomic<bool>& stop) {
  const std::string root = opts_.state + "/" + opts_.images.ns + "/containers";
  fs::mkdir_p(root, 0700);
  UniqueFd in(::inotify_init1(IN_NONBLOCK | IN_CLOEXEC));
  if (!in) {
    log::warn(std::string("monitor watch: inotify: ") + std::strerror(errno) + " (a killed shim's container is not restarted)");
    return;
  }
  const int root_wd = ::inotify_add_watch(in.get(), root.c_str(), IN_CREATE | IN_MOVED_TO | IN_ONLYDIR);
  if (root_wd < 0) {
    log::warn("monitor watch: " + root + ": " + std::strerror(errno));
    return;
  }
  std::map<int, std::string> dirs;   // inotify watch → container id
  std::map<int, std::string> shims;  // pidfd → container id
  std::map<std::string, UniqueFd> pidfds;
  auto watch_shim = [&](const std::string& id) {
    if (pidfds.count(id)) return;
    const std::string dir = container_dir(id);
    try {
      const pid_t pid = shim::live_shim(dir);
      if (pid <= 0) return;
      UniqueFd fd(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
      // The pid checked again once held: it is still that shim (not a pid reused meanwhile).
      if (!fd || shim::live_shim(dir) != pid) return;
      shims[fd.get()] = id;
      pidfds[id] = std::move(fd);
    } catch (const std::exception& e) {
      log::debug("monitor watch: " + id.substr(0, 12) + ": " + e.what());
    }
  };
  auto watch_dir = [&](const std::string& id) {
    const int wd = ::inotify_add_watch(in.get(), (root + "/" + id).c_str(), IN_MOVED_TO | IN_CLOSE_WRITE);
    if (wd >= 0) dirs[wd] = id;
    watch_shim(id);  // written before the watch
  };
  {
    UniqueFd d(::open(root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (d)
      for (const std::string& name : fs::list_dir(d.get(), root))
        if (is_container_id(name)) watch_dir(name);
  }

  // A shim is gone: its container's record brought up to date (reconcile); started again
  // when its policy wants it running and no user stopped it — as Docker's daemon does after
  // containerd reports the task's exit. A shim that ended as it should wrote the exit first
  // (a stop, an rm -f — which tell it not to restart —, a policy done with its container) or
  // took the directory along (--rm): nothing for us then. Only a killed one leaves neither.
  auto ended = [&](const std::string& id) {
    try {
      const std::string dir = container_dir(id);
      if (!fs::is_dir(dir) || shim::read_exit_record(dir)) return;
      Container c = lookup(id);
      const State s = state(c);
      if (s.removed || s.running() || s.status == Status::restarting || !s.started) return;
      const shim::RestartPolicy policy = restart_policy(c.host_config());
      const bool by_user = c.data.value("State", nlohmann::json::object()).value("ManuallyStopped", false);
      const bool wanted = !by_user && (policy.name == "always" || policy.name == "unless-stopped" ||
                                       (policy.name == "on-failure" && policy.due(s.exit_code, s.restarts)));
      if (!wanted) return;
      log::info("container " + c.rec.name + ": its monitor died (" + s.error + "): started again (restart policy " + policy.name + ")");
      start(id);
    } catch (const Error& e) {
      if (e.kind() != ErrorKind::not_found) log::warn("monitor watch: " + id.substr(0, 12) + ": " + e.what());
    } catch (const std::exception& e) {
      log::warn("monitor watch: " + id.substr(0, 12) + ": " + e.what());
    }
  };

  std::vector<char> buf(64 * 1024);
  while (!stop) {
    std::vector<pollfd> p = {{in.get(), POLLIN, 0}};
    for (const auto& [fd, id] : shims) p.push_back({fd, POLLIN, 0});
    // A second at most between looks at `stop`: the daemon's exit waits for no more.
    const int r = ::poll(p.data(), p.size(), 1000);
    if (r < 0 && errno != EINTR) {
      log::warn(std::string("monitor watch: poll: ") + std::strerror(errno));
      return;
    }
    if (r <= 0) continue;
    for (size_t i = 1; i < p.size(); ++i) {
      if (!(p[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      const std::string id = shims[p[i].fd];
      shims.erase(p[i].fd);
      pidfds.erase(id);
      ended(id);
      watch_shim(id);  // started again: its new shim
    }
    if (!(p[0].revents & POLLIN)) continue;
    for (;;) {
      const ssize_t n = ::read(in.get(), buf.data(), buf.size());
      if (n <= 0) break;
      for (ssize_t off = 0; off < n;) {
        const auto* ev = reinterpret_cast<const inotify_event*>(buf.data() + off);
        off += static_cast<ssize_t>(sizeof(inotify_event) + ev->len);
        const std::string name = ev->len ? std::string(ev->name) : std::string();
        if (ev->wd == root_wd) {
          if (is_container_id(name)) watch_dir(name);
        } else if (ev->mask & IN_IGNORED) {
          dirs.erase(ev->wd);  // its directory is gone
        } else if (name == "shim.pid") {
          if (auto it = dirs.find(ev->wd); it != dirs.end()) watch_shim(it->second);
        }
      }
    }
  }
}

}  // namespace berth::engine
