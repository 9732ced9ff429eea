// pull, push, login, logout: the commands that talk to a registry. They live in the module
// berth-registry.so with the registry client, so that libcurl (and the ~30 libraries it
// brings) is loaded only by them, not at every start of `berth` (see cli/berth/main.cpp).
#include <unistd.h>

#include <cstdio>
#include <mutex>
#include <iostream>

#include "cli/berth/commands.hpp"
#include "cli/runtime/args.hpp"
#include "common/error.hpp"
#include "common/fs.hpp"
#include "distribution/auth_file.hpp"
#include "distribution/client.hpp"
#include "oci/reference.hpp"
#include "registry/progress.hpp"
#include "registry/transfer.hpp"

namespace berth::cli {

namespace {

const std::vector<FlagSpec> kRegistryFlags = {
    {"tls-verify", "", true}, {"authfile", "", true}, {"quiet", "q", false}};

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

distribution::RegistryOptions registry_options(const Engine& e, const Args& a) {
  distribution::RegistryOptions o;
  o.insecure = !tls_verify(a);
  fs::mkdir_p(e.root, 0711);
  auto cache = std::make_shared<SchemeCache>(e.root + "/registry-schemes.json");
  o.scheme_hint = [cache](const std::string& r) { return cache->get(r); };
  o.on_scheme = [cache](const std::string& r, const std::string& s) { cache->set(r, s); };
  auto file = std::make_shared<distribution::AuthFile>(distribution::AuthFile::load(authfile_path(a)));
  o.credentials = [file](const std::string& registry) { return file->get(registry); };
  return o;
}

std::vector<FlagSpec> with(std::vector<FlagSpec> extra) {
  extra.insert(extra.end(), kRegistryFlags.begin(), kRegistryFlags.end());
  return extra;
}

}  // namespace

int cmd_pull(const Engine& e, int argc, char** argv, int first) {
  Args a("pull", with({{"platform", "", true}, {"all-tags", "a", false}}), argc, argv, first);
  if (a.positional().size() != 1) throw Error("pull: requires exactly one IMAGE reference");
  if (a.has("all-tags")) throw Error("pull: --all-tags is not supported yet");
  auto svc = e.images(a.has("platform") ? a.get("platform") : "");
  image::TransferOptions opt;
  opt.registry = registry_options(e, a);
  ProgressPrinter printer(stdout);
  if (!a.has("quiet")) opt.progress = printer.fn();
  const oci::Reference ref = oci::Reference::parse(a.positional()[0]);
  auto img = image::pull(svc, a.positional()[0], opt);
  if (a.has("quiet")) {
    std::puts(ref.str().c_str());
  } else {
    std::printf("Status: Downloaded image for %s\n%s\n", ref.familiar().c_str(), ref.str().c_str());
  }
  (void)img;
  return 0;
}

int cmd_push(const Engine& e, int argc, char** argv, int first) {
  Args a("push", with({}), argc, argv, first);
  if (a.positional().empty() || a.positional().size() > 2)
    throw Error("push: requires IMAGE [DESTINATION]");
  auto svc = e.images();
  image::TransferOptions opt;
  opt.registry = registry_options(e, a);
  ProgressPrinter printer(stdout);
  if (!a.has("quiet")) opt.progress = printer.fn();
  auto digest = image::push(svc, a.positional()[0], a.positional().size() > 1 ? a.positional()[1] : "", opt);
  if (a.has("quiet")) std::puts(digest.str().c_str());
  return 0;
}

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
    std::getline(std::cin, c.password);
  } else {
    c.password = a.get("password");
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

// The module's entry point, looked up with dlsym by `berth`.
extern "C" int berth_registry_main(const char* verb, const berth::cli::Engine* e, int argc, char** argv,
                                   int first) {
  using namespace berth::cli;
  const std::string v = verb;
  if (v == "pull") return cmd_pull(*e, argc, argv, first);
  if (v == "push") return cmd_push(*e, argc, argv, first);
  if (v == "login") return cmd_login(*e, argc, argv, first);
  if (v == "logout") return cmd_logout(*e, argc, argv, first);
  throw berth::Error("registry module: unknown command `" + v + "`");
}
