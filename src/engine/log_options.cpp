#include "engine/log_options.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <regex>
#include <set>

#include <nlohmann/json.hpp>

#include "common/error.hpp"
#include "common/fs.hpp"
#include "common/strings.hpp"
#include "engine/spec.hpp"
#include "format/template.hpp"

namespace berth::engine {

using nlohmann::json;

namespace {

// A pattern is searched in label and variable names, not in data: a long one is no name
// pattern, and libstdc++'s matcher recurses per character of pattern and name alike.
constexpr size_t kMaxPattern = 1024;
constexpr size_t kMaxName = 4096;

std::regex compile(const std::string& option, const std::string& pattern) {
  if (pattern.size() > kMaxPattern)
    throw Error(ErrorKind::invalid_argument, "--log-opt " + option + ": a pattern of at most " + std::to_string(kMaxPattern) + " bytes");
  try {
    return std::regex(pattern, std::regex::ECMAScript);
  } catch (const std::regex_error& e) {
    throw Error(ErrorKind::invalid_argument, "invalid --log-opt " + option + " `" + pattern + "`: " + e.what());
  }
}

// Docker's logger.Info as a tag template sees it: its methods (.ID, .Name, …) and fields.
json tag_document(const LogSubject& s) {
  json labels = json::object(), env = json::array(), entrypoint = json::array(), args = json::array();
  std::string command;
  if (s.config) {
    labels = json(s.config->labels);
    env = json(s.config->env);
    for (auto& e : s.config->entrypoint) entrypoint.push_back(e);
    for (auto& a : s.config->cmd) args.push_back(a);
    std::vector<std::string> all = s.config->entrypoint;
    all.insert(all.end(), s.config->cmd.begin(), s.config->cmd.end());
    command = join(all, " ");
  }
  char host[256] = {};
  ::gethostname(host, sizeof host - 1);
  return {{"ID", s.id.substr(0, 12)},
          {"FullID", s.id},
          {"Name", s.name},
          {"ImageID", s.image_id.substr(0, 12)},  // Docker's: the first 12 of "sha256:…"
          {"ImageFullID", s.image_id},
          {"ImageName", s.image_name},
          {"DaemonName", "docker"},
          {"Hostname", host},
          {"Command", command},
          {"ContainerID", s.id},
          {"ContainerName", "/" + s.name},
          {"ContainerEntrypoint", entrypoint.empty() ? json("") : entrypoint[0]},
          {"ContainerArgs", args},
          {"ContainerImageID", s.image_id},
          {"ContainerImageName", s.image_name},
          {"ContainerEnv", env},
          {"ContainerLabels", labels}};
}

}  // namespace

std::optional<bool> parse_log_bool(const std::string& v) {
  static const std::set<std::string> yes = {"1", "t", "T", "true", "TRUE", "True"}, no = {"0", "f", "F", "false", "FALSE", "False"};
  if (yes.count(v)) return true;
  if (no.count(v)) return false;
  return std::nullopt;
}

void check_log_options(const std::string& driver, const std::map<std::string, std::string>& opts) {
  // Compression needs rotated files, which a log of one file has not (Docker's words for each
  // driver). local compresses unless told not to; json-file only when told. Without
  // max-size berth keeps 5 files unless max-file says otherwise; json-file with max-size
  // alone has one file.
  if (driver == "json-file" || driver == "local") {
    const auto compress = opts.find("compress"), files = opts.find("max-file");
    const bool on = compress == opts.end() ? driver == "local" : parse_log_bool(compress->second).value_or(false);
    const bool one_file = files != opts.end() ? files->second == "1" : driver == "json-file" && opts.count("max-size") > 0;
    if (on && one_file)
      throw Error(ErrorKind::invalid_argument, driver == "local" ? "compression cannot be enabled when max file count is 1"
                                                                 : "compress cannot be true when max-file is less than 2");
  }
  for (const auto& [k, v] : opts) {
    if (k == "max-size") {
      // 0 would turn the rotation (and the default cap) off: Docker refuses it too.
      if (parse_bytes(v, "--log-opt max-size") <= 0)
        throw Error(ErrorKind::invalid_argument, "invalid --log-opt max-size `" + v + "`: it must be a positive size");
    } else if (k == "max-file") {
      char* end = nullptr;
      const long n = std::strtol(v.c_str(), &end, 10);
      if (v.empty() || *end || n < 1 || n > 1000) throw Error(ErrorKind::invalid_argument, "invalid --log-opt max-file `" + v + "`");
    } else if (k == "mode") {
      // Every driver's (Docker): berth's shim reads the output as it comes, so the container
      // waits only while its pipe is full — blocking; non-blocking is taken as that.
      if (v != "blocking" && v != "non-blocking")
        throw Error(ErrorKind::invalid_argument, "invalid --log-opt mode `" + v + "`: blocking or non-blocking");
    } else if (k == "max-buffer-size") {
      parse_bytes(v, "--log-opt max-buffer-size");
    } else if (k == "path" && driver == "k8s-file") {
      // k8s-file's path (Podman's --log-opt path=; the CRI's log_directory/log_path).
      if (v.empty() || v[0] != '/' || fs::clean_path(v) != v || v.back() == '/')
        throw Error(ErrorKind::invalid_argument, "--log-opt path: an absolute file path, with --log-driver k8s-file only");
      // Something there already must be a file to append to (a fifo would hold the shim's
      // open for good, a device take the log).
      struct stat st {};
      if (::stat(v.c_str(), &st) == 0 && !S_ISREG(st.st_mode))
        throw Error(ErrorKind::invalid_argument, "--log-opt path `" + v + "`: not a regular file");
    } else if ((driver == "json-file" || driver == "local") && k == "compress") {
      if (!parse_log_bool(v)) throw Error(ErrorKind::invalid_argument, "invalid --log-opt compress `" + v + "`: true or false");
    } else if (driver == "json-file" && (k == "labels" || k == "env")) {
      // Comma-separated names; any text is a name (one that is not there adds nothing).
    } else if (driver == "json-file" && (k == "labels-regex" || k == "env-regex")) {
      compile(k, v);
    } else if (driver == "json-file" && k == "tag") {
      try {
        ContainerConfig sample;
        format::Template::parse(v).render(tag_document({std::string(64, '0'), "name", "sha256:" + std::string(64, '0'), "image", &sample}));
      } catch (const Error& e) {
        throw Error(ErrorKind::invalid_argument, "invalid --log-opt tag `" + v + "`: " + e.what());
      }
    } else if (k == "path") {
      throw Error(ErrorKind::invalid_argument, "--log-opt path: an absolute file path, with --log-driver k8s-file only");
    } else {
      throw Error(ErrorKind::invalid_argument,
                  "unknown log opt '" + k + "' for " + driver + " log driver (berth's: max-size, max-file, mode" +
                      (driver == "json-file" ? ", compress, labels, labels-regex, env, env-regex, tag"
                       : driver == "local"  ? ", compress"
                       : driver == "k8s-file" ? ", path"
                                            : "") + ")");
    }
  }
}

std::map<std::string, std::string> log_attributes(const std::map<std::string, std::string>& opts, const LogSubject& s) {
  std::map<std::string, std::string> out;
  static const std::map<std::string, std::string> none;
  const auto& labels = s.config ? s.config->labels : none;
  std::map<std::string, std::string> env;
  if (s.config)
    for (const auto& e : s.config->env)
      if (auto eq = e.find('='); eq != std::string::npos) env[e.substr(0, eq)] = e.substr(eq + 1);
  // Docker's order (ExtraAttributes): labels, labels-regex, env, env-regex; a later one wins.
  auto named = [&](const char* opt, const std::map<std::string, std::string>& from) {
    auto it = opts.find(opt);
    if (it == opts.end() || it->second.empty()) return;
    for (const auto& name : split(it->second, ','))
      if (auto f = from.find(name); f != from.end()) out[name] = f->second;
  };
  auto matching = [&](const char* opt, const std::map<std::string, std::string>& from) {
    auto it = opts.find(opt);
    if (it == opts.end() || it->second.empty()) return;
    const std::regex re = compile(opt, it->second);
    for (const auto& [k, v] : from)
      if (k.size() <= kMaxName && std::regex_search(k, re)) out[k] = v;
  };
  named("labels", labels);
  matching("labels-regex", labels);
  named("env", env);
  matching("env-regex", env);
  if (auto it = opts.find("tag"); it != opts.end() && !it->second.empty()) {
    const std::string tag = format::Template::parse(it->second).render(tag_document(s));
    if (!tag.empty()) out["tag"] = tag;
  }
  return out;
}

}  // namespace berth::engine
