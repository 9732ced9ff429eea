#include "build/builder.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <thread>
#include <set>

#include "build/cache_mounts.hpp"
#include "build/copy.hpp"
#include "build/dockerfile.hpp"
#include "build/ignore.hpp"
#include "build/words.hpp"
#include "common/digest.hpp"
#include "common/duration.hpp"
#include "common/error.hpp"
#include "common/fs.hpp"
#include "common/strings.hpp"
#include "common/log.hpp"
#include "common/time.hpp"
#include "engine/spec.hpp"
#include "network/networks.hpp"
#include "oci/reference.hpp"
#include "runtime/signals.hpp"
#include "shim/frames.hpp"
#include "snapshot/snapshotter.hpp"

namespace berth::build {

using nlohmann::json;

namespace {

// The words of `s` between spaces and tabs (EXPOSE's expanded ports).
std::vector<std::string> split_ws(const std::string& s) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && (s[i] == ' ' || s[i] == '\t')) ++i;
    size_t j = i;
    while (j < s.size() && s[j] != ' ' && s[j] != '\t') ++j;
    if (j > i) out.push_back(s.substr(i, j - i));
    i = j;
  }
  return out;
}

// The proxy variables every build knows without an ARG (and leaves out of the history).
const std::set<std::string> kPredefinedArgs = {"HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "FTP_PROXY",
                                               "ftp_proxy",  "NO_PROXY",   "no_proxy",    "ALL_PROXY",   "all_proxy"};

std::string now_text() {
  return rfc3339_nano(std::chrono::duration_cast<std::chrono::nanoseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count());
}

