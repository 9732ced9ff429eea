#include "cri/server.hpp"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <chrono>
#include <cstdio>
#include <functional>
#include <csignal>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <thread>

#include <grpcpp/grpcpp.h>
#include <grpcpp/server_posix.h>

#include "common/error.hpp"
#include "common/fs.hpp"
#include "common/log.hpp"
#include "common/time.hpp"
#include "cri/api.grpc.pb.h"
#include "cri/pods.hpp"
#include "cri/streaming.hpp"
#include "distribution/auth.hpp"
#include "engine/container_config.hpp"
#include "engine/model.hpp"
#include "engine/spec.hpp"
#include "events/events.hpp"
#include "oci/reference.hpp"
#include "shim/frames.hpp"

namespace berth::cri {

using nlohmann::json;
namespace v1 = runtime::v1;

namespace {

grpc::StatusCode code_of(ErrorKind k) {
  switch (k) {
    case ErrorKind::invalid_argument: return grpc::StatusCode::INVALID_ARGUMENT;
    case ErrorKind::not_found: return grpc::StatusCode::NOT_FOUND;
    case ErrorKind::already_exists: return grpc::StatusCode::ALREADY_EXISTS;
    case ErrorKind::conflict:
    case ErrorKind::not_running: return grpc::StatusCode::FAILED_PRECONDITION;
    case ErrorKind::unavailable: return grpc::StatusCode::UNAVAILABLE;
    case ErrorKind::permission: return grpc::StatusCode::PERMISSION_DENIED;
    case ErrorKind::command_not_found:
    case ErrorKind::command_not_executable: return grpc::StatusCode::INVALID_ARGUMENT;
    default: return grpc::StatusCode::UNKNOWN;
  }
}

// Runs a call: an exception is its status (the error kind's code, the message as is).
template <class F>
grpc::Status call(const char* what, F&& f) {
  try {
    f();
    return grpc::Status::OK;
  } catch (const Error& e) {
    log::debug(std::string("cri ") + what + ": " + e.what());
    return grpc::Status(code_of(e.kind()), e.what());
  } catch (const std::exception& e) {
    log::warn(std::string("cri ") + what + ": " + e.what());
    return grpc::Status(grpc::StatusCode::UNKNOWN, e.what());
  }
}

template <class M>
bool labels_match(const M& have, const google::protobuf::Map<std::string, std::string>& want) {
  for (auto& [k, v] : want) {
    auto it = have.find(k);
    if (it == have.end() || it->second != v) return false;
  }
  return true;
}

json to_json(const google::protobuf::Map<std::string, std::string>& m) {
  json j = json::object();
  for (auto& [k, v] : m) j[k] = v;
  return j;
}

// The string values of the object j[key] (none if it is not there).
std::map<std::string, std::string> string_map(const json& j, const char* key) {
  std::map<std::string, std::string> out;
  auto it = j.find(key);
  if (it == j.end() || !it->is_object()) return out;
  for (auto& [k, v] : it->items())
    if (v.is_string()) out[k] = v.get<std::string>();
  return out;
}

void fill(google::protobuf::Map<std::string, std::string>* out, const json& j) {
  if (!j.is_object()) return;
  for (auto& [k, v] : j.items())
    if (v.is_string()) (*out)[k] = v.get<std::string>();
}

v1::ContainerState state_of(const engine::State& s) {
  switch (s.status) {
    case engine::Status::created: return v1::CONTAINER_CREATED;
    case engine::Status::running:
    case engine::Status::paused:
    case engine::Status::restarting: return v1::CONTAINER_RUNNING;
    case engine::Status::exited:
    case engine::Status::dead: return v1::CONTAINER_EXITED;
    default: return v1::CONTAINER_UNKNOWN;
  }
}

std::string propagation(v1::MountPropagation p) {
  switch (p) {
    case v1::PROPAGATION_HOST_TO_CONTAINER: return "rslave";
    case v1::PROPAGATION_BIDIRECTIONAL: return "rshared";
    default: return "rprivate";
  }
}

// A capability as Docker's HostConfig takes it ("NET_ADMIN", "ALL").
std::string cap_name(std::string c) {
  for (auto& ch : c) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  if (c.rfind("CAP_", 0) == 0) c = c.substr(4);
  return c;
}

// The image of a ref or id in the CRI's store; nullopt when there is none.
std::optional<image::Image> find_image(engine::Engine& eng, const std::string& ref) {
  if (ref.empty()) throw Error(ErrorKind::invalid_argument, "no image given");
  std::optional<image::Image> img;
  try {
    img = eng.images().find(ref);
  } catch (const Error& e) {
    if (e.kind() != ErrorKind::not_found) throw;
  }
  if (img || ref.find('@') == std::string::npos) return img;
  // REPO@DIGEST of an image pulled by tag: the one of that repository whose manifest it is.
  oci::Reference want = oci::Reference::parse(ref);
  for (auto& i : eng.images().list()) {
    oci::Reference r = oci::Reference::parse(i.record.name);
    if (r.registry == want.registry && r.repository == want.repository && i.manifest_desc.digest.str() == want.digest) return i;
  }
  return std::nullopt;
}

void fill_image(engine::Engine& eng, const image::Image& img, v1::Image* out) {
  out->set_id(img.id.str());
  std::set<std::string> tags, digests;
  for (auto& rec : eng.images().list()) {
    if (rec.id.str() != img.id.str() || image::is_dangling_name(rec.record.name)) continue;
    const oci::Reference r = oci::Reference::parse(rec.record.name);
    oci::Reference repo = r;
    repo.tag.clear();
    repo.digest.clear();
    if (!r.tag.empty()) tags.insert(rec.record.name);
    if (!r.digest.empty()) digests.insert(rec.record.name);
    else if (!rec.manifest_desc.digest.str().empty()) digests.insert(repo.str() + "@" + rec.manifest_desc.digest.str());
  }
  for (auto& t : tags) out->add_repo_tags(t);
  for (auto& d : digests) out->add_repo_digests(d);
  int64_t size = 0;
  for (auto& l : img.manifest.layers) size += l.size;
  out->set_size(static_cast<uint64_t>(size));
  const json& c = img.config.config;
  std::string user = c.is_object() ? c.value("User", "") : "";
  user = user.substr(0, user.find(':'));
  if (!user.empty() && std::all_of(user.begin(), user.end(), ::isdigit)) out->mutable_uid()->set_value(std::stoll(user));
  else out->set_username(user);
  out->mutable_spec()->set_image(img.id.str());
}

}  // namespace

// ---------------------------------------------------------------------------------------------

class RuntimeImpl final : public v1::RuntimeService::Service {
 public:
  RuntimeImpl(engine::Engine& eng, Pods& pods, StreamingServer& streaming, const Settings& s)
      : eng_(eng), pods_(pods), streaming_(streaming), s_(s) {}

  grpc::Status Version(grpc::ServerContext*, const v1::VersionRequest*, v1::VersionResponse* r) override {
    r->set_version("0.1.0");
    r->set_runtime_name("berth");
    r->set_runtime_version(s_.berth_version);
    r->set_runtime_api_version("v1");
    return grpc::Status::OK;
  }

