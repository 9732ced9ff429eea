#include "network/cni.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>

#include "common/fd.hpp"
#include "common/fs.hpp"

extern char** environ;

namespace berth::network {

using nlohmann::json;

namespace {

std::string join(const std::vector<std::string>& v, const char* sep) {
  std::string out;
  for (auto& s : v) out += (out.empty() ? "" : sep) + s;
  return out;
}

// A plugin's failure as one line: its CNI error ("msg: details"), else its stderr, else the
// exit status.
std::string failure_text(const std::string& out, const std::string& err, int status, int* code) {
  json e = json::parse(out, nullptr, false);
  if (e.is_object() && e.contains("msg")) {
    *code = e.value("code", 0);
    std::string m = e["msg"].is_string() ? e["msg"].get<std::string>() : e["msg"].dump();
    std::string d = e.value("details", "");
    return d.empty() || d == m ? m : m + ": " + d;
  }
  std::string text = err.empty() ? out : err;
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  if (auto nl = text.rfind('\n'); nl != std::string::npos) text = text.substr(nl + 1);
  if (!text.empty()) return text;
  if (WIFSIGNALED(status)) return std::string("killed by signal ") + strsignal(WTERMSIG(status));
  return "exit status " + std::to_string(WEXITSTATUS(status));
}

}  // namespace

Cni::Cni(std::vector<std::string> plugin_dirs, int timeout_ms) : dirs_(std::move(plugin_dirs)), timeout_ms_(timeout_ms) {
  if (dirs_.empty()) dirs_.push_back("/usr/lib/cni");
}

std::string Cni::find(const std::string& type) const {
  if (type.empty() || type.find('/') != std::string::npos || type == "." || type == "..")
    throw Error("invalid CNI plugin type `" + type + "`");
  for (auto& d : dirs_) {
    std::string p = d + "/" + type;
    if (::access(p.c_str(), X_OK) == 0) return p;
  }
  throw Error("CNI plugin " + type + " not found in " + join(dirs_, ":"));
}

void Cni::validate(const json& conflist) {
  if (!conflist.is_object()) throw Error("a CNI configuration list must be a JSON object");
  if (!conflist.contains("name") || !conflist["name"].is_string() || conflist["name"].get<std::string>().empty())
    throw Error("CNI configuration list without a name");
  const std::string name = conflist["name"];
  if (!conflist.contains("plugins") || !conflist["plugins"].is_array() || conflist["plugins"].empty())
    throw Error("CNI configuration list " + name + " has no plugins");
  for (auto& p : conflist["plugins"])
    if (!p.is_object() || !p.contains("type") || !p["type"].is_string())
      throw Error("CNI configuration list " + name + ": a plugin without a type");
}

void Cni::check_plugins(const json& conflist) const {
  validate(conflist);
  for (auto& p : conflist["plugins"]) find(p["type"].get<std::string>());
}

json Cni::plugin_config(const json& conflist, const json& plugin, const Attachment& at, const json& prev_result) {
  json cfg = plugin;
  cfg["name"] = conflist["name"];
  cfg["cniVersion"] = conflist.value("cniVersion", "1.0.0");
  cfg.erase("capabilities");
  json rc = json::object();
  if (plugin.contains("capabilities") && plugin["capabilities"].is_object())
    for (auto& [cap, on] : plugin["capabilities"].items())
      if (on.is_boolean() && on.get<bool>() && at.capability_args.contains(cap)) rc[cap] = at.capability_args[cap];
  if (!rc.empty()) cfg["runtimeConfig"] = rc;
  if (!prev_result.is_null()) cfg["prevResult"] = prev_result;
  return cfg;
}

json Cni::exec(const std::string& command, const json& config, const Attachment& at) const {
  const std::string type = config.value("type", "");
  const std::string path = find(type);
  const std::string input = config.dump();

  std::vector<std::string> env_store = {"CNI_COMMAND=" + command, "CNI_CONTAINERID=" + at.container_id,
                                        "CNI_NETNS=" + at.netns, "CNI_IFNAME=" + at.ifname,
                                        "CNI_ARGS=" + at.args, "CNI_PATH=" + join(dirs_, ":")};
  bool has_path = false;
  for (char** e = environ; *e; ++e) {
    if (std::strncmp(*e, "CNI_", 4) == 0) continue;
    if (std::strncmp(*e, "PATH=", 5) == 0) has_path = true;
    env_store.emplace_back(*e);
  }
  if (!has_path) env_store.emplace_back("PATH=/usr/sbin:/usr/bin:/sbin:/bin");
  std::vector<char*> envp;
  for (auto& s : env_store) envp.push_back(s.data());
  envp.push_back(nullptr);

  int in[2], out[2], err[2];
  if (::pipe2(in, O_CLOEXEC) < 0) throw_errno("pipe");
  UniqueFd in_r(in[0]), in_w(in[1]);
  if (::pipe2(out, O_CLOEXEC) < 0) throw_errno("pipe");
  UniqueFd out_r(out[0]), out_w(out[1]);
  if (::pipe2(err, O_CLOEXEC) < 0) throw_errno("pipe");
  UniqueFd err_r(err[0]), err_w(err[1]);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, in_r.get(), 0);
  posix_spawn_file_actions_adddup2(&fa, out_w.get(), 1);
  posix_spawn_file_actions_adddup2(&fa, err_w.get(), 2);
  posix_spawn_file_actions_addclosefrom_np(&fa, 3);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none;
  sigemptyset(&none);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETPGROUP);
  posix_spawnattr_setpgroup(&attr, 0);
  char* argv[] = {const_cast<char*>(path.c_str()), nullptr};
  pid_t pid = 0;
  int rc = ::posix_spawn(&pid, path.c_str(), &fa, &attr, argv, envp.data());
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) throw Error("CNI plugin " + type + ": cannot run " + path + ": " + std::strerror(rc));
  in_r.reset();
  out_w.reset();
  err_w.reset();
  ::fcntl(in_w.get(), F_SETFL, O_NONBLOCK);

  std::string sout, serr;
  size_t written = 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms_);
  bool timed_out = false;
  while (out_r || err_r) {
    pollfd p[3];
    int n = 0;
    if (in_w) p[n++] = {in_w.get(), POLLOUT, 0};
    if (out_r) p[n++] = {out_r.get(), POLLIN, 0};
    if (err_r) p[n++] = {err_r.get(), POLLIN, 0};
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count();
    if (left <= 0) {
      timed_out = true;
      break;
    }
    int r = ::poll(p, static_cast<nfds_t>(n), static_cast<int>(left));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) break;
    for (int i = 0; i < n; ++i) {
      if (!p[i].revents) continue;
      if (in_w && p[i].fd == in_w.get()) {
        ssize_t w = ::write(in_w.get(), input.data() + written, input.size() - written);
        if (w > 0) written += static_cast<size_t>(w);
        if (w < 0 && errno != EAGAIN && errno != EINTR) written = input.size();
        if (written >= input.size()) in_w.reset();
        continue;
      }
      char buf[16384];
      UniqueFd& fd = p[i].fd == out_r.get() ? out_r : err_r;
      ssize_t got = ::read(fd.get(), buf, sizeof buf);
      if (got > 0) {
        std::string& dst = &fd == &out_r ? sout : serr;
        if (dst.size() < (8u << 20)) dst.append(buf, static_cast<size_t>(got));
      } else if (got == 0 || (errno != EINTR && errno != EAGAIN)) {
        fd.reset();
      }
    }
  }
  if (timed_out) ::kill(-pid, SIGKILL), ::kill(pid, SIGKILL);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (timed_out)
  {
    char secs[32];
    std::snprintf(secs, sizeof secs, "%.1f", timeout_ms_ / 1000.0);
    throw PluginError("CNI plugin " + type + " (" + command + "): no answer after " + secs + " s: killed", 0);
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    int code = 0;
    std::string why = failure_text(sout, serr, status, &code);
    throw PluginError("CNI plugin " + type + " (" + command + "): " + why, code);
  }
  if (sout.find_first_not_of(" \t\r\n") == std::string::npos) return json();
  json result = json::parse(sout, nullptr, false);
  if (result.is_discarded()) throw PluginError("CNI plugin " + type + " (" + command + "): its output is not JSON", 0);
  return result;
}