std::string upper(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

// Go's %q of each word, space-separated in brackets: how Docker's history shows a list.
std::string go_list(const std::vector<std::string>& v) {
  std::string out = "[";
  for (size_t i = 0; i < v.size(); ++i) {
    if (i) out += ' ';
    out += json(v[i]).dump();
  }
  return out + "]";
}

// Go's %q of an integer: a quoted character literal ('\x02', 'A').
std::string go_char(int v) {
  char buf[16];
  if (v >= 32 && v < 127 && v != '\'' && v != '\\') std::snprintf(buf, sizeof buf, "'%c'", v);
  else if (v >= 0 && v < 256) std::snprintf(buf, sizeof buf, "'\\x%02x'", v);
  else std::snprintf(buf, sizeof buf, "'\\u%04x'", v & 0xffff);
  return buf;
}

std::vector<std::string> strings_of(const json& j) {
  std::vector<std::string> out;
  if (j.is_array())
    for (auto& x : j)
      if (x.is_string()) out.push_back(x.get<std::string>());
  return out;
}

// "30s", "1m30s", "500ms", "2h" → nanoseconds (Go's time.ParseDuration, the units Docker takes).
int64_t parse_duration(const std::string& flag, const std::string& s) {
  if (s.empty()) throw Error(ErrorKind::invalid_argument, "--" + flag + ": a duration is required");
  const auto ns = parse_go_duration(s);
  if (!ns || *ns < 0) throw Error(ErrorKind::invalid_argument, "--" + flag + ": invalid duration `" + s + "` (units ns, us, ms, s, m, h)");
  // Docker's builder: 0 is "the default", anything else at least the engine's minimum.
  if (*ns != 0 && *ns < 1000000)
    throw Error(ErrorKind::invalid_argument, "Interval \"" + flag + "\" cannot be less than 1ms");
  return *ns;
}

json& config_object(json& doc) {
  json& c = doc["config"];
  if (!c.is_object()) c = json::object();
  return c;
}

// The state of a stage between steps: the image its last step made.
struct Current {
  json doc = json::object();            // the whole image config
  std::vector<oci::Descriptor> layers;  // the manifest's
  std::string id;                       // its image id; "" for scratch before any step
  std::map<std::string, std::optional<std::string>> args;  // ARGs of this stage (value or unset)
  bool cmd_set = false;                                    // CMD given in this stage
  std::string stage_name;

  std::vector<Digest> diff_ids() const {
    std::vector<Digest> out;
    for (auto& d : doc["rootfs"].value("diff_ids", json::array())) out.push_back(Digest::parse(d.get<std::string>()));
    return out;
  }
  std::vector<std::string> shell() const {
    auto s = strings_of(doc.value("config", json::object()).value("Shell", json::array()));
    return s.empty() ? std::vector<std::string>{"/bin/sh", "-c"} : s;
  }
  std::vector<std::string> env() const {
    return strings_of(doc.value("config", json::object()).value("Env", json::array()));
  }
  std::optional<std::string> env_value(const std::string& name) const {
    std::optional<std::string> v;
    for (auto& e : env())
      if (e.size() > name.size() && e.compare(0, name.size(), name) == 0 && e[name.size()] == '=') v = e.substr(name.size() + 1);
    return v;
  }
};

class Builder {
 public:
  Builder(engine::Engine& eng, const BuildOptions& o) : eng_(eng), images_(eng.images()), o_(o) {}

  BuildResult run() {
    const Dockerfile df = parse_dockerfile(o_.dockerfile);
    words_ = Words(df.escape);
    const Stages st = split_stages(df);
    if (st.stages.empty()) throw Error(ErrorKind::invalid_argument, "the Dockerfile has no FROM");
    // Meta ARGs (before the first FROM): usable in FROM lines, and as defaults of a stage's
    // bare `ARG NAME`.
    for (const Instruction& a : st.meta_args) declare_args(a, meta_args_, nullptr);
    // BuildKit's automatic platform ARGs, in the global scope (a FROM's --platform=$BUILDPLATFORM;
    // a stage's bare `ARG TARGETARCH` takes them): this machine's, the only one built.
    const oci::Platform here = images_.options().platform;
    for (const char* side : {"TARGET", "BUILD"}) {
      const std::string pre = side;
      for (auto [name, value] : {std::pair<std::string, std::string>{"PLATFORM", here.str()}, {"OS", here.os},
                                 {"ARCH", here.architecture}, {"VARIANT", here.variant}}) {
        auto& slot = meta_args_[pre + name];
        if (!slot) slot = value;  // a global ARG of that name with a value keeps it
      }
    }
    // The target and the stages it needs (by FROM and COPY --from), in file order.
    size_t target = st.stages.size() - 1;
    if (!o_.target.empty()) {
      bool found = false;
      for (auto& s : st.stages)
        if (s.name == lower(o_.target)) target = s.index, found = true;
      if (!found) throw Error(ErrorKind::invalid_argument, "failed to reach build target " + o_.target + " in Dockerfile");
    }
    // The stages the target needs, and the ones each of them needs: the stage its FROM
    // names, those its COPY --from and RUN --mount=…,from= name (a stage nothing needs is not
    // even looked at).
    std::vector<std::set<size_t>> deps(st.stages.size());
    std::set<size_t> needed;
    std::function<void(size_t)> need = [&](size_t i) {
      if (!needed.insert(i).second) return;
      const Stage& s = st.stages[i];
      if (auto dep = stage_ref(st, from_name(s.from), i)) deps[i].insert(*dep);
      for (const Instruction& ins : s.body) {
        if ((ins.cmd == "copy" || ins.cmd == "add") && ins.flag("from"))
          if (auto dep = stage_ref(st, words_.word(ins.flag("from")->value, meta_lookup()), i)) deps[i].insert(*dep);
        if (ins.cmd != "run") continue;
        for (const auto& f : ins.flags) {
          if (f.name != "mount") continue;
          for (const std::string& kv : split(words_.word(f.value, meta_lookup()), ','))
            if (kv.rfind("from=", 0) == 0)
              if (auto dep = stage_ref(st, kv.substr(5), i)) deps[i].insert(*dep);
        }
      }
      for (size_t d : deps[i]) need(d);
    };
    need(target);
    // Every stage the target needs builds as soon as the stages it needs are built: stages
    // that do not depend on each other build at the same time, each in a thread of its own.
    // The output stays that of a build in file order (steps numbered through): the earliest
    // unfinished stage prints as it goes, the others keep theirs until it is their turn.
    for (size_t i : needed) total_steps_ += 1 + st.stages[i].body.size();
    runs_.resize(st.stages.size());
    results_.resize(st.stages.size());
    size_t offset = 0;
    for (size_t i : needed) {
      runs_[i].step = offset;
      offset += 1 + st.stages[i].body.size();
    }
    order_.assign(needed.begin(), needed.end());
    runs_[order_.front()].live = true;
    // --cache-from: images whose steps may stand for this build's (missing ones: a warning).
    for (const std::string& ref : o_.cache_from) {
      if (auto img = images_.find(ref)) cache_from_.push_back(*img);
      else say("[Warning] --cache-from " + ref + ": no such image here (pull it first)\n");
    }
    context_fd();  // opened (and .dockerignore read) once, before the threads
    ignore_rules();
    hashes_.load(hashes_path());
    if (::pipe2(abort_pipe_, O_CLOEXEC | O_NONBLOCK) < 0) throw_errno("pipe");
    std::vector<std::thread> threads;
    for (size_t i : needed) {
      threads.emplace_back([this, i, &st, &deps] {
        current_ = &runs_[i];
        try {
          {
            std::unique_lock<std::mutex> lk(mu_);
            cv_.wait(lk, [&] {
              if (failed_) return true;
              for (size_t d : deps[i])
                if (!results_[d]) return false;
              return true;
            });
            if (failed_) return;
          }
          check_cancel();
          image::Image img = build_stage(st, st.stages[i]);
          std::lock_guard<std::mutex> lk(mu_);
          results_[i] = img;
          finish_output(i);
        } catch (...) {
          std::lock_guard<std::mutex> lk(mu_);
          fail(std::current_exception());
          finish_output(i);
        }
        cv_.notify_all();
      });
    }
    for (auto& t : threads) t.join();
    try {
      hashes_.save(hashes_path());
    } catch (const std::exception& e) {
      log::warn(std::string("build: the context's hash cache: ") + e.what());
    }
    ::close(abort_pipe_[0]);
    ::close(abort_pipe_[1]);
    current_ = nullptr;
    if (error_) std::rethrow_exception(error_);
    image::Image result = *results_[target];
    // --label: on the final image (Docker adds them as the last step's config).
    if (!o_.labels.empty()) {
      Current cur = from_image(result);
      for (auto& [k, v] : o_.labels) config_object(cur.doc)["Labels"][k] = v;
      std::string text;
      for (auto& [k, v] : o_.labels) text += " " + k + "=" + v;
      result = metadata_step(cur, "LABEL" + text, {}, true);
    }
    for (const std::string& t : o_.tags) images_.tag(result.id.str(), t);
    if (o_.tags.empty()) images_.keep_without_name(result);  // Docker lists it as <none>
    BuildResult r;
    r.image = result;
    for (auto& [k, v] : o_.build_args)
      if (!used_args_.count(k) && !kPredefinedArgs.count(k)) r.unused_args.push_back(k);
    return r;
  }

 private:
  static std::string lower(std::string s) {
    for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
  }

  // One stage's build: its next step number, and its output while it is not the one printing.
  struct StageRun {
    size_t step = 0;
    std::string held;
    bool live = false, finished = false;
  };

  void say(const std::string& s) {
    if (!o_.out) return;
    std::lock_guard<std::mutex> lk(mu_);
    if (!current_ || current_->live) o_.out(s);
    else current_->held += s;
  }

  // Stage i is done (or failed): the next stages in file order print what they held, the
  // first unfinished one goes on printing live. Called with mu_ held.
  void finish_output(size_t i) {
    runs_[i].finished = true;
    if (!runs_[i].live) return;  // what it printed is held until its turn
    runs_[i].live = false;
    auto it = std::find(order_.begin(), order_.end(), i);
    for (++it; it != order_.end(); ++it) {
      StageRun& r = runs_[*it];
      if (o_.out && !r.held.empty()) o_.out(r.held);
      r.held.clear();
      if (!r.finished) {
        r.live = true;
        return;
      }
    }
  }

  // The first failure stops the other stages (their RUN killed); a cancellation that the
  // failure caused is not the error to report.
  void fail(std::exception_ptr e) {
    if (!failed_) {
      failed_ = true;
      error_ = e;
      const char c = 1;
      [[maybe_unused]] ssize_t n = ::write(abort_pipe_[1], &c, 1);
      // What the stages held is shown with the failure.
      for (size_t k : order_) {
        if (o_.out && !runs_[k].held.empty() && !runs_[k].live) o_.out(runs_[k].held);
        runs_[k].held.clear();
        runs_[k].live = true;
      }
    }
    cv_.notify_all();
  }

  void check_cancel() {
    pollfd p[2] = {{o_.cancel_fd, POLLIN, 0}, {abort_pipe_[0], POLLIN, 0}};
    if (::poll(p, 2, 0) > 0 || (o_.cancelled && o_.cancelled()))
      throw Error(ErrorKind::unavailable, "build cancelled");
  }

  Lookup meta_lookup() const {
    return [this](const std::string& n) -> std::optional<std::string> {
      auto it = meta_args_.find(n);
      if (it != meta_args_.end()) return it->second;
      return std::nullopt;
    };
  }

  // Variables for an instruction's words: the stage's ENV first, then its ARGs.
  Lookup lookup(const Current& cur) const {
    return [&cur](const std::string& n) -> std::optional<std::string> {
      if (auto v = cur.env_value(n)) return v;
      auto it = cur.args.find(n);
      if (it != cur.args.end()) return it->second;
      return std::nullopt;
    };
  }

  std::string from_name(const Instruction& from) {
    if (from.args.empty()) throw Error(ErrorKind::invalid_argument, where(from) + "FROM requires an image");
    return words_.word(from.args[0], meta_lookup());
  }

  // The stage that `ref` names (its name, or its index for COPY --from), if any; only an
  // earlier one (a later or the same one would be a cycle).
  std::optional<size_t> stage_ref(const Stages& st, const std::string& ref, size_t self) {
    const std::string l = lower(ref);
    for (auto& s : st.stages)
      if (!s.name.empty() && s.name == l) {
        if (s.index >= self) throw Error(ErrorKind::invalid_argument, "stage `" + ref + "` is used before it is defined (or by itself)");
        return s.index;
      }
    if (!l.empty() && l.find_first_not_of("0123456789") == std::string::npos) {
      const size_t i = std::stoul(l);
      if (i >= self) throw Error(ErrorKind::invalid_argument, "stage " + ref + " is used before it is defined (or by itself)");
      return i;
    }
    return std::nullopt;
  }

  static std::string where(const Instruction& ins) {
    return "Dockerfile:" + std::to_string(ins.line) + ":" + std::to_string(ins.column) + ": ";
  }

  // ARG NAME[=default]...: declared in `into` with the value the build gives it.
  void declare_args(const Instruction& ins, std::map<std::string, std::optional<std::string>>& into, const Current* cur) {
    for (const std::string& raw : ins.args) {
      const size_t eq = raw.find('=');
      const std::string name = raw.substr(0, eq);
      if (name.empty()) throw Error(ErrorKind::invalid_argument, where(ins) + "ARG names can not be blank");
      std::optional<std::string> value;
      if (eq != std::string::npos) value = words_.word(raw.substr(eq + 1), cur ? lookup(*cur) : meta_lookup());
      else if (cur && meta_args_.count(name)) value = meta_args_[name];  // a global default
      if (auto it = o_.build_args.find(name); it != o_.build_args.end()) {
        value = it->second;
        std::lock_guard<std::mutex> lk(mu_);
        used_args_.insert(name);
      }
      into[name] = value;
    }
  }

  image::Image resolve_image(const std::string& ref) {
    std::optional<image::Image> img;
    bool fetch_first;
    {
      std::lock_guard<std::mutex> lk(mu_);
      fetch_first = o_.always_pull && !pulled_.count(ref);
    }
    if (!fetch_first) img = images_.find(ref);
    if (!img) {
      if (!o_.pull) throw Error(ErrorKind::not_found, "No such image: " + ref);
      o_.pull(ref);
      std::lock_guard<std::mutex> lk(mu_);
      pulled_.insert(ref);
      img = images_.resolve(ref);
    }
    return *img;
  }

  Current from_image(const image::Image& img) {
    Current cur;
    cur.doc = img.config.raw;
    cur.layers = img.manifest.layers;
    cur.id = img.id.str();
    if (!cur.doc["rootfs"].is_object()) cur.doc["rootfs"] = {{"type", "layers"}, {"diff_ids", json::array()}};
    if (!cur.doc["history"].is_array()) cur.doc["history"] = json::array();
    config_object(cur.doc);
    return cur;
  }

  Current scratch() {
    Current cur;
    const oci::Platform p = images_.options().platform;
    cur.doc = {{"architecture", p.architecture},
               {"os", p.os},
               {"config", json::object()},
               {"rootfs", {{"type", "layers"}, {"diff_ids", json::array()}}},
               {"history", json::array()}};
    return cur;
  }

  // A step's cache key: its parent (the image, and the config as this stage has it now — a
  // FROM may have added PATH or dropped the base's triggers) and what the step does.
  std::string step_key(const Current& cur, const std::string& what) {
    const std::string parent = cur.id.empty() ? std::string("scratch") : cur.id;
    return sha256_of(parent + '\n' + cur.doc.value("config", json::object()).dump() + '\n' + what).encoded;
  }

  // The image of a step: the state's config with `created_by` in its history and, when the
  // step made one, the layer.
  image::Image finish(Current& cur, const std::string& key, const std::string& created_by,
                      std::optional<image::Service::NewLayer> layer) {
    // A step that changed nothing (`RUN true`, WORKDIR of a directory that is there) adds no
    // layer: an empty tar's is left out and the history says empty_layer, as Docker's classic
    // builder does (same files, fewer layers, the same image ids as Docker's for such steps).
    if (layer && layer->diff_id.str() == image::Service::kEmptyLayerDiffId) layer.reset();
    const std::string created = now_text();
    cur.doc["created"] = created;
    config_object(cur.doc)["Image"] = cur.id;  // the parent step's image, as Docker records it
    json h = {{"created", created}, {"created_by", created_by}};
    if (!layer) h["empty_layer"] = true;
    cur.doc["history"].push_back(h);
    if (layer) {
      cur.doc["rootfs"]["diff_ids"].push_back(layer->diff_id.str());
      cur.layers.push_back(layer->desc);
    }
    if (cur.doc.dump().size() > oci::kMaxManifestSize)
      throw Error(ErrorKind::invalid_argument, "the image's config would be larger than 4 MiB (its Env, Labels or history)");
    image::Image img = images_.store_image(cur.doc, cur.layers, image::build_cache_name(key));
    cur.id = img.id.str();
    return img;
  }

  // A cached result for `key`, printed as Docker does; nullopt on a miss.
  std::optional<image::Image> cached(Current& cur, const std::string& key) {
    if (o_.no_cache) return std::nullopt;
    auto img = images_.build_cache(key);
    if (!img) return std::nullopt;
    const auto args = cur.args;
    const bool cmd_set = cur.cmd_set;
    const std::string name = cur.stage_name;
    cur = from_image(*img);
    cur.args = args;
    cur.cmd_set = cmd_set;
    cur.stage_name = name;
    say(" ---> Using cache\n");
    return img;
  }

  // --cache-from: an image whose history is this stage's so far (the same steps, the same
  // layers) and whose next step is `created_by` making a layer gives that layer — the step
  // is not run. (Metadata steps cost nothing to redo: they are made as usual.)
  // The result: nothing (no image stands for the step), or the step's layer — none when it
  // changed nothing there (empty_layer: a RUN that wrote no file).
  std::optional<std::optional<image::Service::NewLayer>> cache_from_layer(const Current& cur, const std::string& created_by) {
    if (o_.no_cache || cache_from_.empty()) return std::nullopt;
    const json ours = cur.doc.value("history", json::array());
    const std::vector<Digest> ids = cur.diff_ids();
    for (const image::Image& x : cache_from_) {
      const json& theirs = x.config.history;
      if (!theirs.is_array() || theirs.size() <= ours.size() || x.config.diff_ids.size() < ids.size() ||
          x.manifest.layers.size() != x.config.diff_ids.size())
        continue;
      bool same = true;
      for (size_t i = 0; i < ours.size() && same; ++i)
        same = theirs[i].value("created_by", "") == ours[i].value("created_by", "") &&
               theirs[i].value("empty_layer", false) == ours[i].value("empty_layer", false);
      for (size_t i = 0; i < ids.size() && same; ++i) same = x.config.diff_ids[i] == ids[i];
      const json& next = theirs[ours.size()];
      if (!same || next.value("created_by", "") != created_by) continue;
      if (next.value("empty_layer", false)) {
        say(" ---> Using cache\n");
        return std::optional<image::Service::NewLayer>();
      }
      if (x.config.diff_ids.size() <= ids.size()) continue;
      image::Service::NewLayer l;
      l.desc = x.manifest.layers[ids.size()];
      l.diff_id = x.config.diff_ids[ids.size()];
      std::vector<Digest> all = ids;
      all.push_back(l.diff_id);
      l.chain = oci::chain_id(all).str();
      say(" ---> Using cache\n");
      return std::optional<image::Service::NewLayer>(l);
    }
    return std::nullopt;
  }

  // A step that changes the config only. `apply` changes cur.doc's config (not called on a hit).
  image::Image metadata_step(Current& cur, const std::string& text, const std::function<void(json&)>& apply,
                             bool applied = false) {
    const std::string created_by = shell_words(cur) + " #(nop)  " + text;
    const std::string key = step_key(cur, "meta\n" + created_by);
    if (auto hit = cached(cur, key)) return *hit;
    if (!applied && apply) apply(config_object(cur.doc));
    return finish(cur, key, created_by, std::nullopt);
  }

  std::string shell_words(const Current& cur) {
    std::string s;
    for (auto& w : cur.shell()) s += (s.empty() ? "" : " ") + w;
    return s;
  }

  void step_header(const Instruction& ins) {
    const size_t n = current_ ? ++current_->step : 0;
    say("Step " + std::to_string(n) + "/" + std::to_string(total_steps_) + " : " + ins.original + "\n");
  }

  void print_id(const image::Image& img) {
    say(" ---> " + image::short_id(img.id) + "\n");
  }

  image::Image build_stage(const Stages& st, const Stage& stage) {
    step_header(stage.from);
    if (const auto* p = stage.from.flag("platform")) {
      const std::string want = words_.word(p->value, meta_lookup());
      const oci::Platform host = images_.options().platform;
      if (want != host.os + "/" + host.architecture && want != host.os + "/" + host.architecture + "/" + host.variant)
        throw Error(ErrorKind::invalid_argument, where(stage.from) + "FROM --platform=" + want +
                                                     ": only this machine's platform (" + host.os + "/" + host.architecture + ") can be built");
    }
    const std::string base = from_name(stage.from);
    Current cur;
    image::Image img;
    bool have_img = false;
    if (auto dep = stage_ref(st, base, stage.index)) {
      img = *results_[*dep];
      cur = from_image(img);
      have_img = true;
    } else if (lower(base) == "scratch") {
      cur = scratch();
    } else {
      img = resolve_image(base);
      cur = from_image(img);
      have_img = true;
    }
    cur.stage_name = stage.name;
    // Docker's builder gives an image without PATH the default one (what RUN needs too).
    if (!cur.env_value("PATH")) {
      json env = json::array({"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"});
      for (auto& e : strings_of(config_object(cur.doc).value("Env", json::array()))) env.push_back(e);
      config_object(cur.doc)["Env"] = env;
    }
    if (have_img) print_id(img);
    // ONBUILD triggers of the base run first, then leave the image.
    const auto triggers = strings_of(config_object(cur.doc).value("OnBuild", json::array()));
    if (!triggers.empty()) {
      say("# Executing " + std::to_string(triggers.size()) + " build trigger" + (triggers.size() > 1 ? "s" : "") + "\n");
      config_object(cur.doc)["OnBuild"] = nullptr;
      for (const std::string& t : triggers) {
        Dockerfile one = parse_dockerfile(t);
        for (Instruction& ins : one.instructions) {
          ins.line = stage.from.line;
          img = step(cur, ins, st, stage);
        }
      }
    }
    for (const Instruction& ins : stage.body) {
      check_cancel();
      step_header(ins);
      img = step(cur, ins, st, stage);
      print_id(img);
    }
    // scratch with nothing after it: an empty image of its own.
    if (cur.id.empty()) img = finish(cur, step_key(cur, "scratch"), "", std::nullopt);
    return img;
  }

  image::Image step(Current& cur, const Instruction& ins, const Stages& st, const Stage& stage) {
    try {
      return dispatch(cur, ins, st, stage);
    } catch (const Error& e) {
      const std::string msg = e.what();
      if (msg.rfind("Dockerfile:", 0) == 0 || msg.rfind("The command", 0) == 0 || msg == "build cancelled") throw;
      throw Error(e.kind(), where(ins) + msg, e.code());
    }
  }

  image::Image dispatch(Current& cur, const Instruction& ins, const Stages& st, const Stage& stage) {
    const Lookup env = lookup(cur);
    const std::string& c = ins.cmd;
    if (c == "arg") {
      declare_args(ins, cur.args, &cur);
      std::string text;
      for (auto& a : ins.args) text += " " + a;
      return metadata_step(cur, "ARG" + text, {});
    }
    if (c == "env" || c == "label") {
      std::vector<std::pair<std::string, std::string>> kv;
      for (size_t i = 0; i + 1 < ins.args.size(); i += 2)
        kv.emplace_back(words_.word(ins.args[i], env), words_.word(ins.args[i + 1], env));
      std::string text;
      for (auto& [k, v] : kv) text += " " + k + "=" + v;
      return metadata_step(cur, upper(c) + text, [&](json& conf) {
        for (auto& [k, v] : kv) {
          if (c == "label") {
            if (!conf["Labels"].is_object()) conf["Labels"] = json::object();
            conf["Labels"][k] = v;
            continue;
          }
          // A variable set again keeps its place (Docker's).
          json env = json::array();
          bool replaced = false;
          for (auto& e : strings_of(conf.value("Env", json::array()))) {
            if (e.rfind(k + "=", 0) == 0) {
              if (!replaced) env.push_back(k + "=" + v);
              replaced = true;
            } else {
              env.push_back(e);
            }
          }
          if (!replaced) env.push_back(k + "=" + v);
          conf["Env"] = env;
        }
      });
    }
    if (c == "maintainer") {
      const std::string who = ins.rest;
      return metadata_step(cur, "MAINTAINER " + who, [&](json&) { cur.doc["author"] = who; });
    }
    if (c == "cmd" || c == "entrypoint") {
      std::vector<std::string> cmd = ins.json ? ins.args : cur.shell();
      if (!ins.json) cmd.push_back(ins.rest);
      // A bare ENTRYPOINT clears it, as ENTRYPOINT [] (Docker's classic builder).
      if (!ins.json && c == "entrypoint" && ins.args.empty()) cmd.clear();
      const bool is_cmd = c == "cmd";
      if (is_cmd) cur.cmd_set = true;
      return metadata_step(cur, upper(c) + " " + go_list(cmd), [&](json& conf) {
        // ENTRYPOINT [] clears it: null, as Docker stores it.
        conf[is_cmd ? "Cmd" : "Entrypoint"] = cmd.empty() && !is_cmd ? json(nullptr) : json(cmd);
        // A new ENTRYPOINT drops a CMD inherited from the base (one set in this stage stays).
        if (!is_cmd && !cur.cmd_set) conf["Cmd"] = nullptr;
      });
    }
    if (c == "expose") {
      std::vector<std::string> ports, given;
      for (auto& w : ins.args) {
        const std::string expanded = words_.word(w, env);
        given.push_back(expanded);
        // A variable holding several ports ("80 443") gives each (Docker splits after expanding).
        for (std::string p : split_ws(expanded)) {
          if (auto slash = p.find('/'); slash != std::string::npos) p = p.substr(0, slash) + lower(p.substr(slash));  // 53/UDP
          if (p.find(':') != std::string::npos) throw Error(ErrorKind::invalid_argument, "EXPOSE " + p + ": a port of the container only (PORT[/PROTO])");
          for (auto& m : network::parse_publish(p)) ports.push_back(std::to_string(m.container_port) + "/" + m.protocol);
        }
      }
      std::sort(given.begin(), given.end());  // Docker's history: the words as given, sorted
      std::string text;
      for (auto& p : given) text += " " + p;
      return metadata_step(cur, "EXPOSE" + text, [&](json& conf) {
        if (!conf["ExposedPorts"].is_object()) conf["ExposedPorts"] = json::object();
        for (auto& p : ports) conf["ExposedPorts"][p] = json::object();
      });
    }
    if (c == "volume") {
      std::vector<std::string> vols;
      for (auto& w : ins.args) {
        const std::string v = ins.json ? w : words_.word(w, env);
        if (v.empty()) throw Error(ErrorKind::invalid_argument, "VOLUME specified can not be an empty string");
        vols.push_back(v);
      }
      std::string text;
      for (auto& v : vols) text += (text.empty() ? "" : " ") + v;
      return metadata_step(cur, "VOLUME [" + text + "]", [&](json& conf) {
        if (!conf["Volumes"].is_object()) conf["Volumes"] = json::object();
        for (auto& v : vols) conf["Volumes"][v] = json::object();
      });
    }
    if (c == "user") {
      const std::string u = words_.word(ins.rest, env);
      return metadata_step(cur, "USER " + u, [&](json& conf) { conf["User"] = u; });
    }
    if (c == "workdir") {
      std::string dir = words_.word(ins.rest, env);
      if (dir.empty()) throw Error(ErrorKind::invalid_argument, "WORKDIR requires a path");
      if (dir[0] != '/') {
        std::string base = config_object(cur.doc).value("WorkingDir", "");
        if (base.empty()) base = "/";
        dir = fs::clean_path(base + "/" + dir);
      } else {
        dir = fs::clean_path(dir);
      }
      // The classic builder's WORKDIR: a layer with the directory made (root's, 0755) when
      // the image has none, an empty one otherwise; "#(nop) " with one space, as it writes it.
      const std::string created_by = shell_words(cur) + " #(nop) WORKDIR " + dir;
      const std::string key = step_key(cur, "workdir\n" + created_by);
      if (auto hit = cached(cur, key)) return *hit;
      if (auto l = cache_from_layer(cur, created_by)) {
        config_object(cur.doc)["WorkingDir"] = dir;
        return finish(cur, key, created_by, *l);
      }
      config_object(cur.doc)["WorkingDir"] = dir;
      if (cur.layers.empty() && cur.id.empty()) return finish(cur, key, created_by, std::nullopt);
      return layer_step(cur, key, created_by, [&](int root, const std::string&) { fs::mkdir_in_root(root, dir, 0755); });
    }
    if (c == "shell") {
      const std::vector<std::string> sh = ins.args;
      std::string text;
      for (auto& w : sh) text += (text.empty() ? "" : " ") + w;
      config_object(cur.doc)["Shell"] = sh;  // the history line starts with the new shell
      return metadata_step(cur, "SHELL [" + text + "]", {}, true);
    }
    if (c == "stopsignal") {
      const std::string sig = words_.word(ins.rest, env);
      runtime::parse_signal(sig);  // an unknown one: its error
      return metadata_step(cur, "STOPSIGNAL " + sig, [&](json& conf) { conf["StopSignal"] = sig; });
    }
    if (c == "healthcheck") {
      json hc;
      if (ins.args.size() == 1 && ins.args[0] == "NONE") {
        const json old = config_object(cur.doc).value("Healthcheck", json::object());
        hc = old.is_object() ? old : json::object();
        hc["Test"] = {"NONE"};
      } else {
        json test = json::array();
        if (ins.json) {
          for (auto& a : ins.args) test.push_back(a);
        } else {
          test = {"CMD-SHELL", ins.args.size() > 1 ? ins.args[1] : ""};
        }
        // Fields this HEALTHCHECK does not set keep the base's (Docker's), NONE too.
        const json old = config_object(cur.doc).value("Healthcheck", json::object());
        hc = old.is_object() ? old : json::object();
        hc["Test"] = test;
        if (auto* f = ins.flag("interval")) hc["Interval"] = parse_duration("interval", f->value);
        if (auto* f = ins.flag("timeout")) hc["Timeout"] = parse_duration("timeout", f->value);
        if (auto* f = ins.flag("start-period")) hc["StartPeriod"] = parse_duration("start-period", f->value);
        if (auto* f = ins.flag("start-interval")) hc["StartInterval"] = parse_duration("start-interval", f->value);
        if (auto* f = ins.flag("retries")) {
          const std::string& r = f->value;
          if (r.empty() || r.find_first_not_of("0123456789") != std::string::npos)
            throw Error(ErrorKind::invalid_argument, "--retries: a whole number, not `" + r + "`");
          if (r.size() > 9 || std::stoi(r) < 1)
            throw Error(ErrorKind::invalid_argument, "--retries must be at least 1 (not " + r + ")");
          hc["Retries"] = std::stoi(r);
        }
      }
      // Docker prints its HealthConfig struct (Go's %q of each field).
      std::string text = "&{" + go_list(strings_of(hc["Test"]));
      if (hc["Test"].size() == 1 && hc["Test"][0] == "NONE") text = "&{[\"NONE\"]";
      for (const char* f : {"Interval", "Timeout", "StartPeriod"}) text += " \"" + go_duration(hc.value(f, int64_t{0})) + "\"";
      text += " " + go_char(hc.value("Retries", 0)) + "}";
      return metadata_step(cur, "HEALTHCHECK " + text, [&](json& conf) { conf["Healthcheck"] = hc; });
    }
    if (c == "onbuild") {
      const std::string trigger = ins.inner ? ins.inner->original : ins.rest;
      return metadata_step(cur, "ONBUILD " + trigger, [&](json& conf) {
        if (!conf["OnBuild"].is_array()) conf["OnBuild"] = json::array();
        conf["OnBuild"].push_back(trigger);
      });
    }
    if (c == "run") return run_step(cur, ins, st, stage);
    if (c == "copy" || c == "add") return copy_step(cur, ins, st, stage);
    throw Error(ErrorKind::invalid_argument, "unknown instruction: " + upper(c));
  }

  // RUN: the command in a container of the current image; its changes are the layer.
  image::Image run_step(Current& cur, const Instruction& ins, const Stages& st, const Stage& stage) {
    if (cur.id.empty() || cur.layers.empty())
      throw Error(ErrorKind::invalid_argument, "RUN needs a base image with a shell: the stage has no files (FROM scratch)");
    std::vector<std::string> cmd;
    if (ins.json) {
      cmd = ins.args;
    } else {
      cmd = cur.shell();
      std::string script = ins.rest;
      // `RUN <<EOF` alone: the heredoc is the script; `RUN cmd <<EOF`: the shell reads the
      // heredoc itself from the text as written.
      if (!ins.heredocs.empty()) {
        std::string first = ins.rest;
        while (!first.empty() && (first.back() == ' ' || first.back() == '\t')) first.pop_back();
        if (first == "<<" + ins.heredocs[0].name || first == "<<-" + ins.heredocs[0].name ||
            first == "<<\"" + ins.heredocs[0].name + "\"" || first == "<<'" + ins.heredocs[0].name + "'") {
          script = ins.heredocs[0].content;
        } else {
          for (auto& h : ins.heredocs) script += "\n" + h.content + h.name;
        }
      }
      cmd.push_back(script);
    }
    // The build args the command sees (ENV wins over an ARG of the same name), and in its
    // history line as Docker writes them: "|N K=V … CMD".
    std::vector<std::string> arg_env, shown;
    for (auto& [k, v] : cur.args)
      if (v && !cur.env_value(k)) {
        arg_env.push_back(k + "=" + *v);
        shown.push_back(k + "=" + *v);
      }
    for (auto& [k, v] : o_.build_args)
      if (kPredefinedArgs.count(k) && !cur.args.count(k)) arg_env.push_back(k + "=" + v);
    std::string created_by;
    if (!shown.empty()) {
      created_by = "|" + std::to_string(shown.size());
      for (auto& s : shown) created_by += " " + s;
      created_by += " ";
    }
    std::string joined;
    for (auto& w : cmd) joined += (joined.empty() ? "" : " ") + w;
    created_by += joined;
    // BuildKit's RUN flags: --network=default|none|host and --mount (mounts()). They are part
    // of the step's key, with what a bind mount shows (its sources' checksum, its stage's
    // image); a secret's or a cache's content is not (BuildKit's rule: neither busts the
    // cache, nor reaches the layer).
    std::string network = o_.network.empty() || o_.network == "default" ? "bridge" : o_.network;
    std::string flags_key;
    RunMounts mounts;
    for (const auto& f : ins.flags) {
      if (f.name == "network") {
        flags_key += "--" + f.name + "=" + f.value + "\n";
        if (f.value == "default") continue;
        if (f.value != "none" && f.value != "host")
          throw Error(ErrorKind::invalid_argument, "RUN --network=" + f.value + ": default, none or host");
        // The Dockerfile is the image author's, the host's network the user's to give
        // (BuildKit's network.host entitlement): never taken, whatever --network says.
        if (f.value == "host" && !o_.allow.count("network.host"))
          throw Error(ErrorKind::permission, "RUN --network=host: network.host is not allowed (grant it with build --allow network.host)");
        network = f.value;
        continue;
      }
      flags_key += plan_mount(cur, f.value, st, stage, mounts) + "\n";
    }
    const std::string key = step_key(cur, "run\n" + flags_key + created_by);
    if (auto hit = cached(cur, key)) return *hit;
    if (flags_key.empty())
      if (auto l = cache_from_layer(cur, created_by)) return finish(cur, key, created_by, *l);
    json binds = json::array(), tmpfs = json::object();
    make_mounts(mounts, binds, tmpfs);

    // No health probes into a RUN step (the image's HEALTHCHECK would run in it and change
    // the layer: moby#37362).
    json config = {{"Cmd", cmd}, {"Entrypoint", json::array()}, {"Env", arg_env}, {"Labels", json::object()},
                   {"Healthcheck", {{"Test", {"NONE"}}}}};
    json host = {{"NetworkMode", network}};
    if (!binds.empty()) host["Binds"] = binds;
    if (!tmpfs.empty()) host["Tmpfs"] = tmpfs;
    if (!o_.add_hosts.empty()) host["ExtraHosts"] = o_.add_hosts;
    if (o_.shm_size > 0) host["ShmSize"] = o_.shm_size;
    if (o_.ulimits.is_array() && !o_.ulimits.empty()) host["Ulimits"] = o_.ulimits;
    engine::CreateRequest req;
    req.image = cur.id;
    req.config = config;
    req.host = host;
    req.init_files = false;  // the layer is the command's work: no /etc/mtab, /.dockerenv in it
    engine::Container c = eng_.create(req);
    say(" ---> Running in " + c.id().substr(0, 12) + "\n");
    int code = -1;
    bool cancelled = false;
    bool removed = false;
    auto remove = [&] {
      if (removed) return;
      removed = true;
      try {
        eng_.remove(c.id(), true, true);
      } catch (const std::exception& e) {
        log::warn("build container " + c.id().substr(0, 12) + ": " + e.what());
      }
    };
    try {
      UniqueFd conn = eng_.start(c.id(), true);
      code = relay(conn.get(), cancelled);
      eng_.cleanup(c.id(), false);  // unmounted; the record stays until the layer is taken
      shim::send_frame(conn.get(), shim::kDone, "");
    } catch (...) {
      remove();
      throw;
    }
    if (cancelled) {
      remove();
      throw Error(ErrorKind::unavailable, "build cancelled");
    }
    if (code != 0) {
      remove();  // Docker keeps a failed step's container unless --force-rm; berth leaves nothing
      throw StepFailed("The command '" + joined + "' returned a non-zero code: " + std::to_string(code < 0 ? 1 : code),
                       code < 0 ? 1 : code);
    }
    std::optional<image::Service::NewLayer> layer;
    try {
      const engine::Container now = eng_.lookup(c.id());
      drop_mount_stubs(images_.snapshots().fs_dir(now.rec.snapshot), cur, mounts.targets);
      layer = images_.commit_layer(now.rec.snapshot, cur.diff_ids());
    } catch (...) {
      remove();
      throw;
    }
    say("Removing intermediate container " + c.id().substr(0, 12) + "\n");
    remove();
    return finish(cur, key, created_by, layer);
  }

  // What the runtime made in the container's layer only to mount on it — /etc/hosts,
  // /etc/resolv.conf, /etc/hostname, /proc, /sys, /dev and below — is not the command's
  // work: an empty file or directory there that the image did not have is taken out of the
  // layer (Docker keeps these in an init layer that is never committed), and then the copied-up
  // parent it leaves empty.
  void drop_mount_stubs(const std::string& upper, const Current& cur, const std::vector<std::string>& extra = {}) {
    if (images_.snapshots().driver() != snapshot::Driver::overlay) return;  // native: a whole tree
    const std::vector<Digest> ids = cur.diff_ids();
    // The layer is the command's work: a path in it may go through a symlink the command made
    // (`mv /x /x2; ln -s /etc /x` while /x/f is a mount point), which a host path would follow
    // out of the layer — and an empty file or directory of the host's would be removed. So
    // every path is walked from an fd of the layer without following any symlink (one on the
    // way: not a stub), and the image's layers are read inside their own roots.
    UniqueFd top(::open(upper.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!top) throw_errno("open the layer `" + upper + "`");
    std::vector<UniqueFd> lowers;  // nearest first
    for (size_t n = ids.size(); n > 0; --n) {
      const std::string dir = images_.snapshots().fs_dir(oci::chain_id(ids, n).str());
      UniqueFd fd(::open(dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
      if (!fd) throw_errno("open the layer `" + dir + "`");
      lowers.push_back(std::move(fd));
    }
    // The image's entry at rel (nullopt: none, or a whiteout took it away).
    auto in_image = [&](const std::string& rel) -> std::optional<struct stat> {
      for (auto& l : lowers) {
        UniqueFd f = fs::open_in_root(l.get(), rel, O_PATH | O_NOFOLLOW);
        struct stat st {};
        if (f && ::fstat(f.get(), &st) == 0) {
          if (S_ISCHR(st.st_mode) && st.st_rdev == 0) return std::nullopt;
          return st;
        }
      }
      return std::nullopt;
    };
    // The secrets' mount points (a file, then its parents up to the root, deepest first).
    std::vector<std::string> stubs;
    std::set<std::string> parents = {"etc", "dev", "sys"};  // copied up only to hold a stub
    for (const std::string& target : extra)
      for (std::string p = target.substr(1); !p.empty(); p = p.find('/') == std::string::npos ? "" : p.substr(0, p.rfind('/'))) {
        if (p != target.substr(1)) parents.insert(p);
        stubs.push_back(p);
      }
    for (const char* rel : {"etc/hostname", "etc/hosts", "etc/resolv.conf", "dev/pts", "dev/shm", "dev/mqueue",
                            "sys/fs/cgroup", "dev", "proc", "sys", "etc"})
      stubs.push_back(rel);
    for (const std::string& rel : stubs) {
      // Its parent directory, reached through directories only.
      const size_t slash = rel.rfind('/');
      const std::string name = slash == std::string::npos ? rel : rel.substr(slash + 1);
      UniqueFd parent(::fcntl(top.get(), F_DUPFD_CLOEXEC, 3));
      bool reached = static_cast<bool>(parent);
      for (const std::string& comp : slash == std::string::npos ? std::vector<std::string>{} : split(rel.substr(0, slash), '/')) {
        if (!reached) break;
        UniqueFd next(::openat(parent.get(), comp.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
        reached = static_cast<bool>(next);
        parent = std::move(next);
      }
      struct stat st {};
      if (!reached || name.empty() || name == "." || name == ".." ||
          ::fstatat(parent.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) < 0)
        continue;
      const std::optional<struct stat> image = in_image(rel);
      if (S_ISREG(st.st_mode) && st.st_size == 0 && !image) {
        ::unlinkat(parent.get(), name.c_str(), 0);
      } else if (S_ISDIR(st.st_mode) && (!image || parents.count(rel) > 0)) {
        // Empty, and not made opaque by the command (it would hide the image's entries).
        UniqueFd dir(::openat(parent.get(), name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
        char opaque[2];
        if (!dir || ::fgetxattr(dir.get(), "trusted.overlay.opaque", opaque, sizeof opaque) > 0) continue;
        if (image && st.st_mode != image->st_mode) continue;  // the command changed it
        ::unlinkat(parent.get(), name.c_str(), AT_REMOVEDIR);  // fails (and stays) when it is not empty
      }
    }
  }

  // Relays a started container's output to the build's until it exits; its exit code (-1 if
  // the shim went away without one). A cancel kills it.
  int relay(int conn, bool& cancelled) {
    shim::FrameReader reader;
    std::vector<char> buf(1 << 16);
    for (;;) {
      pollfd p[3] = {{conn, POLLIN, 0}, {o_.cancel_fd, POLLIN, 0}, {abort_pipe_[0], POLLIN, 0}};
      const int n = ::poll(p, cancelled ? 1 : 3, o_.cancelled ? 200 : -1);
      if (n < 0) {
        if (errno == EINTR) continue;
        throw_errno("poll");
      }
      if (!cancelled && ((n > 0 && ((p[1].revents & POLLIN) || (p[2].revents & POLLIN))) || (o_.cancelled && o_.cancelled()))) {
        cancelled = true;
        shim::send_frame(conn, shim::kSignal, std::to_string(SIGKILL));
      }
      if (!(p[0].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      const ssize_t got = ::read(conn, buf.data(), buf.size());
      if (got < 0) {
        if (errno == EINTR) continue;
        throw_errno("read from the build container's shim");
      }
      if (got == 0) return -1;
      reader.feed(std::string_view(buf.data(), static_cast<size_t>(got)));
      while (auto f = reader.next()) {
        if (f->type == shim::kStdout || f->type == shim::kStderr) say(f->data);
        else if (f->type == shim::kExit) return std::atoi(f->data.c_str());
      }
    }
  }

  // A directory of the build's own under ROOT/build, removed with everything in it.
  struct TempDir {
    std::string path;
    ~TempDir() {
      if (path.empty()) return;
      try {
        fs::remove_all(path);
      } catch (const std::exception& e) {
        log::warn("build: remove " + path + ": " + e.what());
      }
    }
  };

  // $NAME and ${NAME} in a heredoc's text (nothing else of the shell's syntax; \$ is a $).
  static std::string expand_variables(const std::string& text, const Lookup& env) {
    std::string out;
    auto name_char = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; };
    for (size_t i = 0; i < text.size(); ++i) {
      const char c = text[i];
      if (c == '\\' && i + 1 < text.size() && text[i + 1] == '$') {
        out += '$';
        ++i;
      } else if (c == '$' && i + 1 < text.size() && text[i + 1] == '{') {
        const size_t end = text.find('}', i + 2);
        if (end == std::string::npos) {
          out += text.substr(i);
          break;
        }
        out += env(text.substr(i + 2, end - i - 2)).value_or("");
        i = end;
      } else if (c == '$' && i + 1 < text.size() && name_char(text[i + 1]) && !std::isdigit(static_cast<unsigned char>(text[i + 1]))) {
        size_t j = i + 1;
        while (j < text.size() && name_char(text[j])) ++j;
        out += env(text.substr(i + 1, j - i - 1)).value_or("");
        i = j - 1;
      } else {
        out += c;
      }
      if (out.size() > (1u << 20)) throw Error(ErrorKind::invalid_argument, "a heredoc's expansion is larger than 1 MiB");
    }
    return out;
  }

  // A root directory to read COPY --from's sources from: another stage's result or an image,
  // mounted read-only for the step.
  struct SourceRoot {
    image::Service* svc = nullptr;
    std::string mount;
    UniqueFd fd;
    ~SourceRoot() {
      fd.reset();
      if (svc && !mount.empty()) {
        try {
          svc->unmount(mount);
        } catch (const std::exception& e) {
          log::warn("build: unmount " + mount + ": " + e.what());
        }
        ::rmdir(mount.c_str());
      }
    }
  };

  // RUN --mount=type=…: what plan_mount found, made by make_mounts once the step must run.
  struct RunMount {
    std::string type, target;
    bool ro = true;
    std::string secret_file;                 // secret: the file given with --secret
    std::string cache_id;                    // cache
    CacheMount::Options cache;
    std::string tmpfs_options;               // tmpfs
    CopyPlan plan;                           // bind: what the source holds
    CopyRequest req;
    int src_root = -1;
    std::unique_ptr<SourceRoot> from;  // bind from a stage or an image: its mounted root
  };
  struct RunMounts {
    std::vector<RunMount> list;
    std::vector<std::string> targets;  // what the binds may leave in the layer (drop_mount_stubs)
    // Kept until the step's container is gone:
    std::vector<std::unique_ptr<TempDir>> copies;
    std::vector<std::unique_ptr<CacheMount>> caches;
  };

  // One --mount=K=V,… (BuildKit's): checked, its source looked at; its words for the step's key.
  //   type=bind (the default): SOURCE (default the root) of the context, or of `from`'s stage or
  //     image, at TARGET, read-only unless rw. What RUN sees is a copy made for the step (so
  //     .dockerignore holds, no symlink leads out, and rw writes go with the copy, as BuildKit
  //     discards them); the key has the sources' checksum.
  //   type=cache: a directory kept across builds (CacheMount), by id (default: the target).
  //   type=tmpfs: a tmpfs at TARGET (size=).
  //   type=secret: --secret's file, read-only at TARGET (default /run/secrets/ID).
  // A relative TARGET is under the WORKDIR.
  std::string plan_mount(Current& cur, const std::string& given, const Stages& st, const Stage& stage, RunMounts& out) {
    const std::string value = words_.word(given, lookup(cur));
    std::map<std::string, std::string> m;
    for (const std::string& kv : split(value, ',')) {
      const auto eq = kv.find('=');
      m[kv.substr(0, eq)] = eq == std::string::npos ? "true" : kv.substr(eq + 1);
    }
    auto flag = [&](std::initializer_list<const char*> names) -> std::optional<std::string> {
      for (const char* n : names)
        if (auto it = m.find(n); it != m.end()) return it->second;
      return std::nullopt;
    };
    auto yes = [&](std::initializer_list<const char*> names) {
      auto v = flag(names);
      if (!v) return false;
      if (*v == "true" || *v == "1") return true;
      if (*v == "false" || *v == "0") return false;
      throw Error(ErrorKind::invalid_argument, "RUN --mount: `" + *v + "` is not true or false");
    };
    RunMount rm;
    rm.type = flag({"type"}).value_or("bind");
    const std::string what = "RUN --mount=type=" + rm.type;
    std::string target = flag({"target", "dst", "destination"}).value_or("");
    if (rm.type == "secret") {
      const std::string id = flag({"id"}).value_or("");
      if (id.empty() && target.empty()) throw Error(ErrorKind::invalid_argument, what + " needs an id");
      if (target.empty()) target = "/run/secrets/" + id;
      auto it = o_.secrets.find(id);
      if (it == o_.secrets.end()) {
        if (yes({"required"})) throw Error(ErrorKind::invalid_argument, "secret " + id + ": not given (--secret id=" + id + ",src=FILE)");
        return value;  // an optional secret that was not given: nothing there
      }
      rm.secret_file = it->second;
    } else if (rm.type != "bind" && rm.type != "cache" && rm.type != "tmpfs") {
      throw Error(ErrorKind::invalid_argument, what + " is not supported (bind, cache, tmpfs and secret are)");
    }
    if (target.empty()) throw Error(ErrorKind::invalid_argument, what + " needs a target");
    if (target[0] != '/') {
      std::string base = config_object(cur.doc).value("WorkingDir", "");
      target = (base.empty() ? "/" : base) + "/" + target;
    }
    target = fs::clean_path(target);
    if (target == "/" || target.find_first_of(":\n") != std::string::npos)
      throw Error(ErrorKind::invalid_argument, what + ": invalid target `" + target + "`");
    rm.target = target;
    std::string key = value;
    if (rm.type == "cache") {
      if (flag({"from", "source", "src"}))
        throw Error(ErrorKind::invalid_argument, what + ": from= and source= are not supported");
      rm.cache_id = flag({"id"}).value_or(target);
      rm.cache.sharing = flag({"sharing"}).value_or("shared");
      if (rm.cache.sharing != "shared" && rm.cache.sharing != "private" && rm.cache.sharing != "locked")
        throw Error(ErrorKind::invalid_argument, what + ": sharing=" + rm.cache.sharing + ": shared, private or locked");
      auto number = [&](const char* name, int base, unsigned long max) -> unsigned long {
        const std::string v = flag({name}).value_or("");
        char* end = nullptr;
        errno = 0;
        const unsigned long n = std::strtoul(v.c_str(), &end, base);
        if (v.empty() || *end || errno || n > max || v[0] == '-')
          throw Error(ErrorKind::invalid_argument, what + ": invalid " + name + "=" + v);
        return n;
      };
      if (flag({"mode"})) rm.cache.mode = static_cast<mode_t>(number("mode", 8, 07777));
      if (flag({"uid"})) rm.cache.uid = static_cast<uid_t>(number("uid", 10, 0xfffffffeUL));
      if (flag({"gid"})) rm.cache.gid = static_cast<gid_t>(number("gid", 10, 0xfffffffeUL));
      rm.ro = yes({"ro", "readonly"});
    } else if (rm.type == "tmpfs") {
      if (auto size = flag({"size"})) {
        if (size->empty() || size->find_first_not_of("0123456789kKmMgG") != std::string::npos)
          throw Error(ErrorKind::invalid_argument, what + ": invalid size=" + *size);
        rm.tmpfs_options = "size=" + *size;
      }
      // BuildKit's tmpfs is nosuid only: what a RUN puts there may be run (Docker's --tmpfs is noexec).
      rm.tmpfs_options += rm.tmpfs_options.empty() ? "exec" : ",exec";
    } else if (rm.type == "bind") {
      rm.ro = !yes({"rw", "readwrite"});
      rm.req.what = what;
      rm.req.sources = {flag({"source", "src"}).value_or(".")};
      rm.req.dest = "/";
      const IgnoreRules* ignore = &ignore_rules();
      rm.src_root = context_fd();
      if (auto from = flag({"from"})) {
        image::Image src_img;
        if (auto dep = stage_ref(st, *from, stage.index)) src_img = *results_[*dep];
        else src_img = resolve_image(*from);
        rm.from = mount_source_root(src_img);
        rm.src_root = rm.from->fd.get();
        ignore = nullptr;
        rm.req.keep_owners = true;
        key += " " + src_img.id.str();
      }
      rm.plan = plan_copy(rm.src_root, ignore, rm.req, rm.src_root == context_fd() ? &hashes_ : nullptr);
      key += " " + rm.plan.label;
    }
    out.targets.push_back(rm.target);
    out.list.push_back(std::move(rm));
    return key;
  }

  // Makes what plan_mount planned (the binds' copies, the caches' directories and locks) and
  // adds them to a RUN's HostConfig Binds and Tmpfs.
  void make_mounts(RunMounts& mounts, json& binds, json& tmpfs) {
    const std::string root = images_.options().root;
    for (RunMount& rm : mounts.list) {
      const std::string opts = rm.ro ? ":ro" : "";
      if (rm.type == "secret") {
        binds.push_back(rm.secret_file + ":" + rm.target + ":ro");
      } else if (rm.type == "tmpfs") {
        tmpfs[rm.target] = rm.tmpfs_options;
      } else if (rm.type == "cache") {
        mounts.caches.push_back(std::make_unique<CacheMount>(root, images_.options().ns, rm.cache_id, rm.cache));
        binds.push_back(mounts.caches.back()->path() + ":" + rm.target + opts);
      } else {
        auto copy = std::make_unique<TempDir>();
        fs::mkdir_p(root + "/build", 0700);
        copy->path = root + "/build/" + image::unique_name("bind-");
        fs::mkdir_p(copy->path, 0700);
        mounts.copies.push_back(std::move(copy));
        const std::string& dir = mounts.copies.back()->path;
        UniqueFd dest(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
        if (!dest) throw_errno("open " + dir);
        apply_copy(rm.src_root, rm.plan, dest.get(), rm.req);
        // A directory's contents were copied into the copy's root: it takes the directory's mode.
        const CopyEntry* top = rm.plan.entries.empty() ? nullptr : &rm.plan.entries.front();
        const bool file = top && top->top && !S_ISDIR(top->st.st_mode);
        if (!file && ::fchmod(dest.get(), top && S_ISDIR(top->st.st_mode) ? (top->st.st_mode & 07777) : 0755) < 0)
          throw_errno("chmod " + dir);
        binds.push_back((file ? dir + top->dest : dir) + ":" + rm.target + opts);
      }
    }
  }

  // Another stage's result or an image, mounted read-only for a step: a mount of its own (not
  // the image's default mount point, which `image mount` or another stage may be using),
  // privately under ROOT/build.
  std::unique_ptr<SourceRoot> mount_source_root(const image::Image& img) {
    auto from = std::make_unique<SourceRoot>();
    const std::string target = images_.options().root + "/build/" + image::unique_name("from-");
    fs::mkdir_p(images_.options().root + "/build", 0700);
    fs::mkdir_p(target, 0700);
    from->svc = &images_;
    try {
      from->mount = images_.mount(img, target);
    } catch (...) {
      from->svc = nullptr;
      ::rmdir(target.c_str());
      throw;
    }
    from->fd.reset(::open(from->mount.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!from->fd) throw_errno("open " + from->mount);
    return from;
  }

  image::Image copy_step(Current& cur, const Instruction& ins, const Stages& st, const Stage& stage) {
    const Lookup env = lookup(cur);
    const bool add = ins.cmd == "add";
    CopyRequest req;
    req.add = add;
    req.what = add ? "ADD" : "COPY";
    std::vector<std::string> words;
    if (ins.json) {
      words = ins.args;
    } else {
      for (auto& w : ins.args) words.push_back(words_.word(w, env));
    }
    if (words.size() < 2) throw Error(ErrorKind::invalid_argument, req.what + " requires at least two arguments: SRC... DEST");
    // ADD of URLs: each downloaded (the step downloads every time; the cache key is the
    // content's) into a directory of the step's own, named by the URL's last path element,
    // mode 0600 as Docker makes it, its mtime the Last-Modified. Never extracted.
    if (ins.flag("checksum") && !(words.size() == 2 && (words[0].rfind("http://", 0) == 0 || words[0].rfind("https://", 0) == 0)))
      throw Error(ErrorKind::invalid_argument, "ADD --checksum is for one URL source");
    TempDir generated;
    bool urls = false;
    for (size_t i = 0; i + 1 < words.size(); ++i)
      urls = urls || words[i].rfind("http://", 0) == 0 || words[i].rfind("https://", 0) == 0;
    if (urls) {
      if (!add) throw Error(ErrorKind::invalid_argument, "COPY cannot copy from a URL: use ADD");
      if (!o_.fetch) throw Error(ErrorKind::invalid_argument, "ADD of a URL is not available here");
      if (ins.flag("from") || !ins.heredocs.empty()) throw Error(ErrorKind::invalid_argument, "ADD: a URL with --from or a heredoc");
      generated.path = images_.options().root + "/build/" + image::unique_name("download-");
      fs::mkdir_p(images_.options().root + "/build", 0700);
      fs::mkdir_p(generated.path, 0700);
      std::set<std::string> names;
      for (size_t i = 0; i + 1 < words.size(); ++i) {
        const std::string url = words[i];
        if (url.rfind("http://", 0) != 0 && url.rfind("https://", 0) != 0)
          throw Error(ErrorKind::invalid_argument, "ADD: URLs and local files in one instruction are not supported");
        std::string path = url.substr(url.find("://") + 3);
        path = path.substr(0, path.find_first_of("?#"));
        std::string name = path.find('/') == std::string::npos ? "" : path.substr(path.rfind('/') + 1);
        if (name.empty() || name == "." || name == "..") {
          if (words.back().back() == '/') throw Error(ErrorKind::invalid_argument, "ADD " + url + ": cannot determine a file name from the URL (give DEST a name)");
          name = "download";
        }
        if (!names.insert(name).second) throw Error(ErrorKind::invalid_argument, "ADD: two URLs named " + name);
        const std::string file = generated.path + "/" + name;
        UniqueFd fd(::open(file.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
        if (!fd) throw_errno("create " + file);
        say("Downloading " + url + "\n");
        const int64_t last_modified = o_.fetch(url, fd.get());
        // ADD --checksum=sha256:HEX: the download must be that.
        if (auto* f = ins.flag("checksum")) {
          const Digest want = Digest::parse(words_.word(f->value, env));
          Hasher h(want.algorithm);
          UniqueFd in(::open(file.c_str(), O_RDONLY | O_CLOEXEC));
          char buf[65536];
          for (size_t n; in && (n = fs::read_fd(in.get(), buf, sizeof buf, file)) > 0;) h.update(buf, n);
          if (h.digest() != want)
            throw Error(ErrorKind::invalid_argument, "ADD " + url + ": checksum mismatch: want " + want.str() + ", got " + h.digest().str());
        }
        if (last_modified > 0) {
          struct timespec ts[2] = {{last_modified, 0}, {last_modified, 0}};
          ::futimens(fd.get(), ts);
        }
        words[i] = name;
      }
      if (!req.mode) req.mode = 0600;
      if (ins.flag("checksum") && words.size() > 2) throw Error(ErrorKind::invalid_argument, "ADD --checksum takes one URL");
      req.add = false;  // a downloaded archive stays an archive
    }
    // `COPY <<NAME DEST`: each heredoc a file NAME (0644, root's) with its text — variables
    // expanded unless the delimiter was quoted — copied from a directory of its own.
    TempDir heredoc_dir;
    if (!ins.heredocs.empty()) {
      if (ins.flag("from")) throw Error(ErrorKind::invalid_argument, req.what + " --from takes no heredoc");
      heredoc_dir.path = images_.options().root + "/build/" + image::unique_name("heredoc-");
      fs::mkdir_p(heredoc_dir.path, 0700);
      size_t k = 0;
      for (size_t i = 0; i + 1 < words.size(); ++i) {
        if (words[i].rfind("<<", 0) != 0 || k >= ins.heredocs.size()) continue;
        const Heredoc& h = ins.heredocs[k++];
        if (h.name.empty() || h.name.find('/') != std::string::npos || h.name == "." || h.name == "..")
          throw Error(ErrorKind::invalid_argument, req.what + ": heredoc name `" + h.name + "` cannot be a file name");
        fs::write_file_atomic(heredoc_dir.path + "/" + h.name, h.expand ? expand_variables(h.content, env) : h.content, 0644);
        words[i] = h.name;
      }
    }
    std::string dest = words.back();
    const std::string dest_given = dest;  // as written, for the history (Docker's)
    words.pop_back();
    req.sources = words;
    const bool slash = !dest.empty() && dest.back() == '/';
    if (dest.empty() || dest[0] != '/') {
      std::string base = config_object(cur.doc).value("WorkingDir", "");
      if (base.empty()) base = "/";
      dest = base + "/" + dest;
    }
    dest = fs::clean_path(dest);
    if (slash || dest == "/") dest += dest == "/" ? "" : "/";
    req.dest = dest;
    if (auto* f = ins.flag("chmod")) req.mode = parse_chmod(words_.word(f->value, env));
    std::string chown;
    if (auto* f = ins.flag("chown")) chown = words_.word(f->value, env);
    // Where the sources are: the context, the heredocs, or another stage's (or image's) root.
    std::unique_ptr<SourceRoot> from;
    const IgnoreRules* ignore = &ignore_rules();
    int src_root = context_fd();
    UniqueFd heredoc_fd;
    const std::string own_dir = !heredoc_dir.path.empty() ? heredoc_dir.path : generated.path;
    if (!own_dir.empty()) {
      heredoc_fd.reset(::open(own_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
      if (!heredoc_fd) throw_errno("open " + own_dir);
      src_root = heredoc_fd.get();
      ignore = nullptr;
    }
    std::string from_text;
    if (auto* f = ins.flag("from")) {
      from_text = words_.word(f->value, env);
      image::Image src_img;
      if (auto dep = stage_ref(st, from_text, stage.index)) src_img = *results_[*dep];
      else src_img = resolve_image(from_text);
      from = mount_source_root(src_img);
      src_root = from->fd.get();
      ignore = nullptr;
      req.keep_owners = true;
      if (add) throw Error(ErrorKind::invalid_argument, "ADD does not take --from: use COPY");
    }
    CopyPlan plan = plan_copy(src_root, ignore, req, src_root == context_fd() ? &hashes_ : nullptr);
    std::string chown_key;
    if (!chown.empty()) chown_key = " --chown=" + chown;
    if (auto* f = ins.flag("chmod")) chown_key += " --chmod=" + words_.word(f->value, env);
    if (!from_text.empty()) chown_key += " --from=" + from_text;
    const std::string created_by =
        shell_words(cur) + " #(nop) " + req.what + chown_key + " " + plan.label + " in " + dest_given + " ";
    const std::string key = step_key(cur, "copy\n" + created_by);
    if (auto hit = cached(cur, key)) return *hit;
    if (auto l = cache_from_layer(cur, created_by)) return finish(cur, key, created_by, *l);

    return layer_step(cur, key, created_by, [&](int root, const std::string& mnt) {
      // --chown by name: the image's /etc/passwd and /etc/group say who that is.
      // --chown=NAME alone: the group of the same name (Docker's; an error if there is none).
      if (!chown.empty()) {
        const engine::UserIds ids = engine::resolve_user(mnt, chown.find(':') == std::string::npos ? chown + ":" + chown : chown, {});
        req.uid = ids.uid;
        req.gid = ids.gid;
      }
      apply_copy(src_root, plan, root, req);
    });
  }

  // A step whose layer `write` makes in the parent's root (mounted read-write on a new
  // snapshot of it, privately under ROOT/build): the snapshot becomes the layer.
  image::Image layer_step(Current& cur, const std::string& key, const std::string& created_by,
                          const std::function<void(int root_fd, const std::string& dir)>& write) {
    const std::string snap_key = image::unique_name("build-");
    const std::string mnt = images_.options().root + "/build/" + snap_key;
    const std::string parent = cur.layers.empty() ? "" : oci::chain_id(cur.diff_ids()).str();
    if (!parent.empty()) images_.unpack(images_.resolve(cur.id));
    images_.snapshots().prepare(snap_key, parent, {{"berth.build", "layer"}});
    bool mounted = false;
    auto undo = [&] {
      if (mounted) ::umount2(mnt.c_str(), MNT_DETACH);
      mounted = false;
      ::rmdir(mnt.c_str());
    };
    std::optional<image::Service::NewLayer> layer;
    try {
      fs::mkdir_p(images_.options().root + "/build", 0700);
      fs::mkdir_p(mnt, 0700);
      // Private: the copy's mount must not show up in other mount namespaces.
      snapshot::mount_all(images_.snapshots().mounts(snap_key), mnt, snapshot::MountUse::host_view);
      mounted = true;
      UniqueFd root(::open(mnt.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
      if (!root) throw_errno("open " + mnt);
      write(root.get(), mnt);
      root.reset();
      if (::umount2(mnt.c_str(), 0) < 0) throw_errno("unmount " + mnt);
      mounted = false;
      undo();
      layer = images_.commit_layer(snap_key, cur.diff_ids());
    } catch (...) {
      undo();
      images_.drop_snapshot(snap_key);
      throw;
    }
    return finish(cur, key, created_by, layer);
  }

  // Beside ROOT/build (whose entries are one build's temporary directories).
  std::string hashes_path() const { return images_.options().root + "/build-hashes"; }

  int context_fd() {
    if (!context_) {
      context_.reset(::open(o_.context.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
      if (!context_) throw_errno("open the build context `" + o_.context + "`");
    }
    return context_.get();
  }

  const IgnoreRules& ignore_rules() {
    if (!ignore_) {
      // As the Dockerfile is read: inside the context (a link out of a context that came from a
      // URL, git or the API names nothing of the host's), a regular file (not a FIFO that
      // blocks, not /dev/zero), at most 16 MiB.
      constexpr size_t kMax = 16u << 20;
      std::string text;
      if (UniqueFd at = fs::open_in_root(context_fd(), ".dockerignore", O_PATH)) {
        struct stat st {};
        if (::fstat(at.get(), &st) < 0) throw_errno(".dockerignore");
        if (!S_ISREG(st.st_mode)) throw Error(ErrorKind::invalid_argument, "build: .dockerignore is not a regular file");
        if (st.st_size > static_cast<off_t>(kMax)) throw Error(ErrorKind::invalid_argument, "build: .dockerignore: larger than 16 MiB");
        UniqueFd f(::open(fs::fd_path(at.get()).c_str(), O_RDONLY | O_CLOEXEC));
        if (!f) throw_errno("open .dockerignore");
        char buf[65536];
        for (size_t n; (n = fs::read_fd(f.get(), buf, sizeof buf, ".dockerignore")) > 0;) {
          text.append(buf, n);
          if (text.size() > kMax) throw Error(ErrorKind::invalid_argument, "build: .dockerignore: larger than 16 MiB");
        }
      }
      ignore_ = IgnoreRules::parse(text);
    }
    return *ignore_;
  }

  engine::Engine& eng_;
  image::Service& images_;
  const BuildOptions& o_;
  Words words_;
  std::map<std::string, std::optional<std::string>> meta_args_;
  HashCache hashes_;
  std::vector<image::Image> cache_from_;
  std::set<std::string> used_args_;  // under mu_
  std::set<std::string> pulled_;     // under mu_
  size_t total_steps_ = 0;
  // The stages' threads: results_[i] once stage i is built; runs_ their output; order_ the
  // stages built, in file order. mu_ guards them, the output and the failure.
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::optional<image::Image>> results_;
  std::vector<StageRun> runs_;
  std::vector<size_t> order_;
  bool failed_ = false;
  std::exception_ptr error_;
  int abort_pipe_[2] = {-1, -1};  // readable once a stage failed: the others stop
  static thread_local StageRun* current_;
  UniqueFd context_;
  std::optional<IgnoreRules> ignore_;
};

thread_local Builder::StageRun* Builder::current_ = nullptr;

}  // namespace

BuildResult build(engine::Engine& eng, const BuildOptions& o) {
  return Builder(eng, o).run();
}

}  // namespace berth::build
