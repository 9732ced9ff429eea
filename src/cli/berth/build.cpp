// berth build: the Dockerfile and its context found as Docker's CLI finds them, the build run
// in this process (build/builder.hpp: nothing is sent anywhere, a directory context is read in
// place), Docker's classic output. builder prune: the build cache.
#include <fcntl.h>
#include <signal.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string>

#include "build/builder.hpp"
#include "build/cache_mounts.hpp"
#include "build/remote.hpp"
#include "cli/berth/commands.hpp"
#include "cli/berth/create_request.hpp"
#include "common/error.hpp"
#include "common/fs.hpp"
#include "common/strings.hpp"
#include "diff/layer.hpp"
#include "engine/spec.hpp"
#include "image/service.hpp"
#include "oci/reference.hpp"

namespace berth::cli {

namespace {

int g_cancel_pipe[2] = {-1, -1};

void on_signal(int) {
  const int saved = errno;
  const char c = 1;
  [[maybe_unused]] ssize_t n = ::write(g_cancel_pipe[1], &c, 1);
  errno = saved;
}

std::string read_stream(int fd, const std::string& what) {
  std::string out;
  char buf[65536];
  for (size_t n; (n = fs::read_fd(fd, buf, sizeof buf, what)) > 0;) {
    out.append(buf, n);
    if (out.size() > (16u << 20)) throw Error(ErrorKind::invalid_argument, what + ": larger than 16 MiB");
  }
  return out;
}

// A tar context on stdin, unpacked into a private directory that goes when the build ends.
struct TempContext {
  std::string dir;
  ~TempContext() {
    if (!dir.empty()) {
      try {
        fs::remove_all(dir);
      } catch (const std::exception&) {
      }
    }
  }
};

}  // namespace

int cmd_build(const Engine& e, int argc, char** argv, int first) {
  Args a = parse_args("build",
                      {{"tag", "t", true, true},         {"file", "f", true},          {"build-arg", "", true, true},
                       {"target", "", true},             {"no-cache", "", false},      {"pull", "", false},
                       {"label", "", true, true},        {"network", "", true},        {"iidfile", "", true},
                       {"quiet", "q", false},            {"rm", "", false},            {"force-rm", "", false},
                       {"cache-from", "", true, true},   {"add-host", "", true, true}, {"shm-size", "", true},
                       {"platform", "", true},           {"progress", "", true},       {"ulimit", "", true, true},
                       {"secret", "", true, true},       {"allow", "", true, true}},
                      argc, argv, first);
  if (a.positional().size() != 1) throw UsageError("build: requires exactly one argument: PATH | URL | - (a tar on stdin)");
  const std::string path = a.positional()[0];
  if (a.has("platform")) {
    const oci::Platform host = oci::host_platform();
    if (a.get("platform") != host.os + "/" + host.architecture)
      throw Error(ErrorKind::invalid_argument, "build: --platform " + a.get("platform") + ": only this machine's platform (" +
                                                   host.os + "/" + host.architecture + ") can be built");
  }
  for (const std::string& t : a.all("tag")) image::name_to_give(t);  // a bad name: its error, before any work
  if (!a.get("iidfile").empty()) check_output_file("build --iidfile", a.get("iidfile"));  // a directory, a FIFO: before too

  build::BuildOptions o;
  TempContext temp, temp_secrets;
  const std::string file = a.get("file");
  if (path == "-") {
    if (file == "-") throw UsageError("build: stdin cannot be both the context and the Dockerfile");
    // The context as a tar (plain, gzip or zstd) on stdin — or, as Docker reads it, a
    // Dockerfile alone (`build - < Dockerfile`: no context). A tar's first block always holds
    // NUL bytes (its name field's padding), a compressed stream has its magic; a Dockerfile
    // has neither.
    char head[512];
    size_t have = 0;
    for (size_t n; have < sizeof head && (n = fs::read_fd(0, head + have, sizeof head - have, "stdin")) > 0;) have += n;
    const bool archive = diff::detect_compression(head, have) != diff::Compression::none ||
                         std::memchr(head, '\0', have) != nullptr;
    const std::string base = e.root + "/build";
    fs::mkdir_p(base, 0700);
    temp.dir = base + "/" + image::unique_name("context-");
    fs::mkdir_p(temp.dir, 0700);
    UniqueFd d(::open(temp.dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!d) throw_errno("open " + temp.dir);
    // A tar bomb is refused before it fills the disk (the free space caps what it inflates to).
    diff::ApplyOptions ao;
    ao.overlay = false;
    ao.whiteouts = false;  // a context's .wh.x is a file (Docker's untar)
    ao.rootless = ::geteuid() != 0;
    o.context = temp.dir;
    if (!archive && have > 0) {
      if (!file.empty()) throw UsageError("build: a Dockerfile on stdin (no context) takes no -f");
      o.dockerfile = std::string(head, have) + read_stream(0, "the Dockerfile on stdin");
    } else {
      try {
        diff::apply_stream(head, have, 0, d.get(), ao, true, "the context on stdin");
      } catch (const Error& err) {
        throw Error(ErrorKind::invalid_argument, std::string("build: the context on stdin: ") + err.what());
      }
      const std::string df = file.empty() ? "Dockerfile" : file;
      UniqueFd f = build::open_dockerfile(d.get(), df);
      if (!f) throw Error(ErrorKind::invalid_argument, "build: the context has no " + df);
      o.dockerfile = read_stream(f.get(), df);
    }
  } else if (build::is_remote_context(path)) {
    // A git repository or a URL (build/remote.hpp), made in a private directory as stdin's tar.
    if (file == "-") throw UsageError("build: a Dockerfile on stdin takes a directory context");
    const std::string base = e.root + "/build";
    fs::mkdir_p(base, 0700);
    temp.dir = base + "/" + image::unique_name("context-");
    fs::mkdir_p(temp.dir, 0700);
    build::RemoteContext rc = build::make_remote_context(path, temp.dir, file, fetch_url);
    o.context = rc.context;
    o.dockerfile = std::move(rc.dockerfile);
  } else {
    if (!fs::is_dir(path)) throw Error(ErrorKind::invalid_argument, "build: unable to prepare context: path \"" + path + "\" not found");
    o.context = fs::absolute(path);
    if (file == "-") {
      o.dockerfile = read_stream(0, "the Dockerfile on stdin");
    } else {
      const std::string df = file.empty() ? o.context + "/Dockerfile" : file;
      UniqueFd f(::open(df.c_str(), O_RDONLY | O_CLOEXEC));
      if (!f) throw Error(ErrorKind::invalid_argument, "build: cannot read the Dockerfile " + df + ": " + std::strerror(errno));
      o.dockerfile = read_stream(f.get(), df);
    }
  }
  o.tags = a.all("tag");
  for (const std::string& kv : a.all("build-arg")) {
    const auto eq = kv.find('=');
    if (eq == 0) throw UsageError("build: --build-arg `" + kv + "`: KEY=VALUE or KEY");
    if (eq == std::string::npos) {
      // KEY alone: the value of this environment's KEY, if it has one (Docker's way).
      if (const char* v = std::getenv(kv.c_str())) o.build_args[kv] = v;
      continue;
    }
    o.build_args[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  for (const std::string& kv : a.all("label")) {
    const auto eq = kv.find('=');
    o.labels[kv.substr(0, eq)] = eq == std::string::npos ? "" : kv.substr(eq + 1);
  }
  o.target = a.get("target");
  o.no_cache = a.has("no-cache");
  o.cache_from = a.all("cache-from");
  for (const std::string& spec : a.all("secret")) {
    // id=ID,src=FILE (or source=), or id=ID,env=VAR (the variable's value, through a private file).
    std::map<std::string, std::string> m;
    for (const std::string& kv : split(spec, ',')) {
      const auto eq = kv.find('=');
      if (eq == std::string::npos) throw UsageError("build: --secret `" + spec + "`: id=ID,src=FILE");
      m[kv.substr(0, eq)] = kv.substr(eq + 1);
    }
    const std::string id = m["id"];
    std::string src = m.count("src") ? m["src"] : m["source"];
    if (id.empty() || id.find_first_of("/:") != std::string::npos) throw UsageError("build: --secret `" + spec + "`: an id (no / or :) is required");
    if (src.empty() && m.count("env")) {
      const char* v = std::getenv(m["env"].c_str());
      if (!v) throw UsageError("build: --secret " + id + ": $" + m["env"] + " is not set");
      if (temp_secrets.dir.empty()) {
        temp_secrets.dir = e.root + "/build/" + image::unique_name("secrets-");
        fs::mkdir_p(e.root + "/build", 0700);
        fs::mkdir_p(temp_secrets.dir, 0700);
      }
      src = temp_secrets.dir + "/" + id;
      fs::write_file_atomic(src, v, 0400);
    }
    if (src.empty()) throw UsageError("build: --secret `" + spec + "`: src=FILE or env=VAR");
    src = fs::absolute(src);
    if (::access(src.c_str(), R_OK) < 0) throw Error(ErrorKind::invalid_argument, "build: --secret " + id + ": cannot read " + src + ": " + std::strerror(errno));
    if (fs::is_dir(src)) throw Error(ErrorKind::invalid_argument, "build: --secret " + id + ": " + src + " is a directory");
    o.secrets[id] = src;
  }
  o.always_pull = a.has("pull");
  o.force_rm = a.has("force-rm");
  o.network = a.get("network", "bridge");
  // BuildKit's entitlements: what a Dockerfile may ask for only when the user grants it.
  for (auto& ent : a.all("allow")) {
    if (ent != "network.host")
      throw Error(ErrorKind::invalid_argument, "build: --allow " + ent + ": berth grants network.host only");
    o.allow.insert(ent);
  }
  o.add_hosts = extra_hosts(a.all("add-host"));
  o.ulimits = parse_ulimits(a.all("ulimit"));
  if (a.has("shm-size")) o.shm_size = engine::parse_bytes(a.get("shm-size"), "--shm-size");
  const bool quiet = a.has("quiet");
  if (!quiet) o.out = [](std::string_view s) {
    std::fwrite(s.data(), 1, s.size(), stdout);
    std::fflush(stdout);
  };
  o.pull = [&](const std::string& ref) { pull_image(e, ref, "", quiet ? nullptr : stdout); };
  o.fetch = fetch_url;

  // Ctrl-C or a TERM stops the build: the running step's container is killed, nothing is left.
  if (::pipe2(g_cancel_pipe, O_CLOEXEC | O_NONBLOCK) < 0) throw_errno("pipe");
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  ::sigaction(SIGINT, &sa, nullptr);
  ::sigaction(SIGTERM, &sa, nullptr);
  ::sigaction(SIGHUP, &sa, nullptr);
  o.cancel_fd = g_cancel_pipe[0];

  auto eng = make_engine(e);
  build::BuildResult r;
  try {
    r = build::build(eng, o);
  } catch (const build::StepFailed& err) {
    std::fflush(stdout);
    std::fprintf(stderr, "%s\n", err.what());
    return err.exit_code;  // docker build's exit status: the RUN's
  } catch (const Error& err) {
    std::fflush(stdout);
    std::fprintf(stderr, "%s\n", err.what());
    return 1;
  }
  if (!r.unused_args.empty()) {
    std::string names;
    for (auto& n : r.unused_args) names += (names.empty() ? "" : " ") + n;
    std::fprintf(stderr, "[Warning] One or more build-args [%s] were not consumed\n", names.c_str());
  }
  if (!a.get("iidfile").empty()) {  // '' is none (Docker's default)
    const std::string f = a.get("iidfile");
    check_output_file("build --iidfile", f);
    fs::write_file_atomic(f, r.image.id.str());
  }
  if (quiet) {
    std::printf("%s\n", r.image.id.str().c_str());
    return 0;
  }
  std::printf("Successfully built %s\n", image::short_id(r.image.id).c_str());
  for (const std::string& t : o.tags) std::printf("Successfully tagged %s\n", oci::Reference::parse(t).familiar().c_str());
  return 0;
}

int cmd_builder_prune(const Engine& e, int argc, char** argv, int first) {
  Args a = parse_args("builder prune", {{"all", "a", false}, {"force", "f", false}}, argc, argv, first);
  if (!a.has("force")) {
    std::printf("WARNING! This will remove all dangling build cache. Are you sure you want to continue? [y/N] ");
    std::fflush(stdout);
    char answer[16] = {};
    if (!std::fgets(answer, sizeof answer, stdin) || (answer[0] != 'y' && answer[0] != 'Y')) return 0;
  }
  auto svc = e.images();
  auto lines = svc.prune_build_cache();
  auto gc = svc.gc(false);
  const build::CacheMountsPruned mounts = build::prune_cache_mounts(e.root, e.ns);  // RUN --mount=type=cache
  std::printf("Deleted build cache objects: %zu\nTotal reclaimed space: %s\n", lines.size() + mounts.count,
              image::human_size(gc.bytes + mounts.bytes).c_str());
  return 0;
}

}  // namespace berth::cli
