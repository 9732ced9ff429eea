// pull, push, login, logout.
#include <unistd.h>

#include <cstdio>
#include <iostream>

#include "cli/berth/commands.hpp"
#include "cli/berth/progress.hpp"
#include "cli/runtime/args.hpp"
#include "common/error.hpp"
#include "distribution/auth_file.hpp"
#include "distribution/client.hpp"
#include "image/transfer.hpp"
#include "oci/reference.hpp"

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

distribution::RegistryOptions registry_options(const Args& a) {
  distribution::RegistryOptions o;
  o.insecure = !tls_verify(a);
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
  opt.registry = registry_options(a);
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
  opt.registry = registry_options(a);
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