// portmap without port mappings passes the previous result through and deletes nothing: not
// starting it saves a process (~10 ms here) per ADD and DEL of every container without -p.
static bool skipped(const json& plugin, const Attachment& at) {
  return plugin.value("type", "") == "portmap" && !at.capability_args.contains("portMappings");
}

size_t Cni::port_tail(const json& conflist) {
  const json& plugins = conflist["plugins"];
  size_t i = plugins.size();
  while (i > 0 && plugins[i - 1].value("type", "") == "portmap") --i;
  return i;
}

json Cni::add(const json& conflist, const Attachment& at) const { return add_from(conflist, at, json(), 0); }

json Cni::add_from(const json& conflist, const Attachment& at, const json& prev_result, size_t first) const {
  check_plugins(conflist);
  json prev = prev_result;
  const json& plugins = conflist["plugins"];
  for (size_t i = first; i < plugins.size(); ++i) {
    if (skipped(plugins[i], at)) continue;
    try {
      json r = exec("ADD", plugin_config(conflist, plugins[i], at, prev), at);
      if (!r.is_null()) prev = std::move(r);
    } catch (const Error&) {
      // Undo what the plugins before did (libcni leaves that to the runtime; the runtime is us).
      for (size_t j = i + 1; j-- > first;) {
        if (skipped(plugins[j], at)) continue;
        try {
          exec("DEL", plugin_config(conflist, plugins[j], at, prev), at);
        } catch (const Error&) {
        }
      }
      throw;
    }
  }
  return prev;
}

