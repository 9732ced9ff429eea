// pull and push (the image service's, with progress bars here), login and logout (in the
// registry module), and the loading of that module: berth-registry.so holds the libcurl
// client, loaded only by the commands that talk to a registry (registry/module.hpp).
#include <dlfcn.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "cli/berth/commands.hpp"
#include "cli/berth/progress.hpp"
#include "cli/runtime/args.hpp"
#include "common/error.hpp"
#include "oci/reference.hpp"
#include "registry/module.hpp"

namespace berth::cli {

namespace {

// The module, loaded once per process.
void* registry_module() {
  static void* module = [] {
    std::string path;
    if (const char* m = std::getenv("BERTH_REGISTRY_MODULE"); m && *m) {
      path = m;
    } else {
      char exe[4096];
      ssize_t n = ::readlink("/proc/self/exe", exe, sizeof exe - 1);
      if (n <= 0) throw_errno("readlink /proc/self/exe");
      std::string self(exe, static_cast<size_t>(n));
      const std::string dir = self.substr(0, self.rfind('/'));
      // Next to berth (the build tree), else where `cmake --install` puts it.
      std::vector<std::string> candidates;
      candidates.push_back(dir + "/berth-registry.so");
      candidates.push_back(dir + "/../lib/berth/berth-registry.so");
      candidates.push_back(BERTH_MODULE_DIR "/berth-registry.so");
      for (const std::string& c : candidates)
        if (::access(c.c_str(), R_OK) == 0) {
          path = c;
          break;
        }
      if (path.empty())
        throw Error("cannot find the registry module berth-registry.so next to " + self + ", in " + dir +
                    "/../lib/berth or in " BERTH_MODULE_DIR " (set BERTH_REGISTRY_MODULE)");
    }
    void* m = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!m) throw Error(std::string("cannot load the registry module: ") + ::dlerror());
    return m;
  }();
  return module;
}

template <typename Fn>
Fn module_entry(const char* name) {
  auto fn = reinterpret_cast<Fn>(::dlsym(registry_module(), name));
  if (!fn) throw Error(std::string("the registry module has no ") + name);
  return fn;
}

const std::vector<FlagSpec> kRegistryFlags = {
    {"tls-verify", "", true, false, true}, {"authfile", "", true}, {"quiet", "q", false}};

std::vector<FlagSpec> with(std::vector<FlagSpec> extra) {
  extra.insert(extra.end(), kRegistryFlags.begin(), kRegistryFlags.end());
  return extra;
}

// The defaults: TLS verified, the default credentials file, the scheme cache under --root.
registry::Access default_access(const Engine& e) {
  registry::Access r;
  r.scheme_cache = e.root + "/registry-schemes.json";
  return r;
}

registry::Access access_of(const Engine& e, const Args& a) {
  registry::Access r = default_access(e);
  const std::string v = a.get("tls-verify", "true");
  if (v != "true" && v != "false") throw UsageError("--tls-verify must be true or false");
  r.tls_verify = v == "true";
  r.authfile = a.get("authfile");
  return r;
}

image::Transfer transfer(const registry::Access& access, image::ProgressFn progress) {
  image::Transfer t;
  auto open = module_entry<berth_registry_open_fn>("berth_registry_open");
  // (The scheme cache's directory is --root, which the image service made.)
  t.open = [open, access](const std::string& registry, const std::string& repository) {
    return std::unique_ptr<distribution::Repository>(open(&access, registry.c_str(), repository.c_str()));
  };
  t.progress = std::move(progress);
  t.max_parallel = access.max_parallel;
  return t;
}

}  // namespace

void pull_image(const Engine& e, const std::string& ref, const std::string& platform, std::FILE* progress_out) {
  auto svc = e.images(platform);
  const registry::Access access = default_access(e);
  if (!progress_out) {
    svc.pull(ref, transfer(access, nullptr));
    return;
  }
  {
    ProgressPrinter printer(progress_out);
    svc.pull(ref, transfer(access, printer.fn()));
  }
  std::fprintf(progress_out, "Status: Downloaded image for %s\n", oci::Reference::parse(ref).familiar().c_str());
}

int64_t fetch_url(const std::string& url, int fd) {
  int64_t last_modified = 0;
  module_entry<void (*)(const char*, int, int64_t*)>("berth_registry_fetch")(url.c_str(), fd, &last_modified);
  return last_modified;
}

int cmd_pull(const Engine& e, int argc, char** argv, int first) {
  Args a = parse_args("pull", with({{"platform", "", true}, {"all-tags", "a", false}}), argc, argv, first);
  if (a.positional().size() != 1) throw UsageError("pull: requires exactly one IMAGE reference");
  if (a.has("all-tags")) throw Error("pull: --all-tags is not supported yet");
  auto svc = e.images(a.get("platform"));
  const oci::Reference ref = oci::Reference::parse(a.positional()[0]);
  ProgressPrinter printer(stdout);
  svc.pull(a.positional()[0], transfer(access_of(e, a), a.has("quiet") ? image::ProgressFn{} : printer.fn()));
  if (a.has("quiet")) {
    std::puts(ref.str().c_str());
  } else {
    std::printf("Status: Downloaded image for %s\n%s\n", ref.familiar().c_str(), ref.str().c_str());
  }
  return 0;
}

int cmd_push(const Engine& e, int argc, char** argv, int first) {
  Args a = parse_args("push", with({{"compression-format", "", true}}), argc, argv, first);
  if (a.positional().empty() || a.positional().size() > 2) throw UsageError("push: requires IMAGE [DESTINATION]");
  auto svc = e.images();
  ProgressPrinter printer(stdout);
  image::Transfer t = transfer(access_of(e, a), a.has("quiet") ? image::ProgressFn{} : printer.fn());
  const std::string c = a.get("compression-format", "gzip");
  if (c == "gzip") t.compression = diff::Compression::gzip;
  else if (c == "zstd") t.compression = diff::Compression::zstd;
  else throw UsageError("--compression-format must be gzip or zstd (not `" + c + "`)");
  auto digest = svc.push(a.positional()[0], a.positional().size() > 1 ? a.positional()[1] : "", t);
  if (a.has("quiet")) std::puts(digest.str().c_str());
  return 0;
}

int run_registry_verb(const char* verb, const Engine& e, int argc, char** argv, int first) {
  return module_entry<berth_registry_main_fn>("berth_registry_main")(verb, &e, argc, argv, first);
}

}  // namespace berth::cli