  grpc::Status Status(grpc::ServerContext*, const v1::StatusRequest* q, v1::StatusResponse* r) override {
    return call("Status", [&] {
      auto* rt = r->mutable_status()->add_conditions();
      rt->set_type("RuntimeReady");
      rt->set_status(true);
      auto* net = r->mutable_status()->add_conditions();
      net->set_type("NetworkReady");
      std::string why;
      net->set_status(pods_.network_ready(why));
      if (!net->status()) {
        net->set_reason("NetworkPluginNotReady");
        net->set_message(why);
      }
      if (q->verbose()) (*r->mutable_info())["config"] = json{{"cniConfDirs", s_.cni_conf_dirs}, {"cniPluginDirs", s_.cni_plugin_dirs}}.dump();
    });
  }

  grpc::Status UpdateRuntimeConfig(grpc::ServerContext*, const v1::UpdateRuntimeConfigRequest* q,
                                   v1::UpdateRuntimeConfigResponse*) override {
    // The pod CIDR is the CNI config's business here (host-local ranges), as with containerd
    // when its config has no template.
    log::debug("cri UpdateRuntimeConfig: pod CIDR " + q->runtime_config().network_config().pod_cidr());
    return grpc::Status::OK;
  }

  // --- pods ---------------------------------------------------------------------------------

  grpc::Status RunPodSandbox(grpc::ServerContext*, const v1::RunPodSandboxRequest* q, v1::RunPodSandboxResponse* r) override {
    return call("RunPodSandbox", [&] {
      // A handler is a runtime of the engine's (built-in or daemon.json's `runtimes`): the
      // pod's containers run on it; "" is the default runtime.
      const auto rts = eng_.runtimes();
      if (const auto& h = q->runtime_handler(); !h.empty() && !rts->all().count(h)) {
        std::string names;
        for (const auto& [n, _] : rts->all()) names += (names.empty() ? "" : ", ") + n;
        throw Error(ErrorKind::not_found, "runtime handler " + h + " is not configured (" + names + ")");
      }
      check_cgroup_parent(q->config().linux().cgroup_parent());
      Pod p = pods_.run(q->config(), q->runtime_handler());
      r->set_pod_sandbox_id(p.id);
    });
  }

  grpc::Status StopPodSandbox(grpc::ServerContext*, const v1::StopPodSandboxRequest* q, v1::StopPodSandboxResponse*) override {
    return call("StopPodSandbox", [&] {
      auto p = pods_.find(q->pod_sandbox_id());
      if (!p) return;  // gone already: stopped (the CRI's rule)
      for (auto& c : containers_of(p->id)) {
        engine::State s = eng_.state(c);
        if (s.running()) eng_.stop(c.id(), 0);
      }
      pods_.stop(p->id);
    });
  }

  grpc::Status RemovePodSandbox(grpc::ServerContext*, const v1::RemovePodSandboxRequest* q, v1::RemovePodSandboxResponse*) override {
    return call("RemovePodSandbox", [&] {
      auto p = pods_.find(q->pod_sandbox_id());
      if (!p) return;
      for (auto& c : containers_of(p->id)) remove_container(c.id());
      pods_.remove(p->id);
    });
  }

  grpc::Status PodSandboxStatus(grpc::ServerContext*, const v1::PodSandboxStatusRequest* q,
                                v1::PodSandboxStatusResponse* r) override {
    return call("PodSandboxStatus", [&] {
      const Pod p = pods_.get(q->pod_sandbox_id());
      pod_status(p, r->mutable_status());
      if (q->verbose()) {
        json info = {{"pid", 0},
                     {"runtimeHandler", p.handler},
                     {"netns", p.host_network() ? "" : pods_.netns(p.id)},
                     {"cni", p.cni.is_null() ? json() : p.cni.value("result", json())}};
        (*r->mutable_info())["info"] = info.dump();
      }
    });
  }

  grpc::Status ListPodSandbox(grpc::ServerContext*, const v1::ListPodSandboxRequest* q, v1::ListPodSandboxResponse* r) override {
    return call("ListPodSandbox", [&] {
      const auto& f = q->filter();
      for (auto& p : pods_.list()) {
        if (!f.id().empty() && p.id.rfind(f.id(), 0) != 0) continue;
        const auto state = p.ready ? v1::SANDBOX_READY : v1::SANDBOX_NOTREADY;
        if (f.has_state() && f.state().state() != state) continue;
        if (!labels_match(p.config.labels(), f.label_selector())) continue;
        auto* out = r->add_items();
        out->set_id(p.id);
        *out->mutable_metadata() = p.config.metadata();
        out->set_state(state);
        out->set_created_at(p.created);
        *out->mutable_labels() = p.config.labels();
        *out->mutable_annotations() = p.config.annotations();
        out->set_runtime_handler(p.handler);
      }
    });
  }

  // --- containers ---------------------------------------------------------------------------

  grpc::Status CreateContainer(grpc::ServerContext*, const v1::CreateContainerRequest* q,
                               v1::CreateContainerResponse* r) override {
    return call("CreateContainer", [&] {
      Pod pod = pods_.get(q->pod_sandbox_id());
      auto lk = pods_.lock(pod.id);
      std::lock_guard<std::mutex> g(*lk);
      pod = pods_.get(pod.id);
      if (!pod.ready) throw Error(ErrorKind::conflict, "pod sandbox " + pod.id + " is not ready");
      const v1::ContainerConfig& cc = q->config();
      if (cc.metadata().name().empty()) throw Error(ErrorKind::invalid_argument, "container metadata needs a name");
      if (cc.image().image().empty()) throw Error(ErrorKind::invalid_argument, "container config needs an image");
      auto img = find_image(eng_, cc.image().image());
      if (!img) throw Error(ErrorKind::not_found, "image " + cc.image().image() + " not found: pull it first");
      engine::CreateRequest req;
      req.image = img->id.str();
      // Unique per pod, name and attempt (the CRI's rule), within the engine's 128 characters:
      // NAME_PODID16_ATTEMPT, a long NAME shortened with a hash of the whole.
      std::string name = cc.metadata().name();
      if (name.size() > 90) {
        char h[17];
        std::snprintf(h, sizeof h, "%016zx", std::hash<std::string>{}(name));
        name = name.substr(0, 72) + "-" + h;
      }
      req.name = name + "_" + pod.id.substr(0, 16) + "_" + std::to_string(cc.metadata().attempt());
      req.config = container_config(cc, pod);
      std::vector<std::string> mounts;
      req.host = host_config(cc, pod, mounts);
      std::string log_path;
      if (!pod.config.log_directory().empty() && !cc.log_path().empty())
        log_path = fs::clean_path(pod.config.log_directory() + "/" + cc.log_path());
      if (!log_path.empty() && log_path.rfind(fs::clean_path(pod.config.log_directory()) + "/", 0) != 0)
        throw Error(ErrorKind::invalid_argument, "log_path " + cc.log_path() + " leaves the pod's log directory");
      json log_config = {{"Type", "k8s-file"}, {"Config", json::object()}};
      if (!log_path.empty()) log_config["Config"]["path"] = log_path;
      req.host["LogConfig"] = log_config;
      if (!pod.handler.empty()) req.host["Runtime"] = pod.handler;
      req.cri = {{"pod", pod.id},
                 {"name", cc.metadata().name()},
                 {"attempt", cc.metadata().attempt()},
                 {"image", cc.image().image()},
                 {"annotations", to_json(cc.annotations())},
                 {"labels", to_json(cc.labels())},
                 {"log_path", log_path},
                 {"mounts", mounts}};
      engine::Container c = eng_.create(req);
      r->set_container_id(c.id());
    });
  }