void Cni::del(const json& conflist, const Attachment& at, const json& prev_result) const {
  validate(conflist);
  const json& plugins = conflist["plugins"];
  std::string first_error;
  int first_code = 0;
  for (size_t j = plugins.size(); j-- > 0;) {
    if (skipped(plugins[j], at)) continue;
    try {
      exec("DEL", plugin_config(conflist, plugins[j], at, prev_result), at);
    } catch (const Error& e) {
      if (first_error.empty()) {
        first_error = e.what();
        if (auto* pe = dynamic_cast<const PluginError*>(&e)) first_code = pe->cni_code();
      }
    }
  }
  if (!first_error.empty()) throw PluginError(first_error, first_code);
}

void Cni::check(const json& conflist, const Attachment& at, const json& prev_result) const {
  check_plugins(conflist);
  for (auto& p : conflist["plugins"])
    if (!skipped(p, at)) exec("CHECK", plugin_config(conflist, p, at, prev_result), at);
}

void Cni::stop_adds(const std::string& container_id) {
  const std::string want_cmd = std::string("CNI_COMMAND=ADD") + '\0';
  const std::string want_id = "CNI_CONTAINERID=" + container_id + '\0';
  for (int round = 0; round < 100; ++round) {
    bool found = false;
    if (DIR* d = ::opendir("/proc")) {
      while (auto* e = ::readdir(d)) {
        if (e->d_name[0] < '1' || e->d_name[0] > '9') continue;
        // Not fs::read_file: a process we may not read (PID 1 here) or one gone meanwhile is
        // not ours to stop.
        std::string env(1, '\0');
        UniqueFd fd(::open((std::string("/proc/") + e->d_name + "/environ").c_str(), O_RDONLY | O_CLOEXEC));
        if (!fd) continue;
        char buf[8192];
        ssize_t n;
        while ((n = ::read(fd.get(), buf, sizeof buf)) > 0) env.append(buf, static_cast<size_t>(n));
        if (env.find('\0' + want_cmd) == std::string::npos || env.find('\0' + want_id) == std::string::npos) continue;
        found = true;
        ::kill(std::atoi(e->d_name), SIGKILL);
      }
      ::closedir(d);
    }
    if (!found) return;
    ::usleep(20000);  // until the killed ones are gone (their parents reap them)
  }
}

ResultAddress first_ipv4(const json& result) {
  ResultAddress a;
  if (!result.is_object()) return a;
  for (auto& ip : result.value("ips", json::array())) {
    std::string addr = ip.value("address", "");
    if (addr.find(':') != std::string::npos || addr.empty()) continue;
    a.cidr = addr;
    a.ip = addr.substr(0, addr.find('/'));
    a.prefix = addr.find('/') == std::string::npos ? 32 : std::atoi(addr.c_str() + addr.find('/') + 1);
    a.gateway = ip.value("gateway", "");
    if (ip.contains("interface") && ip["interface"].is_number_integer()) {
      auto idx = ip["interface"].get<size_t>();
      auto ifs = result.value("interfaces", json::array());
      if (idx < ifs.size()) a.mac = ifs[idx].value("mac", "");
    }
    break;
  }
  return a;
}

}  // namespace berth::network
