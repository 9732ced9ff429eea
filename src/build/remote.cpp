#include "build/remote.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <vector>

#include "common/download.hpp"
#include "common/error.hpp"
#include "common/fd.hpp"
#include "common/fs.hpp"
#include "common/process.hpp"
#include "common/strings.hpp"
#include "diff/layer.hpp"

namespace berth::build {

namespace {

bool starts(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }

constexpr size_t kMaxDockerfile = 16u << 20;
constexpr int kGitTimeoutMs = 10 * 60 * 1000;

Error bad(const std::string& msg) { return Error(ErrorKind::invalid_argument, "build: " + msg); }

// Reads the Dockerfile `name` inside the context directory `ctx` (never through a symlink out).
std::string read_dockerfile(const std::string& ctx, const std::string& name, const std::string& where) {
  UniqueFd root(::open(ctx.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!root) throw_errno("open " + ctx);
  UniqueFd f = open_dockerfile(root.get(), name);
  if (!f) throw bad(where + " has no " + name);
  std::string out;
  char buf[65536];
  for (size_t n; (n = fs::read_fd(f.get(), buf, sizeof buf, name)) > 0;) {
    out.append(buf, n);
    if (out.size() > kMaxDockerfile) throw bad(name + ": larger than 16 MiB");
  }
  return out;
}

// git with what the host's git config says, except what a context's URL must never do: ask
// for a password on the terminal, reach local files or run commands as a transport.
int git(const std::vector<std::string>& args, std::string& out) {
  std::vector<std::string> argv = {"env",       "GIT_TERMINAL_PROMPT=0", "GIT_PROTOCOL_FROM_USER=0", "git",
                                   "-c",        "protocol.file.allow=never", "-c", "protocol.ext.allow=never"};
  argv.insert(argv.end(), args.begin(), args.end());
  out.clear();
  return run_command(argv, "", out, "git (is git installed?)", kGitTimeoutMs);
}

// What git said went wrong: its last `fatal:` or `error:` line, else its last line.
std::string last_line(const std::string& text) {
  std::string last, fatal;
  for (const auto& line : split(text, '\n')) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    last = line;
    if (line.rfind("fatal: ", 0) == 0 || line.rfind("error: ", 0) == 0) fatal = line;
  }
  return fatal.empty() ? last : fatal;
}

RemoteContext git_context(const std::string& given, const std::string& dir, const std::string& dockerfile) {
  std::string url = given, fragment;
  if (auto hash = url.find('#'); hash != std::string::npos) {
    fragment = url.substr(hash + 1);
    url = url.substr(0, hash);
  }
  std::string ref = fragment, subdir;
  if (auto colon = fragment.find(':'); colon != std::string::npos) {
    ref = fragment.substr(0, colon);
    subdir = fragment.substr(colon + 1);
  }
  if (starts(url, "github.com/")) url = "https://" + url;
  // Neither may pass for an option of git's (CVE-2019-13139: a ref of `--upload-pack=…`).
  if (url.empty() || url[0] == '-' || (!ref.empty() && ref[0] == '-'))
    throw bad("invalid git context `" + given + "`");
  for (const auto& part : split(subdir, '/'))
    if (part == "..") throw bad("git context " + given + ": the directory " + subdir + " leads out of the repository");
  const std::string repo = dir + "/repo";
  std::string out;
  auto must = [&](const std::vector<std::string>& args) {
    if (git(args, out) != 0) throw bad("git context " + given + ": " + last_line(out));
  };
  must({"init", "-q", "--", repo});
  must({"-C", repo, "remote", "add", "origin", "--", url});
  // The one ref, shallow; a dumb HTTP server cannot shallow-fetch, and a commit the server does
  // not advertise takes the whole history.
  const std::string want = ref.empty() ? "HEAD" : ref;
  bool fetched = git({"-C", repo, "fetch", "-q", "--depth", "1", "origin", "--", want}, out) == 0;
  const std::string why = last_line(out);  // the first answer says best what is wrong
  fetched = fetched || git({"-C", repo, "fetch", "-q", "origin", "--", want}, out) == 0;
  if (fetched) {
    must({"-C", repo, "checkout", "-q", "--detach", "FETCH_HEAD"});
  } else if (ref.empty() ||
             git({"-C", repo, "fetch", "-q", "--tags", "origin", "--", "+refs/heads/*:refs/remotes/origin/*"}, out) != 0 ||
             git({"-C", repo, "checkout", "-q", "--detach", ref, "--"}, out) != 0) {
    throw bad("git context " + given + ": " + why);
  }
  struct stat st {};
  if (::stat((repo + "/.gitmodules").c_str(), &st) == 0 &&
      git({"-C", repo, "submodule", "update", "-q", "--init", "--recursive", "--depth", "1"}, out) != 0)
    must({"-C", repo, "submodule", "update", "-q", "--init", "--recursive"});
  RemoteContext rc;
  rc.context = repo;
  if (!subdir.empty()) {
    // Inside the repository whatever its symlinks say.
    UniqueFd root(::open(repo.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    if (!root) throw_errno("open " + repo);
    UniqueFd sub = fs::open_in_root(root.get(), subdir, O_PATH | O_DIRECTORY);
    if (!sub) throw bad("git context " + given + ": no directory " + subdir + " in the repository");
    const std::string real = fs::fd_target(sub.get());
    if (real != repo && !starts(real, repo + "/")) throw bad("git context " + given + ": " + subdir + " leads out of the repository");
    rc.context = real;
  }
  rc.dockerfile = read_dockerfile(rc.context, dockerfile.empty() ? "Dockerfile" : dockerfile, "the git context");
  return rc;
}

RemoteContext url_context(const std::string& url, const std::string& dir, const std::string& dockerfile, const Fetch& fetch) {
  UniqueFd fd = download(fetch, url, dir, "build: downloading the context " + url);
  const std::string file = "the context " + url;
  char head[512];
  const ssize_t have = ::pread(fd.get(), head, sizeof head, 0);
  if (have < 0) throw_errno("read " + file);
  const size_t n = static_cast<size_t>(have);
  const bool tar = n >= 262 && std::memcmp(head + 257, "ustar", 5) == 0;
  RemoteContext rc;
  rc.context = dir + "/context";
  fs::mkdir_p(rc.context, 0700);
  if (tar || diff::detect_compression(head, n) != diff::Compression::none) {
    UniqueFd ctx(::open(rc.context.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!ctx) throw_errno("open " + rc.context);
    if (::lseek(fd.get(), 0, SEEK_SET) < 0) throw_errno("seek " + file);
    diff::ApplyOptions ao;
    ao.overlay = false;
    ao.whiteouts = false;  // a context's .wh.x is a file (Docker's untar)
    ao.rootless = ::geteuid() != 0;
    try {  // a tar bomb: refused before it fills the disk
      diff::apply_stream(fd.get(), ctx.get(), ao, true, "the build context");
    } catch (const Error& e) {
      throw bad("the context " + url + ": " + e.what());
    }
    rc.dockerfile = read_dockerfile(rc.context, dockerfile.empty() ? "Dockerfile" : dockerfile, "the context " + url);
    return rc;
  }
  // Not an archive: the Dockerfile itself (text), with an empty context.
  struct stat st {};
  if (::fstat(fd.get(), &st) < 0) throw_errno("stat " + file);
  if (st.st_size > static_cast<off_t>(kMaxDockerfile)) throw bad("the Dockerfile " + url + ": larger than 16 MiB");
  rc.dockerfile.resize(static_cast<size_t>(st.st_size));
  size_t got = 0;
  while (got < rc.dockerfile.size()) {
    const ssize_t r = ::pread(fd.get(), rc.dockerfile.data() + got, rc.dockerfile.size() - got, static_cast<off_t>(got));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) throw_errno("read " + file);
    got += static_cast<size_t>(r);
  }
  if (rc.dockerfile.find('\0') != std::string::npos)
    throw bad("the context " + url + " is neither a tar archive nor a Dockerfile");
  return rc;
}

}  // namespace

bool is_url_context(std::string_view s) { return starts(s, "http://") || starts(s, "https://"); }

bool is_git_context(std::string_view s) {
  if (starts(s, "git://") || starts(s, "git@") || starts(s, "github.com/")) return true;
  if (!is_url_context(s)) return false;
  const std::string_view repo = s.substr(0, s.find('#'));
  return repo.size() > 4 && repo.substr(repo.size() - 4) == ".git";
}

RemoteContext make_remote_context(const std::string& url, const std::string& dir, const std::string& dockerfile,
                                  const Fetch& fetch) {
  if (url.find_first_of("\n\r\t ") != std::string::npos) throw bad("invalid context `" + url + "`");
  if (is_git_context(url)) return git_context(url, dir, dockerfile);
  return url_context(url, dir, dockerfile, fetch);
}

UniqueFd open_dockerfile(int root_fd, const std::string& name) {
  UniqueFd at = fs::open_in_root(root_fd, name, O_PATH);
  struct stat st {};
  if (!at || ::fstat(at.get(), &st) < 0 || !S_ISREG(st.st_mode)) return UniqueFd();
  return UniqueFd(::open(fs::fd_path(at.get()).c_str(), O_RDONLY | O_CLOEXEC));
}

}  // namespace berth::build
