#include "engine/runtimes.hpp"

#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>

#include "common/digest.hpp"
#include "common/error.hpp"
#include "common/fs.hpp"
#include "common/process.hpp"
#include "common/strings.hpp"
#include "oci/spec.hpp"
#include "runtime/container.hpp"

namespace berth::engine {

using nlohmann::json;

namespace {

// `name` on PATH; empty when it is not there.
std::string on_path(const std::string& name) {
  const char* path = std::getenv("PATH");
  for (const auto& d : split(path ? path : "/usr/local/bin:/usr/bin:/bin", ':'))
    if (!d.empty() && ::access((d + "/" + name).c_str(), X_OK) == 0) return d + "/" + name;
  return "";
}

bool executable_file(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(path.c_str(), X_OK) == 0;
}

// The runtime's own words from what it wrote: runc's logrus line `level=error msg="…"` (its
// message unquoted), else the last non-empty line (crun: "crun: …"; runsc: the error line).
std::string runtime_words(const std::string& out) {
  std::string last;
  for (const auto& line : split(out, '\n')) {
    if (line.find_first_not_of(" \t") == std::string::npos) continue;
    last = line;
    const auto m = line.find("msg=\"");
    if (m == std::string::npos) continue;
    std::string msg;
    for (size_t i = m + 5; i < line.size() && line[i] != '"'; ++i) {
      if (line[i] == '\\' && i + 1 < line.size()) ++i;
      msg += line[i];
    }
    last = msg;
  }
  return last;
}

}  // namespace

Runtimes::Runtimes() {
  table_[kBuiltin] = Runtime{};
  for (const char* name : {"runc", "crun"})
    if (std::string p = on_path(name); !p.empty()) table_[name] = Runtime{p, {}, false};
}

void Runtimes::configure(const json& j, const std::string& file) {
  if (j.contains("runtimes")) {
    const std::string shape = file + ": runtimes: want {\"NAME\": {\"path\": \"/usr/bin/runsc\", \"runtimeArgs\": [\"…\"]}}";
    if (!j["runtimes"].is_object()) throw Error(ErrorKind::invalid_argument, shape);
    for (const auto& [name, v] : j["runtimes"].items()) {
      if (name == kBuiltin)
        throw Error(ErrorKind::invalid_argument, file + ": runtimes: the name `berth` is berth's own runtime and cannot be redefined");
      if (name.empty() || name.find_first_of("/ \t") != std::string::npos)
        throw Error(ErrorKind::invalid_argument, file + ": runtimes: `" + name + "` is not a runtime name");
      if (!v.is_object() || !v.contains("path") || !v["path"].is_string() || v["path"].get<std::string>().empty())
        throw Error(ErrorKind::invalid_argument, file + ": runtimes: " + name + ": want a \"path\"");
      for (const auto& [k, _] : v.items())
        if (k != "path" && k != "runtimeArgs")
          throw Error(ErrorKind::invalid_argument, file + ": runtimes: " + name + ": `" + k + "` is not supported (path, runtimeArgs)");
      Runtime r;
      r.configured = true;
      r.path = v["path"].get<std::string>();
      if (r.path[0] != '/') {
        // Docker looks a bare name up on PATH; kept as given when it is not there (yet).
        if (std::string p = on_path(r.path); !p.empty()) r.path = p;
      }
      if (v.contains("runtimeArgs")) {
        if (!v["runtimeArgs"].is_array()) throw Error(ErrorKind::invalid_argument, file + ": runtimes: " + name + ": runtimeArgs: want an array of strings");
        for (const auto& a : v["runtimeArgs"]) {
          if (!a.is_string()) throw Error(ErrorKind::invalid_argument, file + ": runtimes: " + name + ": runtimeArgs: want an array of strings");
          r.args.push_back(a.get<std::string>());
        }
      }
      table_[name] = r;
    }
  }
  if (j.contains("default-runtime")) {
    if (!j["default-runtime"].is_string()) throw Error(ErrorKind::invalid_argument, file + ": default-runtime: want a string");
    const std::string d = j["default-runtime"].get<std::string>();
    if (!table_.count(d))
      throw Error(ErrorKind::invalid_argument, file + ": default-runtime: `" + d + "` is not a runtime (" + [&] {
        std::string names;
        for (const auto& [n, _] : table_) names += (names.empty() ? "" : ", ") + n;
        return names;
      }() + ")");
    default_ = d;
  }
}

bool Runtime::own_kernel() const {
  const std::string base = path.substr(path.rfind('/') + 1);
  return base == "runsc" || base.rfind("kata", 0) == 0;
}

Runtime Runtimes::resolve(const std::string& asked) const {
  const std::string name = name_of(asked);
  Runtime r;
  if (auto it = table_.find(name); it != table_.end()) {
    r = it->second;
  } else if (name[0] == '/') {
    r.path = name;
  } else {
    std::string names;
    for (const auto& [n, _] : table_) names += (names.empty() ? "" : ", ") + n;
    throw Error(ErrorKind::invalid_argument, "unknown runtime `" + name + "` (known: " + names + ")");
  }
  if (r.external() && !executable_file(r.path))
    throw Error(ErrorKind::invalid_argument, "runtime " + name + ": " + r.path + (::access(r.path.c_str(), F_OK) == 0 ? " is not an executable file" : " does not exist"));
  return r;
}

std::string runtime_version(const Runtime& r) {
  if (!r.external()) return "";
  std::string out;
  try {
    if (run_command({r.path, "--version"}, "", out, "", 2000) != 0) return "";
  } catch (const Error&) {
    return "";
  }
  return out.substr(0, out.find('\n'));
}

namespace {

// `RUNTIME features`' output ("" when it has none), run once per binary: kept in
// `cache_dir` under a name made of the binary's path, flags and identity (inode, size,
// change time: an upgrade makes it run again).
std::string features_output(const Runtime& r, const std::string& cache_dir) {
  struct stat st {};
  if (::stat(r.path.c_str(), &st) < 0) return "";
  std::string id = r.path;
  for (const auto& a : r.args) id += '\0' + a;
  id += '\0' + std::to_string(st.st_dev) + ':' + std::to_string(st.st_ino) + ':' + std::to_string(st.st_size) + ':' +
        std::to_string(st.st_ctim.tv_sec) + '.' + std::to_string(st.st_ctim.tv_nsec);
  const std::string file = cache_dir.empty() ? "" : cache_dir + "/" + sha256_of(id).encoded.substr(0, 32) + ".json";
  std::string out;
  if (!file.empty() && fs::read_file_if_exists(file, out)) return out == "-" ? "" : out;
  try {
    std::vector<std::string> argv = {r.path};
    argv.insert(argv.end(), r.args.begin(), r.args.end());
    argv.push_back("features");
    if (run_command(argv, "", out, "", 2000) != 0) out.clear();
  } catch (const Error&) {
    return "";  // (a timeout: not remembered)
  }
  if (!file.empty()) {
    try {
      fs::mkdir_p(cache_dir, 0700);
      fs::write_file_atomic(file, out.empty() ? "-" : out, 0600);
    } catch (const std::exception&) {
      // asked again next time
    }
  }
  return out;
}

}  // namespace

RuntimeCaps::RuntimeCaps(const Runtime& r, const std::string& cache_dir) {
  const std::string out = features_output(r, cache_dir);
  if (out.empty()) return;
  auto j = json::parse(out, nullptr, false);
  if (!j.is_object()) return;
  if (auto m = j.find("mountOptions"); m != j.end() && m->is_array())
    for (const auto& o : *m)
      if (o.is_string()) mount_options_.push_back(o.get<std::string>());
  if (!j.contains("linux") || !j["linux"].is_object()) return;
  const auto& caps = j["linux"].value("capabilities", json());
  if (!caps.is_array()) return;
  for (const auto& c : caps)
    if (c.is_string()) listed_.push_back(c.get<std::string>());
  have_list_ = true;
}

bool RuntimeCaps::accepts(const std::string& name) const {
  if (have_list_) return std::find(listed_.begin(), listed_.end(), name) != listed_.end();
  const int n = oci::capability_from_name(name);
  return n >= 0 && n <= 37;  // CAP_AUDIT_READ; 38 is CAP_PERFMON
}

bool RuntimeCaps::mount_option(const std::string& name) const {
  return std::find(mount_options_.begin(), mount_options_.end(), name) != mount_options_.end();
}

bool recursive_ro_possible(const Runtime& r, const std::string& cache_dir) {
  // An empty call: EBADF or EINVAL where the call exists, ENOSYS where it does not.
  static const bool kernel = ::syscall(SYS_mount_setattr, -1, "", 0, nullptr, 0) == 0 || errno != ENOSYS;
  if (!kernel) return false;
  return !r.external() || RuntimeCaps(r, cache_dir).mount_option("rro");
}

std::vector<std::string> runtime_argv(const Runtime& r, const std::string& root, std::vector<std::string> cmd) {
  std::vector<std::string> argv = {r.path};
  argv.insert(argv.end(), r.args.begin(), r.args.end());
  argv.insert(argv.end(), {"--root", root});
  argv.insert(argv.end(), cmd.begin(), cmd.end());
  return argv;
}

std::string RuntimeOps::run(std::vector<std::string> cmd, const std::string& input) const {
  const std::string what = cmd.at(0);
  std::string out;
  if (run_command(runtime_argv(r_, root_, std::move(cmd)), input, out, "", timeout_ms_) != 0) {
    const std::string words = runtime_words(out);
    throw Error(ErrorKind::internal, r_.path + " " + what + ": " + (words.empty() ? "failed" : words));
  }
  return out;
}

json RuntimeOps::state(const std::string& id) const {
  if (!external()) return runtime::container_state(root_, id);
  auto j = json::parse(run({"state", id}), nullptr, false);
  if (!j.is_object()) throw Error(r_.path + " state: not a JSON object");
  return j;
}

void RuntimeOps::pause(const std::string& id) const {
  if (!external()) return runtime::pause_container(root_, id);
  run({"pause", id});
}

void RuntimeOps::resume(const std::string& id) const {
  if (!external()) return runtime::resume_container(root_, id);
  run({"resume", id});
}

std::vector<pid_t> RuntimeOps::pids(const std::string& id) const {
  if (!external()) return runtime::container_pids(root_, id);
  auto j = json::parse(run({"ps", "--format", "json", id}), nullptr, false);
  std::vector<pid_t> out;
  if (j.is_array())
    for (const auto& p : j)
      if (p.is_number_integer()) out.push_back(p.get<pid_t>());
  if (!j.is_array()) throw Error(r_.path + " ps: not a JSON array of pids");
  return out;
}

json RuntimeOps::stats(const std::string& id, const std::string& cgroups_path) const {
  json j;
  if (!external()) {
    j = runtime::container_stats(root_, id);
  } else {
    try {
      j = json::parse(run({"events", "--stats", id}), nullptr, false);
    } catch (const Error& e) {
      if (cgroups_path.empty()) throw;
      // crun 1.8: "unknown command events". Its cgroup is where the spec put it.
      return runtime::cgroup_stats_at(cgroups_path);
    }
  }
  if (!j.is_object() || !j.contains("data") || !j["data"].is_object()) throw Error(r_.path + " events --stats: no stats");
  return j["data"];
}

void RuntimeOps::update(const std::string& id, const json& resources) const {
  if (!external()) return runtime::update_container(root_, id, resources);
  // runc reads the linux.resources object from stdin with `-r -`.
  try {
    run({"update", "--resources", "-", id}, resources.dump());
  } catch (const Error& e) {
    // runsc has no `update` (its usage is all it says).
    throw Error(ErrorKind::conflict, "update: " + r_.path + " cannot change the limits of a running container (" + e.what() + ")");
  }
}

void RuntimeOps::remove(const std::string& id) const {
  if (!external()) {
    try {
      runtime::kill_container(root_, id, SIGKILL, true);
    } catch (const std::exception&) {
      // not running
    }
    runtime::delete_container(root_, id, true);
    return;
  }
  std::string out;
  if (run_command(runtime_argv(r_, root_, {"delete", "--force", id}), "", out, "", timeout_ms_) != 0) {
    const std::string words = runtime_words(out);
    // Gone already is what we wanted.
    if (words.find("does not exist") != std::string::npos || words.find("not found") != std::string::npos ||
        words.find("not exist") != std::string::npos)
      return;
    throw Error(r_.path + " delete --force " + id.substr(0, 12) + ": " + (words.empty() ? "failed" : words));
  }
}

}  // namespace berth::engine
