#include "distribution/auth_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>

#include "common/error.hpp"
#include "common/fd.hpp"
#include "common/fs.hpp"

namespace berth::distribution {

namespace {

using json = nlohmann::json;

constexpr std::string_view kDockerHubKey = "https://index.docker.io/v1/";

std::string parent_dir(const std::string& path) {
  auto slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

// Creates the missing directories of `dir` with mode 0700.
void make_private_dirs(const std::string& dir) {
  if (dir.empty() || fs::is_dir(dir)) return;
  make_private_dirs(parent_dir(dir));
  if (::mkdir(dir.c_str(), 0700) < 0 && errno != EEXIST) throw_errno("mkdir `" + dir + "`");
}

}  // namespace

std::string normalize_registry(std::string_view key) {
  if (key.starts_with("https://"))
    key.remove_prefix(8);
  else if (key.starts_with("http://"))
    key.remove_prefix(7);
  key = key.substr(0, key.find('/'));
  std::string out(key);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  if (out == "index.docker.io" || out == "registry-1.docker.io") out = "docker.io";
  return out;
}

std::string AuthFile::default_path() {
  if (const char* p = std::getenv("BERTH_AUTH_FILE"); p && *p) return p;
  if (const char* x = std::getenv("XDG_CONFIG_HOME"); x && *x)
    return std::string(x) + "/berth/auth.json";
  const char* home = std::getenv("HOME");
  return std::string(home && *home ? home : "/root") + "/.config/berth/auth.json";
}

AuthFile AuthFile::load(std::string path) {
  AuthFile f;
  f.path_ = std::move(path);
  std::string text;
  try {
    if (!fs::read_file_if_exists(f.path_, text)) return f;
  } catch (const Error& e) {
    throw Error("auth file `" + f.path_ + "`: " + e.what(), e.code());
  }
  json j = json::parse(text, nullptr, false);
  if (!j.is_object()) throw Error("auth file `" + f.path_ + "`: not a JSON object");
  if (j.contains("auths") && !j["auths"].is_object())
    throw Error("auth file `" + f.path_ + "`: auths: not an object");
  f.doc_ = std::move(j);
  return f;
}

std::optional<Credentials> AuthFile::get(std::string_view registry) const {
  auto auths = doc_.find("auths");
  if (auths == doc_.end()) return std::nullopt;
  std::string want = normalize_registry(registry);
  // An exact key first, then any spelling of the same registry.
  const json* entry = nullptr;
  std::string key;
  if (auto it = auths->find(std::string(registry)); it != auths->end()) {
    entry = &*it;
    key = it.key();
  } else {
    for (auto it = auths->begin(); it != auths->end(); ++it)
      if (normalize_registry(it.key()) == want) {
        entry = &*it;
        key = it.key();
        break;
      }
  }
  if (!entry || !entry->is_object()) return std::nullopt;
  std::string where = "auth file `" + path_ + "`: auths." + key + ": ";
  if (auto a = entry->find("auth");
      a != entry->end() && a->is_string() && !a->get<std::string>().empty()) {
    std::string plain;
    try {
      plain = base64_decode(a->get<std::string>());
    } catch (const Error& e) {
      throw Error(where + "auth: " + e.what());
    }
    auto colon = plain.find(':');
    if (colon == std::string::npos) throw Error(where + "auth: expected base64 of user:password");
    return Credentials{plain.substr(0, colon), plain.substr(colon + 1)};
  }
  auto u = entry->find("username");
  auto p = entry->find("password");
  if (u != entry->end() && p != entry->end() && u->is_string() && p->is_string())
    return Credentials{*u, *p};
  return std::nullopt;
}

void AuthFile::set(std::string_view registry, const Credentials& c) {
  if (c.username.find(':') != std::string::npos)
    throw Error("registry " + std::string(registry) + ": a user name cannot contain `:`");
  erase(registry);
  std::string norm = normalize_registry(registry);
  std::string key = norm == "docker.io" ? std::string(kDockerHubKey) : norm;
  doc_["auths"][key] = json{{"auth", base64_encode(c.username + ":" + c.password)}};
}

bool AuthFile::erase(std::string_view registry) {
  auto auths = doc_.find("auths");
  if (auths == doc_.end() || !auths->is_object()) return false;
  std::string want = normalize_registry(registry);
  bool found = false;
  for (auto it = auths->begin(); it != auths->end();) {
    if (normalize_registry(it.key()) == want) {
      it = auths->erase(it);
      found = true;
    } else {
      ++it;
    }
  }
  return found;
}

std::vector<std::string> AuthFile::registries() const {
  std::vector<std::string> out;
  if (auto auths = doc_.find("auths"); auths != doc_.end() && auths->is_object())
    for (auto it = auths->begin(); it != auths->end(); ++it)
      out.push_back(normalize_registry(it.key()));
  return out;
}

void AuthFile::save() const {
  std::string where = "auth file `" + path_ + "`";
  json out = doc_;
  if (!out.contains("auths")) out["auths"] = json::object();
  std::string text = out.dump(1, '\t') + "\n";
  static std::atomic<unsigned> counter{0};
  std::string dir = parent_dir(path_);
  std::string tmp = path_ + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(counter++);
  try {
    make_private_dirs(dir);
    UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600));
    if (!fd) throw_errno("create `" + tmp + "`");
    if (::fchmod(fd.get(), 0600) < 0) throw_errno("chmod `" + tmp + "`");
    fs::write_fd(fd.get(), text, tmp);
    if (::fsync(fd.get()) < 0) throw_errno("fsync `" + tmp + "`");
    fd.reset();
    if (::rename(tmp.c_str(), path_.c_str()) < 0) throw_errno("rename to `" + path_ + "`");
  } catch (const Error& e) {
    ::unlink(tmp.c_str());
    throw Error(where + ": " + e.what(), e.code());
  }
}

}  // namespace berth::distribution