  grpc::Status StartContainer(grpc::ServerContext*, const v1::StartContainerRequest* q, v1::StartContainerResponse*) override {
    return call("StartContainer", [&] {
      engine::Container c = cri_container(q->container_id());
      Pod pod = pods_.get(c.data["CRI"].value("pod", ""));
      if (!pod.ready) throw Error(ErrorKind::conflict, "pod sandbox " + pod.id + " is not ready");
      engine::State s = eng_.state(c);
      if (s.status != engine::Status::created)
        throw Error(ErrorKind::conflict, "container " + c.id() + " is " + std::string(engine::status_name(s.status)) +
                                             ": only a created container can be started");
      eng_.start(c.id());
    });
  }

  grpc::Status StopContainer(grpc::ServerContext*, const v1::StopContainerRequest* q, v1::StopContainerResponse*) override {
    return call("StopContainer", [&] {
      engine::Container c = cri_container(q->container_id());
      engine::State s = eng_.state(c);
      if (!s.running()) return;
      eng_.stop(c.id(), static_cast<int>(std::max<int64_t>(0, std::min<int64_t>(q->timeout(), 1 << 30))));
    });
  }

  grpc::Status RemoveContainer(grpc::ServerContext*, const v1::RemoveContainerRequest* q, v1::RemoveContainerResponse*) override {
    return call("RemoveContainer", [&] {
      std::optional<engine::Container> c;
      try {
        c = cri_container(q->container_id());
      } catch (const Error& e) {
        if (e.kind() == ErrorKind::not_found) return;  // removed already: fine (the CRI's rule)
        throw;
      }
      remove_container(c->id());
    });
  }

  grpc::Status ListContainers(grpc::ServerContext*, const v1::ListContainersRequest* q, v1::ListContainersResponse* r) override {
    return call("ListContainers", [&] {
      const auto& f = q->filter();
      for (auto& c : eng_.list()) {
        if (!selected(c, f.id(), f.pod_sandbox_id(), f.label_selector())) continue;
        const json cri = c.data["CRI"];  // a copy: state() may reload c
        engine::State s = eng_.state(c);
        if (f.has_state() && f.state().state() != state_of(s)) continue;
        auto* out = r->add_containers();
        out->set_id(c.id());
        out->set_pod_sandbox_id(cri.value("pod", ""));
        out->mutable_metadata()->set_name(cri.value("name", ""));
        out->mutable_metadata()->set_attempt(cri.value("attempt", 0u));
        out->mutable_image()->set_image(cri.value("image", ""));
        out->set_image_ref(c.data.value("ImageID", ""));
        out->set_state(state_of(s));
        out->set_created_at(c.rec.created);
        fill(out->mutable_labels(), cri.value("labels", json::object()));
        fill(out->mutable_annotations(), cri.value("annotations", json::object()));
      }
    });
  }

  grpc::Status ContainerStatus(grpc::ServerContext*, const v1::ContainerStatusRequest* q, v1::ContainerStatusResponse* r) override {
    return call("ContainerStatus", [&] {
      engine::Container c = cri_container(q->container_id());
      const engine::State s = container_status(c, r->mutable_status());
      if (q->verbose()) {
        const json cri = c.data["CRI"];
        json info = {{"sandboxID", cri.value("pod", "")}, {"pid", s.running() ? s.pid : 0},
                     {"config", c.data.value("Config", json::object())},
                     {"hostConfig", c.data.value("HostConfig", json::object())}};
        (*r->mutable_info())["info"] = info.dump();
      }
    });
  }

  grpc::Status UpdateContainerResources(grpc::ServerContext*, const v1::UpdateContainerResourcesRequest* q,
                                        v1::UpdateContainerResourcesResponse*) override {
    return call("UpdateContainerResources", [&] {
      engine::Container c = cri_container(q->container_id());
      if (!q->has_linux()) return;
      eng_.update(c.id(), resources(q->linux()));
    });
  }

  grpc::Status ReopenContainerLog(grpc::ServerContext*, const v1::ReopenContainerLogRequest* q,
                                  v1::ReopenContainerLogResponse*) override {
    return call("ReopenContainerLog", [&] {
      engine::Container c = cri_container(q->container_id());
      if (!eng_.state(c).running()) throw Error(ErrorKind::not_running, "container " + c.id() + " is not running");
      std::string reply = eng_.shim_request(c, "reopen-log\n");
      if (reply.rfind("ok", 0) != 0) throw Error("reopen the log of " + c.id() + ": " + reply);
    });
  }

  grpc::Status ExecSync(grpc::ServerContext* ctx, const v1::ExecSyncRequest* q, v1::ExecSyncResponse* r) override {
    return call("ExecSync", [&] {
      engine::Container c = cri_container(q->container_id());
      if (q->cmd().empty()) throw Error(ErrorKind::invalid_argument, "ExecSync needs a command");
      engine::ExecRequest er;
      er.args.assign(q->cmd().begin(), q->cmd().end());
      engine::ExecSession es = eng_.exec(c.id(), er);
      const auto deadline = q->timeout() > 0 ? std::chrono::steady_clock::now() + std::chrono::seconds(q->timeout())
                                             : std::chrono::steady_clock::time_point::max();
      shim::FrameReader fr;
      std::string out, err;
      constexpr size_t kMaxOutput = 16 << 20;  // the kubelet's own cap on ExecSync output
      bool timed_out = false;
      for (;;) {
        int wait_ms = 200;
        if (deadline != std::chrono::steady_clock::time_point::max()) {
          auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count();
          if (left <= 0) {
            timed_out = true;
            break;
          }
          wait_ms = static_cast<int>(std::min<int64_t>(left, 200));
        }
        if (ctx->IsCancelled()) {
          shim::send_frame(es.conn.get(), shim::kSignal, std::to_string(SIGKILL));
          throw Error(ErrorKind::unavailable, "the client went away");
        }
        pollfd p{es.conn.get(), POLLIN, 0};
        int n = ::poll(&p, 1, wait_ms);
        if (n <= 0) continue;
        char buf[65536];
        ssize_t got = ::read(es.conn.get(), buf, sizeof buf);
        if (got <= 0) throw Error("exec in " + c.id() + ": the shim closed the connection before the exit");
        fr.feed(std::string_view(buf, static_cast<size_t>(got)));
        while (auto f = fr.next()) {
          if (f->type == shim::kStdout && out.size() < kMaxOutput) out += f->data;
          else if (f->type == shim::kStderr && err.size() < kMaxOutput) err += f->data;
          else if (f->type == shim::kExit) {
            r->set_stdout(out.substr(0, kMaxOutput));
            r->set_stderr(err.substr(0, kMaxOutput));
            r->set_exit_code(std::atoi(f->data.c_str()));
            return;
          }
        }
      }
      if (timed_out) {
        shim::send_frame(es.conn.get(), shim::kSignal, std::to_string(SIGKILL));
        throw Error(ErrorKind::unavailable,
                    "command timed out after " + std::to_string(q->timeout()) + "s: the process was killed");
      }
    });
  }

