// The registry module's entry points (module.hpp): a repository client for the image
// service's pull and push, and the login and logout commands.
#include <termios.h>
#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <mutex>
#include <string>

#include "cli/berth/commands.hpp"
#include "cli/runtime/args.hpp"
#include "common/error.hpp"
#include "common/fs.hpp"
#include "distribution/auth_file.hpp"
#include "distribution/client.hpp"
#include "distribution/http.hpp"
#include "common/fs.hpp"
#include "oci/reference.hpp"
#include "registry/module.hpp"

namespace berth::cli {

namespace {

bool tls_verify(const Args& a) {
  const std::string v = a.get("tls-verify", "true");
  if (v != "true" && v != "false") throw Error("--tls-verify must be true or false");
  return v == "true";
}

std::string authfile_path(const Args& a) {
  return a.has("authfile") ? a.get("authfile") : distribution::AuthFile::default_path();
}

// Which scheme each insecure registry answered on, kept under --root so that the next
// command does not try TLS against a plain-http registry first.
struct SchemeCache {
  std::string path;
  nlohmann::json doc = nlohmann::json::object();
  mutable std::mutex mu;  // transfers of one command run in parallel
  explicit SchemeCache(std::string p) : path(std::move(p)) {
    std::string text;
    if (fs::read_file_if_exists(path, text)) {
      auto j = nlohmann::json::parse(text, nullptr, false);
      if (j.is_object()) doc = std::move(j);
    }
  }
  std::string get(const std::string& registry) const {
    std::lock_guard<std::mutex> lk(mu);
    auto it = doc.find(registry);
    return it != doc.end() && it->is_string() ? it->get<std::string>() : "";
  }
  void set(const std::string& registry, const std::string& scheme) {
    if (get(registry) == scheme) return;
    std::lock_guard<std::mutex> lk(mu);
    doc[registry] = scheme;
    try {
      fs::write_file_atomic(path, doc.dump(), 0644, false);
    } catch (const Error&) {
      // A cache only.
    }
  }
};

distribution::RegistryOptions registry_options(const registry::Access& a) {
  distribution::RegistryOptions o;
  o.insecure = !a.tls_verify;
  o.max_parallel = a.max_parallel;
  if (!a.scheme_cache.empty()) {
    auto cache = std::make_shared<SchemeCache>(a.scheme_cache);
    o.scheme_hint = [cache](const std::string& r) { return cache->get(r); };
    o.on_scheme = [cache](const std::string& r, const std::string& s) { cache->set(r, s); };
  }
  auto file = std::make_shared<distribution::AuthFile>(
      distribution::AuthFile::load(a.authfile.empty() ? distribution::AuthFile::default_path() : a.authfile));
  o.credentials = [file](const std::string& registry) { return file->get(registry); };
  return o;
}

// One line from the terminal after `what`; without echo unless `echo`.
std::string prompt(const char* what, bool echo) {
  std::fputs(what, stdout);
  std::fflush(stdout);
  termios old{};
  const bool quiet = !echo && ::tcgetattr(0, &old) == 0;
  if (quiet) {
    termios t = old;
    t.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    ::tcsetattr(0, TCSANOW, &t);
  }
  std::string line;
  std::getline(std::cin, line);
  if (quiet) {
    ::tcsetattr(0, TCSANOW, &old);
    std::fputs("\n", stdout);
  }
  if (!line.empty() && line.back() == '\r') line.pop_back();
  return line;
}

}  // namespace

int cmd_login(const Engine&, int argc, char** argv, int first) {
  Args a("login",
         {{"username", "u", true}, {"password", "p", true}, {"password-stdin", "", false},
          {"tls-verify", "", true}, {"authfile", "", true}},
         argc, argv, first);
  if (a.positional().size() != 1) throw Error("login: requires exactly one REGISTRY");
  std::string registry = distribution::normalize_registry(a.positional()[0]);
  distribution::Credentials c;
  c.username = a.get("username");
  if (a.has("password-stdin")) {
    if (a.has("password")) throw Error("login: --password and --password-stdin are mutually exclusive");
    if (c.username.empty()) throw Error("login: --password-stdin needs --username");
    std::getline(std::cin, c.password);
  } else {
    c.password = a.get("password");
  }
  // Docker's prompts on a terminal for what the flags did not give (the password unechoed).
  if (::isatty(0)) {
    if (c.username.empty()) c.username = prompt("Username: ", true);
    if (c.password.empty() && !a.has("password-stdin")) c.password = prompt("Password: ", false);
  }
  if (c.username.empty() || c.password.empty())
    throw Error("login: give --username and --password (or --password-stdin)");
  distribution::RegistryOptions o;
  o.insecure = !tls_verify(a);
  o.credentials = [c](const std::string&) { return std::optional<distribution::Credentials>(c); };
  distribution::Client(registry, "", o).ping();
  auto file = distribution::AuthFile::load(authfile_path(a));
  file.set(registry, c);
  file.save();
  std::puts("Login Succeeded");
  return 0;
}

int cmd_logout(const Engine&, int argc, char** argv, int first) {
  Args a("logout", {{"authfile", "", true}, {"all", "a", false}}, argc, argv, first);
  auto file = distribution::AuthFile::load(authfile_path(a));
  if (a.has("all")) {
    for (auto& r : file.registries()) file.erase(r);
    file.save();
    std::puts("Removed login credentials for all registries");
    return 0;
  }
  if (a.positional().size() != 1) throw Error("logout: requires exactly one REGISTRY (or --all)");
  const std::string registry = distribution::normalize_registry(a.positional()[0]);
  if (!file.erase(registry)) throw Error("logout: not logged in to " + registry);
  file.save();
  std::printf("Removing login credentials for %s\n", registry.c_str());
  return 0;
}

}  // namespace berth::cli

extern "C" berth::distribution::Repository* berth_registry_open(const berth::registry::Access* access,
                                                               const char* registry, const char* repository) {
  return new berth::distribution::Client(registry, repository, berth::cli::registry_options(*access));
}

// ADD of a URL (`berth build`): the body to `fd`; Last-Modified in *last_modified (0: none).
extern "C" void berth_registry_fetch(const char* url, int fd, int64_t* last_modified) {
  const auto f = berth::distribution::http::fetch(url, [fd](const char* p, size_t n) {
    berth::fs::write_fd(fd, std::string_view(p, n), "the download");
  });
  *last_modified = f.last_modified;
}

extern "C" int berth_registry_main(const char* verb, const berth::cli::Engine* e, int argc, char** argv,
                                   int first) {
  using namespace berth::cli;
  const std::string v = verb;
  if (v == "login") return cmd_login(*e, argc, argv, first);
  if (v == "logout") return cmd_logout(*e, argc, argv, first);
  throw berth::Error("registry module: unknown command `" + v + "`");
}