  grpc::Status ContainerStats(grpc::ServerContext*, const v1::ContainerStatsRequest* q, v1::ContainerStatsResponse* r) override {
    return call("ContainerStats", [&] {
      engine::Container c = cri_container(q->container_id());
      stats_of(c, r->mutable_stats());
    });
  }

  grpc::Status ListContainerStats(grpc::ServerContext*, const v1::ListContainerStatsRequest* q,
                                  v1::ListContainerStatsResponse* r) override {
    return call("ListContainerStats", [&] {
      const auto& f = q->filter();
      for (auto& c : eng_.list())
        if (selected(c, f.id(), f.pod_sandbox_id(), f.label_selector())) stats_of(c, r->add_stats());
    });
  }

  grpc::Status PodSandboxStats(grpc::ServerContext*, const v1::PodSandboxStatsRequest* q,
                               v1::PodSandboxStatsResponse* r) override {
    return call("PodSandboxStats", [&] { pod_stats(pods_.get(q->pod_sandbox_id()), r->mutable_stats()); });
  }

  grpc::Status ListPodSandboxStats(grpc::ServerContext*, const v1::ListPodSandboxStatsRequest* q,
                                   v1::ListPodSandboxStatsResponse* r) override {
    return call("ListPodSandboxStats", [&] {
      const auto& f = q->filter();
      for (auto& p : pods_.list()) {
        // The ready ones (containerd's rule): a stopped pod has no namespaces to read.
        if (!p.ready || (!f.id().empty() && p.id.rfind(f.id(), 0) != 0)) continue;
        if (labels_match(p.config.labels(), f.label_selector())) pod_stats(p, r->add_stats());
      }
    });
  }

  // The engine's events of the CRI's containers, as they happen, each with its pod's status
  // and the statuses of the pod's containers (the kubelet's evented PLEG). Until the client
  // cancels or berthd stops.
  grpc::Status GetContainerEvents(grpc::ServerContext* ctx, const v1::GetEventsRequest*,
                                  grpc::ServerWriter<v1::ContainerEventResponse>* w) override {
    return call("GetContainerEvents", [&] {
      // The pods of the containers, for the events of the ones removed: learnt now and at
      // each create.
      std::map<std::string, std::string> pod_of;
      for (auto& c : eng_.list())
        if (c.data.contains("CRI")) pod_of[c.id()] = c.data["CRI"].value("pod", "");
      // The engine's follow stops on a readable fd: a watcher makes one of the call's end.
      UniqueFd cancel(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
      if (!cancel) throw_errno("eventfd");
      // berthd's shutdown ends the stream at once (gRPC's would wait its grace for it).
      struct Registered {
        RuntimeImpl& self;
        int fd;
        Registered(RuntimeImpl& s, int f) : self(s), fd(f) {
          std::lock_guard<std::mutex> l(self.event_mu_);
          if (self.closing_) signal_fd(fd);
          self.event_fds_.insert(fd);
        }
        ~Registered() {
          std::lock_guard<std::mutex> l(self.event_mu_);
          self.event_fds_.erase(fd);
        }
      } registered(*this, cancel.get());
      std::jthread watcher([&](std::stop_token stop) {
        std::mutex m;
        std::condition_variable_any cv;
        std::unique_lock<std::mutex> l(m);
        while (!cv.wait_for(l, stop, std::chrono::milliseconds(100), [] { return false; }) && !stop.stop_requested())
          if (ctx->IsCancelled()) {
            signal_fd(cancel.get());
            return;
          }
      });
      engine::EventOptions o;
      o.cancel_fd = cancel.get();
      eng_.events(o, [&](const events::Event& e) {
        if (e.type != "container") return true;
        v1::ContainerEventType type;
        if (e.action == "create") type = v1::CONTAINER_CREATED_EVENT;
        else if (e.action == "start") type = v1::CONTAINER_STARTED_EVENT;
        else if (e.action == "die") type = v1::CONTAINER_STOPPED_EVENT;
        else if (e.action == "destroy") type = v1::CONTAINER_DELETED_EVENT;
        else return true;
        if (type == v1::CONTAINER_CREATED_EVENT) {
          try {
            engine::Container c = eng_.lookup(e.id);
            if (c.data.contains("CRI")) pod_of[c.id()] = c.data["CRI"].value("pod", "");
          } catch (const Error&) {
          }
        }
        auto it = pod_of.find(e.id);
        if (it == pod_of.end()) return true;  // not the CRI's
        const std::string pod = it->second;
        if (type == v1::CONTAINER_DELETED_EVENT) pod_of.erase(it);
        v1::ContainerEventResponse ev;
        ev.set_container_id(e.id);
        ev.set_container_event_type(type);
        ev.set_created_at(e.time_ns);
        if (auto p = pods_.find(pod)) pod_status(*p, ev.mutable_pod_sandbox_status());
        for (auto& c : containers_of(pod)) {
          try {
            container_status(c, ev.add_containers_statuses());
          } catch (const Error&) {
            ev.mutable_containers_statuses()->RemoveLast();  // removed meanwhile
          }
        }
        return w->Write(ev);
      });
    });
  }

  // Ends the GetContainerEvents streams, now and from now on (berthd's shutdown).
  void end_event_streams() {
    std::lock_guard<std::mutex> l(event_mu_);
    closing_ = true;
    for (int fd : event_fds_) signal_fd(fd);
  }

  // Exec, Attach, PortForward: a one-time URL on the streaming server (streaming.hpp), checked
  // as the kubelet's server checks it (a running container, some stream asked for, no stderr
  // with a tty).
  grpc::Status Exec(grpc::ServerContext*, const v1::ExecRequest* q, v1::ExecResponse* r) override {
    return call("Exec", [&] {
      engine::Container c = cri_container(q->container_id());
      if (q->cmd().empty()) throw Error(ErrorKind::invalid_argument, "Exec needs a command");
      check_streams(q->tty(), q->stdin(), q->stdout(), q->stderr());
      if (!eng_.state(c).running()) throw Error(ErrorKind::not_running, "container " + c.id() + " is not running");
      StreamRequest sr;
      sr.kind = StreamRequest::Kind::exec;
      sr.container = c.id();
      sr.cmd.assign(q->cmd().begin(), q->cmd().end());
      sr.tty = q->tty();
      sr.in = q->stdin();
      sr.out = q->stdout();
      sr.err = q->stderr();
      r->set_url(streaming_.url(std::move(sr)));
    });
  }

  grpc::Status Attach(grpc::ServerContext*, const v1::AttachRequest* q, v1::AttachResponse* r) override {
    return call("Attach", [&] {
      engine::Container c = cri_container(q->container_id());
      check_streams(q->tty(), q->stdin(), q->stdout(), q->stderr());
      if (!eng_.state(c).running()) throw Error(ErrorKind::not_running, "container " + c.id() + " is not running");
      StreamRequest sr;
      sr.kind = StreamRequest::Kind::attach;
      sr.container = c.id();
      sr.tty = q->tty();
      sr.in = q->stdin();
      sr.out = q->stdout();
      sr.err = q->stderr();
      r->set_url(streaming_.url(std::move(sr)));
    });
  }

  grpc::Status PortForward(grpc::ServerContext*, const v1::PortForwardRequest* q, v1::PortForwardResponse* r) override {
    return call("PortForward", [&] {
      Pod p = pods_.get(q->pod_sandbox_id());
      if (!p.ready) throw Error(ErrorKind::not_running, "pod sandbox " + p.id + " is not ready");
      for (int32_t port : q->port())
        if (port < 1 || port > 65535) throw Error(ErrorKind::invalid_argument, "invalid port " + std::to_string(port));
      StreamRequest sr;
      sr.kind = StreamRequest::Kind::port_forward;
      sr.pod = p.id;
      sr.netns = p.host_network() ? "" : pods_.netns(p.id);
      r->set_url(streaming_.url(std::move(sr)));
    });
  }

 private:
  // The status of a pod as PodSandboxStatus and the container events report it.
  static void pod_status(const Pod& p, v1::PodSandboxStatus* st) {
    st->set_id(p.id);
    *st->mutable_metadata() = p.config.metadata();
    st->set_state(p.ready ? v1::SANDBOX_READY : v1::SANDBOX_NOTREADY);
    st->set_created_at(p.created);
    if (!p.ip.empty()) st->mutable_network()->set_ip(p.ip);
    *st->mutable_linux()->mutable_namespaces()->mutable_options() = p.config.linux().security_context().namespace_options();
    *st->mutable_labels() = p.config.labels();
    *st->mutable_annotations() = p.config.annotations();
    st->set_runtime_handler(p.handler);
  }

  // The status of a container as ContainerStatus and the container events report it; the
  // state it was read in.
  engine::State container_status(engine::Container& c, v1::ContainerStatus* st) {
    const json cri = c.data["CRI"];  // a copy: state() may reload c
    const engine::State s = eng_.state(c);
    st->set_id(c.id());
    st->mutable_metadata()->set_name(cri.value("name", ""));
    st->mutable_metadata()->set_attempt(cri.value("attempt", 0u));
    st->set_state(state_of(s));
    st->set_created_at(c.rec.created);
    if (s.started > 0) st->set_started_at(s.started);
    if (state_of(s) == v1::CONTAINER_EXITED) {
      st->set_finished_at(s.finished);
      st->set_exit_code(s.exit_code);
      st->set_reason(s.oom_killed ? "OOMKilled" : s.exit_code == 0 ? "Completed" : "Error");
      st->set_message(s.error);
    }
    st->mutable_image()->set_image(cri.value("image", ""));
    st->set_image_ref(c.data.value("ImageID", ""));
    fill(st->mutable_labels(), cri.value("labels", json::object()));
    fill(st->mutable_annotations(), cri.value("annotations", json::object()));
    st->set_log_path(cri.value("log_path", ""));
    const engine::HostConfig h = c.host_config();
    for (const std::string& b : cri.value("mounts", std::vector<std::string>{})) {
      engine::Bind bind = engine::parse_bind(b);
      auto* m = st->add_mounts();
      m->set_host_path(bind.source);
      m->set_container_path(bind.destination);
      m->set_readonly(bind.read_only());
      const std::string p = bind.propagation();
      m->set_propagation(p == "rslave" ? v1::PROPAGATION_HOST_TO_CONTAINER
                         : p == "rshared" ? v1::PROPAGATION_BIDIRECTIONAL
                                          : v1::PROPAGATION_PRIVATE);
    }
    auto* res = st->mutable_resources()->mutable_linux();
    res->set_cpu_shares(h.cpu_shares);
    res->set_memory_limit_in_bytes(h.memory);
    res->set_cpuset_cpus(h.cpuset_cpus);
    res->set_cpuset_mems(h.cpuset_mems);
    res->set_oom_score_adj(h.oom_score_adj.value_or(0));
    if (h.nano_cpus > 0) {
      res->set_cpu_period(100000);
      res->set_cpu_quota(h.nano_cpus / 10000);
    } else {
      res->set_cpu_period(h.cpu_period);
      res->set_cpu_quota(h.cpu_quota);
    }
    return s;
  }

  // The kubelet's rule for an exec or attach request.
  static void check_streams(bool tty, bool in, bool out, bool err) {
    if (!in && !out && !err) throw Error(ErrorKind::invalid_argument, "one of stdin, stdout, or stderr must be set");
    if (tty && err) throw Error(ErrorKind::invalid_argument, "tty and stderr cannot both be true");
  }

  void check_cgroup_parent(const std::string& parent) {
    if (parent.size() > 6 && parent.substr(parent.size() - 6) == ".slice")
      throw Error(ErrorKind::invalid_argument, "cgroup parent " + parent +
                                                   ": a systemd slice; berth uses the cgroupfs driver (kubelet --cgroup-driver=cgroupfs)");
  }

  // A container of the CRI's that a filter selects: id and pod id prefixes ("" any), labels.
  static bool selected(const engine::Container& c, const std::string& id, const std::string& pod,
                       const google::protobuf::Map<std::string, std::string>& labels) {
    auto it = c.data.find("CRI");
    if (it == c.data.end() || !it->is_object()) return false;
    if (!id.empty() && c.id().rfind(id, 0) != 0) return false;
    if (!pod.empty() && it->value("pod", "").rfind(pod, 0) != 0) return false;
    return labels_match(string_map(*it, "labels"), labels);
  }

  engine::Container cri_container(const std::string& ref) {
    if (ref.empty()) throw Error(ErrorKind::invalid_argument, "no container id given");
    engine::Container c = eng_.lookup(ref);
    if (!c.data.contains("CRI")) throw Error(ErrorKind::not_found, "container " + ref + " not found");
    return c;
  }

  std::vector<engine::Container> containers_of(const std::string& pod) {
    std::vector<engine::Container> out;
    for (auto& c : eng_.list())
      if (c.data.contains("CRI") && c.data["CRI"].value("pod", "") == pod) out.push_back(c);
    return out;
  }

  void remove_container(const std::string& id) {
    try {
      eng_.remove(id, true, true);
    } catch (const Error& e) {
      if (e.kind() != ErrorKind::not_found) throw;
    }
  }

  json resources(const v1::LinuxContainerResources& lr) {
    json h = json::object();
    if (lr.cpu_shares() > 0) h["CpuShares"] = lr.cpu_shares();
    // The CFS period and quota as the kubelet gives them (NanoCpus cleared: a record made
    // before kept the limit there, and both cannot be set).
    if (lr.cpu_period() > 0) h["CpuPeriod"] = lr.cpu_period(), h["NanoCpus"] = 0;
    if (lr.cpu_quota() > 0) h["CpuQuota"] = lr.cpu_quota(), h["NanoCpus"] = 0;
    if (!lr.cpuset_mems().empty()) h["CpusetMems"] = lr.cpuset_mems();
    if (lr.memory_limit_in_bytes() > 0) h["Memory"] = lr.memory_limit_in_bytes();
    if (lr.memory_swap_limit_in_bytes() > 0) h["MemorySwap"] = lr.memory_swap_limit_in_bytes();
    if (!lr.cpuset_cpus().empty()) h["CpusetCpus"] = lr.cpuset_cpus();
    return h;
  }

  json container_config(const v1::ContainerConfig& cc, const Pod& pod) {
    json c = json::object();
    if (!cc.command().empty()) c["Entrypoint"] = std::vector<std::string>(cc.command().begin(), cc.command().end());
    if (!cc.args().empty()) c["Cmd"] = std::vector<std::string>(cc.args().begin(), cc.args().end());
    else if (!cc.command().empty()) c["Cmd"] = json::array();
    std::vector<std::string> env;
    for (auto& kv : cc.envs()) {
      if (kv.key().empty() || kv.key().find('=') != std::string::npos)
        throw Error(ErrorKind::invalid_argument, "invalid environment variable name `" + kv.key() + "`");
      env.push_back(kv.key() + "=" + kv.value());
    }
    if (!env.empty()) c["Env"] = env;
    if (!cc.working_dir().empty()) c["WorkingDir"] = cc.working_dir();
    c["Tty"] = cc.tty();
    c["OpenStdin"] = cc.stdin();
    c["StdinOnce"] = cc.stdin_once();
    c["Labels"] = to_json(cc.labels());
    std::string hostname;
    fs::read_file_if_exists(pods_.dir(pod.id) + "/hostname", hostname);
    while (!hostname.empty() && hostname.back() == '\n') hostname.pop_back();
    if (!hostname.empty()) c["Hostname"] = hostname;
    const auto& sc = cc.linux().security_context();
    if (!sc.run_as_username().empty()) {
      c["User"] = sc.run_as_username() + (sc.has_run_as_group() ? ":" + std::to_string(sc.run_as_group().value()) : "");
    } else if (sc.has_run_as_user()) {
      if (sc.run_as_user().value() < 0) throw Error(ErrorKind::invalid_argument, "run_as_user must not be negative");
      c["User"] = std::to_string(sc.run_as_user().value()) +
                  (sc.has_run_as_group() ? ":" + std::to_string(sc.run_as_group().value()) : "");
    } else if (sc.has_run_as_group()) {
      throw Error(ErrorKind::invalid_argument, "run_as_group needs run_as_user or run_as_username");
    }
    return c;
  }

  // `shown`: the kubelet's mounts, as binds (ContainerStatus lists them; the pod's own are not).
  json host_config(const v1::ContainerConfig& cc, const Pod& pod, std::vector<std::string>& shown) {
    json h = json::object();
    const auto& sc = cc.linux().security_context();
    const auto& nso = sc.namespace_options();
    h["NetworkMode"] = pod.host_network() ? "host" : "ns:" + pods_.netns(pod.id);
    h["UTSMode"] = pod.host_network() ? "host" : "ns:" + pods_.utsns(pod.id);
    h["IpcMode"] = pod.host_ipc() ? "host" : "ns:" + pods_.ipcns(pod.id);
    switch (nso.pid()) {
      case v1::NODE: h["PidMode"] = "host"; break;
      case v1::TARGET: h["PidMode"] = "container:" + cri_container(nso.target_id()).id(); break;
      case v1::POD:
        // The pod's, if it shares one; else its own (as containerd does).
        if (pod.shared_pid()) h["PidMode"] = "ns:" + pods_.pidns(pod.id);
        break;
      default: break;
    }
    if (!pod.config.linux().cgroup_parent().empty()) h["CgroupParent"] = pod.config.linux().cgroup_parent();
    std::vector<std::string> binds;
    std::set<std::string> targets;
    for (auto& m : cc.mounts()) {
      if (m.host_path().empty() || m.container_path().empty() || m.container_path()[0] != '/')
        throw Error(ErrorKind::invalid_argument, "mount needs a host path and an absolute container path");
      if (m.host_path().find(':') != std::string::npos || m.container_path().find(':') != std::string::npos)
        throw Error(ErrorKind::invalid_argument, "mount paths with ':' are not supported: " + m.host_path());
      // The CRI's read-only is the top mount's only (the kubelet's meaning before the
      // recursive_read_only field, which this api.proto predates; containerd's too).
      std::string b = m.host_path() + ":" + m.container_path() + ":" + (m.readonly() ? "ro,norro" : "rw") + "," + propagation(m.propagation());
      binds.push_back(b);
      shown.push_back(b);
      targets.insert(fs::clean_path(m.container_path()));
    }
    if (!pod.host_ipc() && !targets.count("/dev/shm")) binds.push_back(pods_.shm(pod.id) + ":/dev/shm:rw");
    if (!targets.count("/etc/resolv.conf")) binds.push_back(pods_.dir(pod.id) + "/resolv.conf:/etc/resolv.conf:ro");
    if (!pod.host_network() && !targets.count("/etc/hostname")) binds.push_back(pods_.dir(pod.id) + "/hostname:/etc/hostname:ro");
    h["Binds"] = binds;
    std::vector<std::string> devices;
    for (auto& d : cc.devices()) {
      if (d.host_path().empty()) throw Error(ErrorKind::invalid_argument, "device needs a host path");
      devices.push_back(d.host_path() + ":" + (d.container_path().empty() ? d.host_path() : d.container_path()) +
                        (d.permissions().empty() ? "" : ":" + d.permissions()));
    }
    if (!devices.empty()) h["Devices"] = devices;
    const bool pod_privileged = pod.config.linux().security_context().privileged();
    if (sc.privileged() && !pod_privileged)
      throw Error(ErrorKind::invalid_argument, "a privileged container needs a privileged pod sandbox");
    h["Privileged"] = sc.privileged();
    // The kubelet sends its default lists; lists given replace Docker's, empty ones keep them
    // (an unmasked /proc — procMount Unmasked — is not supported).
    if (!sc.masked_paths().empty())
      h["MaskedPaths"] = std::vector<std::string>(sc.masked_paths().begin(), sc.masked_paths().end());
    if (!sc.readonly_paths().empty())
      h["ReadonlyPaths"] = std::vector<std::string>(sc.readonly_paths().begin(), sc.readonly_paths().end());
    h["ReadonlyRootfs"] = sc.readonly_rootfs();
    std::vector<std::string> add, drop;
    for (auto& c : sc.capabilities().add_capabilities()) add.push_back(cap_name(c));
    for (auto& c : sc.capabilities().drop_capabilities()) drop.push_back(cap_name(c));
    if (!add.empty()) h["CapAdd"] = add;
    if (!drop.empty()) h["CapDrop"] = drop;
    std::vector<std::string> groups;
    for (auto g : sc.supplemental_groups()) groups.push_back(std::to_string(g));
    if (!groups.empty()) h["GroupAdd"] = groups;
    std::vector<std::string> sec;
    if (sc.no_new_privs()) sec.push_back("no-new-privileges");
    // The CRI's seccomp: none asked is unconfined (what the kubelet sends for a pod that does
    // not ask for RuntimeDefault; containerd's rule too); a privileged container has none.
    std::string seccomp;
    if (sc.privileged()) {
    } else if (sc.has_seccomp()) {
      if (sc.seccomp().profile_type() == v1::SecurityProfile::Unconfined) seccomp = "unconfined";
      else if (sc.seccomp().profile_type() == v1::SecurityProfile::Localhost) seccomp = sc.seccomp().localhost_ref();
    } else if (const std::string& p = sc.seccomp_profile_path(); !p.empty()) {
      if (p == "unconfined") seccomp = "unconfined";
      else if (p.rfind("localhost/", 0) == 0) seccomp = p.substr(10);
      else if (p != "runtime/default" && p != "docker/default")
        throw Error(ErrorKind::invalid_argument, "seccomp profile " + p + ": runtime/default, unconfined or localhost/PATH");
    } else {
      seccomp = "unconfined";
    }
    if (!seccomp.empty()) {
      if (seccomp != "unconfined" && (seccomp.empty() || seccomp[0] != '/'))
        throw Error(ErrorKind::invalid_argument, "seccomp Localhost profile needs an absolute path");
      sec.push_back("seccomp=" + seccomp);
    }
    if (sc.has_apparmor() && sc.apparmor().profile_type() == v1::SecurityProfile::Localhost)
      throw Error(ErrorKind::invalid_argument, "AppArmor profile " + sc.apparmor().localhost_ref() + ": this host has no AppArmor");
    if (!sec.empty()) h["SecurityOpt"] = sec;
    json sysctls = json::object();
    for (auto& [k, v] : pod.config.linux().sysctls()) sysctls[k] = v;
    // The pod's own network: containerd 2's defaults (enable_unprivileged_ports, _icmp), which
    // Docker's are too — any port and ping sockets for any user; the pod's sysctls win.
    if (!pod.host_network())
      for (const auto& [k, v] : engine::kDefaultNetSysctls)
        if (!sysctls.contains(k)) sysctls[k] = v;
    if (!sysctls.empty()) h["Sysctls"] = sysctls;
    const json res = resources(cc.linux().resources());
    for (auto& [k, v] : res.items()) h[k] = v;
    // The kubelet's QoS score (at create only: a running process keeps its own).
    if (cc.linux().resources().oom_score_adj() != 0) h["OomScoreAdj"] = cc.linux().resources().oom_score_adj();
    return h;
  }

  // The container's stats; its engine reading too when it runs.
  std::optional<engine::Stats> stats_of(engine::Container& c, v1::ContainerStats* out) {
    const json cri = c.data["CRI"];  // a copy: state() may reload c
    auto* a = out->mutable_attributes();
    a->set_id(c.id());
    a->mutable_metadata()->set_name(cri.value("name", ""));
    a->mutable_metadata()->set_attempt(cri.value("attempt", 0u));
    fill(a->mutable_labels(), cri.value("labels", json::object()));
    fill(a->mutable_annotations(), cri.value("annotations", json::object()));
    const int64_t now = now_ns();
    auto* wl = out->mutable_writable_layer();
    wl->set_timestamp(now);
    wl->mutable_fs_id()->set_mountpoint(eng_.options().images.root + "/snapshots");
    try {
      wl->mutable_used_bytes()->set_value(static_cast<uint64_t>(eng_.sizes(c).rw));
    } catch (const std::exception&) {
    }
    if (!eng_.state(c).running()) return std::nullopt;
    try {
      engine::Stats st = eng_.stats(c.id());
      out->mutable_cpu()->set_timestamp(now);
      out->mutable_cpu()->mutable_usage_core_nano_seconds()->set_value(st.cpu_ns);
      out->mutable_memory()->set_timestamp(now);
      out->mutable_memory()->mutable_working_set_bytes()->set_value(st.mem_usage);
      out->mutable_memory()->mutable_usage_bytes()->set_value(st.mem_usage);
      if (st.mem_limit > 0 && st.mem_limit >= st.mem_usage)
        out->mutable_memory()->mutable_available_bytes()->set_value(st.mem_limit - st.mem_usage);
      return st;
    } catch (const Error& e) {
      if (e.kind() != ErrorKind::not_running) throw;
    }
    return std::nullopt;
  }

  // A pod's stats: its containers' (ContainerStats each), their CPU, memory and processes
  // summed (with the pod's pause process), and its network namespace's interfaces.
  void pod_stats(const Pod& p, v1::PodSandboxStats* out) {
    auto* a = out->mutable_attributes();
    a->set_id(p.id);
    *a->mutable_metadata() = p.config.metadata();
    *a->mutable_labels() = p.config.labels();
    *a->mutable_annotations() = p.config.annotations();
    auto* lx = out->mutable_linux();
    const int64_t now = now_ns();
    uint64_t cpu = 0, mem = 0, procs = 0;
    for (auto& c : containers_of(p.id)) {
      try {
        if (auto st = stats_of(c, lx->add_containers())) {
          cpu += st->cpu_ns;
          mem += st->mem_usage;
          procs += st->pids;
        }
      } catch (const Error& e) {
        if (e.kind() != ErrorKind::not_found) throw;  // removed meanwhile
        lx->mutable_containers()->RemoveLast();
      }
    }
    if (p.pause_pid > 0 && ::kill(p.pause_pid, 0) == 0) ++procs;
    lx->mutable_cpu()->set_timestamp(now);
    lx->mutable_cpu()->mutable_usage_core_nano_seconds()->set_value(cpu);
    lx->mutable_memory()->set_timestamp(now);
    lx->mutable_memory()->mutable_working_set_bytes()->set_value(mem);
    lx->mutable_memory()->mutable_usage_bytes()->set_value(mem);
    lx->mutable_process()->set_timestamp(now);
    lx->mutable_process()->mutable_process_count()->set_value(procs);
    if (!p.ready || p.host_network()) return;  // the host's interfaces are not the pod's
    auto* net = lx->mutable_network();
    net->set_timestamp(now);
    for (const auto& i : pods_.interfaces(p.id)) {
      v1::NetworkInterfaceUsage u;
      u.set_name(i.name);
      u.mutable_rx_bytes()->set_value(i.rx_bytes);
      u.mutable_rx_errors()->set_value(i.rx_errors);
      u.mutable_tx_bytes()->set_value(i.tx_bytes);
      u.mutable_tx_errors()->set_value(i.tx_errors);
      // The CNI's interface (eth0 as the kubelet names it) is the default one.
      if (i.name == "eth0" || !net->has_default_interface()) *net->mutable_default_interface() = u;
      *net->add_interfaces() = u;
    }
  }

  static void signal_fd(int efd) {
    const uint64_t one = 1;
    (void)!::write(efd, &one, sizeof one);
  }

  engine::Engine& eng_;
  Pods& pods_;
  StreamingServer& streaming_;
  const Settings& s_;
  std::mutex event_mu_;
  std::set<int> event_fds_;  // the cancel eventfds of the GetContainerEvents streams
  bool closing_ = false;
};

// ---------------------------------------------------------------------------------------------

class ImageImpl final : public v1::ImageService::Service {
 public:
  ImageImpl(engine::Engine& eng, const Settings& s) : eng_(eng), s_(s) {}

  grpc::Status ListImages(grpc::ServerContext*, const v1::ListImagesRequest* q, v1::ListImagesResponse* r) override {
    return call("ListImages", [&] {
      std::set<std::string> seen;
      std::optional<std::string> only;
      if (q->has_filter() && !q->filter().image().image().empty()) {
        auto img = find_image(eng_, q->filter().image().image());
        if (!img) return;
        only = img->id.str();
      }
      for (auto& img : eng_.images().list()) {
        const std::string id = img.id.str();
        if ((only && id != *only) || !seen.insert(id).second) continue;
        fill_image(eng_, img, r->add_images());
      }
    });
  }

  grpc::Status ImageStatus(grpc::ServerContext*, const v1::ImageStatusRequest* q, v1::ImageStatusResponse* r) override {
    return call("ImageStatus", [&] {
      auto img = find_image(eng_, q->image().image());
      if (!img) return;  // none: an empty status, not an error (the CRI's rule)
      fill_image(eng_, *img, r->mutable_image());
      if (q->verbose()) (*r->mutable_info())["info"] = json{{"imageSpec", img->config.config}}.dump();
    });
  }

  grpc::Status PullImage(grpc::ServerContext* ctx, const v1::PullImageRequest* q, v1::PullImageResponse* r) override {
    return call("PullImage", [&] {
      const std::string& ref = q->image().image();
      if (ref.empty()) throw Error(ErrorKind::invalid_argument, "no image given");
      std::string header;
      if (q->has_auth()) {
        const auto& a = q->auth();
        std::string user = a.username(), pass = a.password();
        if (!a.auth().empty()) {
          const std::string up = distribution::base64_decode(a.auth());
          user = up.substr(0, up.find(':'));
          pass = up.find(':') == std::string::npos ? "" : up.substr(up.find(':') + 1);
        }
        json j = {{"username", user}, {"password", pass}, {"serveraddress", a.server_address()}};
        if (!a.identity_token().empty()) j["identitytoken"] = a.identity_token();
        if (!a.registry_token().empty()) j["registrytoken"] = a.registry_token();
        header = distribution::base64_encode(j.dump());
      }
      if (!s_.transfer) throw Error(ErrorKind::unavailable, "this berthd has no registry client");
      image::Transfer t = s_.transfer(header);
      t.cancelled = [ctx] { return ctx->IsCancelled(); };
      image::Image img = eng_.images().pull(ref, t);
      r->set_image_ref(img.id.str());
    });
  }

  grpc::Status RemoveImage(grpc::ServerContext*, const v1::RemoveImageRequest* q, v1::RemoveImageResponse*) override {
    return call("RemoveImage", [&] {
      auto img = find_image(eng_, q->image().image());
      if (!img) return;  // gone already: fine
      // Every name of the image goes (the kubelet removes by id); one a container still
      // uses is refused by the engine.
      std::set<std::string> names;
      for (auto& i : eng_.images().list())
        if (i.id.str() == img->id.str()) names.insert(i.record.name);
      for (auto& n : names) {
        try {
          eng_.remove_image(n, false);
        } catch (const Error& e) {
          if (e.kind() != ErrorKind::not_found) throw;
        }
      }
    });
  }

  grpc::Status ImageFsInfo(grpc::ServerContext*, const v1::ImageFsInfoRequest*, v1::ImageFsInfoResponse* r) override {
    return call("ImageFsInfo", [&] {
      const std::string dir = eng_.options().images.root + "/snapshots";
      fs::Usage u = fs::is_dir(dir) ? fs::disk_usage(dir) : fs::Usage{};
      auto* f = r->add_image_filesystems();
      f->set_timestamp(now_ns());
      f->mutable_fs_id()->set_mountpoint(dir);
      f->mutable_used_bytes()->set_value(static_cast<uint64_t>(u.bytes));
      f->mutable_inodes_used()->set_value(static_cast<uint64_t>(u.inodes));
    });
  }

 private:
  engine::Engine& eng_;
  const Settings& s_;
};

// ---------------------------------------------------------------------------------------------

struct Server::Impl {
  engine::Engine& eng;
  Settings s;
  Pods pods;
  StreamingServer streaming;
  RuntimeImpl runtime;
  ImageImpl images;
  std::unique_ptr<grpc::Server> server;

  static PodSettings pod_settings(const engine::Engine& eng, const Settings& s) {
    PodSettings ps;
    ps.root = s.root;
    ps.state = s.state;
    ps.cni_conf_dirs = s.cni_conf_dirs;
    ps.cni_plugin_dirs = s.cni_plugin_dirs;
    ps.cni_timeout_ms = eng.options().cni_timeout_ms;
    ps.pause = eng.options().shim;
    return ps;
  }
  Impl(engine::Engine& e, Settings st)
      : eng(e), s(std::move(st)), pods(pod_settings(e, s)), streaming(e), runtime(e, pods, streaming, s), images(e, s) {}
};

Server::Server(engine::Engine& eng, Settings s) {
  if (s.cni_plugin_dirs.empty()) {
    s.cni_plugin_dirs = eng.options().cni_plugin_dirs;
    s.cni_plugin_dirs.push_back("/opt/cni/bin");
  }
  impl_ = std::make_unique<Impl>(eng, std::move(s));
}

Server::~Server() { shutdown(); }

void Server::start() {
  grpc::ServerBuilder b;
  b.RegisterService(&impl_->runtime);
  b.RegisterService(&impl_->images);
  b.SetMaxReceiveMessageSize(16 << 20);
  b.SetMaxSendMessageSize(16 << 20);
  impl_->server = b.BuildAndStart();
  if (!impl_->server) throw Error(ErrorKind::unavailable, "cannot start the CRI's gRPC server");
  impl_->streaming.start(impl_->s.streaming_address);
}

void Server::adopt(int fd) {
  if (!impl_->server) {
    ::close(fd);
    return;
  }
  grpc::AddInsecureChannelFromFd(impl_->server.get(), fd);
}

std::string Server::streaming_address() const { return impl_->streaming.address(); }

void Server::shutdown() {
  if (!impl_ || !impl_->server) return;
  impl_->streaming.stop();
  impl_->runtime.end_event_streams();
  impl_->server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(3));
  impl_->server.reset();
}

}  // namespace berth::cri
