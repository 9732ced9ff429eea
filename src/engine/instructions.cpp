#include "engine/instructions.hpp"

#include <algorithm>
#include <cctype>

#include "common/duration.hpp"
#include "common/error.hpp"
#include "network/networks.hpp"
#include "runtime/signals.hpp"

namespace berth::engine {

using nlohmann::json;

std::vector<std::string> instruction_words(const std::string& s) {
  std::vector<std::string> out;
  std::string cur;
  bool in_word = false;
  char quote = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    char ch = s[i];
    if (quote) {
      if (ch == quote) {
        quote = 0;
      } else if (ch == '\\' && quote == '"' && i + 1 < s.size()) {
        cur += s[++i];
      } else {
        cur += ch;
      }
      continue;
    }
    if (ch == ' ' || ch == '\t' || ch == '\n') {
      if (in_word) out.push_back(cur), cur.clear(), in_word = false;
      continue;
    }
    in_word = true;
    if (ch == '"' || ch == '\'') {
      quote = ch;
    } else if (ch == '\\' && i + 1 < s.size()) {
      cur += s[++i];
    } else {
      cur += ch;
    }
  }
  if (quote) throw Error(ErrorKind::invalid_argument, std::string("unterminated quote ") + quote + " in `" + s + "`");
  if (in_word) out.push_back(cur);
  return out;
}

namespace {

// ["a", "b"] (the exec form), or nullopt when `rest` is not a JSON array of strings.
bool json_form(const std::string& rest, json& out) {
  if (rest.empty() || rest[0] != '[') return false;
  json j = json::parse(rest, nullptr, false);
  if (!j.is_array()) return false;
  for (auto& x : j)
    if (!x.is_string()) return false;
  out = j;
  return true;
}

// config[key] as an object (Docker writes null for none; anything else is replaced).
json& object_at(json& config, const char* key) {
  json& j = config[key];
  if (!j.is_object()) j = json::object();
  return j;
}

json command(const std::string& rest) {
  json j;
  if (json_form(rest, j)) return j;
  return json::array({"/bin/sh", "-c", rest});
}

// KEY=VALUE pairs (or the old one-pair form KEY VALUE… for ENV).
std::vector<std::pair<std::string, std::string>> pairs(const std::string& what, const std::string& rest, bool old_form) {
  std::vector<std::pair<std::string, std::string>> out;
  auto words = instruction_words(rest);
  if (words.empty()) throw Error(ErrorKind::invalid_argument, what + " needs at least one KEY=VALUE");
  if (old_form && words[0].find('=') == std::string::npos) {
    // ENV KEY VALUE WITH SPACES: the value is the rest of the line, as written.
    size_t start = rest.find_first_not_of(" \t");
    size_t after_key = rest.find_first_of(" \t", start);
    if (after_key == std::string::npos) throw Error(ErrorKind::invalid_argument, what + " " + words[0] + " needs a value");
    size_t value = rest.find_first_not_of(" \t", after_key);
    out.push_back({words[0], rest.substr(value)});
    return out;
  }
  for (auto& w : words) {
    auto eq = w.find('=');
    if (eq == std::string::npos || eq == 0) throw Error(ErrorKind::invalid_argument, what + ": `" + w + "` is not KEY=VALUE");
    out.push_back({w.substr(0, eq), w.substr(eq + 1)});
  }
  return out;
}

}  // namespace

void apply_instruction(json& config, const std::string& line) {
  const size_t start = line.find_first_not_of(" \t");
  if (start == std::string::npos) throw Error(ErrorKind::invalid_argument, "an empty instruction");
  const size_t end = line.find_first_of(" \t", start);
  std::string word = line.substr(start, end == std::string::npos ? std::string::npos : end - start);
  std::transform(word.begin(), word.end(), word.begin(), [](unsigned char c) { return std::toupper(c); });
  std::string rest;
  if (end != std::string::npos) {
    const size_t r = line.find_first_not_of(" \t", end);
    if (r != std::string::npos) rest = line.substr(r);
    while (!rest.empty() && (rest.back() == ' ' || rest.back() == '\t')) rest.pop_back();
  }
  static const char* kKnown = "CMD, ENTRYPOINT, ENV, EXPOSE, HEALTHCHECK, LABEL, ONBUILD, USER, VOLUME, WORKDIR, STOPSIGNAL";
  if (word != "CMD" && word != "ENTRYPOINT" && word != "ENV" && word != "EXPOSE" && word != "LABEL" &&
      word != "ONBUILD" && word != "USER" && word != "VOLUME" && word != "WORKDIR" && word != "STOPSIGNAL" &&
      word != "HEALTHCHECK")
    throw Error(ErrorKind::invalid_argument, "`" + word + "` cannot change an image's configuration (" + kKnown + ")");
  if (rest.empty()) throw Error(ErrorKind::invalid_argument, word + " needs an argument");
  if (!config.is_object()) config = json::object();

  if (word == "CMD") {
    config["Cmd"] = command(rest);
  } else if (word == "ENTRYPOINT") {
    config["Entrypoint"] = command(rest);
  } else if (word == "ENV") {
    json env = config.contains("Env") && config["Env"].is_array() ? config["Env"] : json::array();
    for (auto& [k, v] : pairs(word, rest, true)) {
      json kept = json::array();
      for (auto& e : env)
        if (e.is_string() && e.get<std::string>().rfind(k + "=", 0) != 0) kept.push_back(e);
      kept.push_back(k + "=" + v);
      env = kept;
    }
    config["Env"] = env;
  } else if (word == "LABEL") {
    for (auto& [k, v] : pairs(word, rest, false)) object_at(config, "Labels")[k] = v;
  } else if (word == "EXPOSE") {
    for (auto& w : instruction_words(rest)) {
      if (w.find(':') != std::string::npos) throw Error(ErrorKind::invalid_argument, "EXPOSE " + w + ": a port of the container only (PORT[/PROTO])");
      for (auto& m : network::parse_publish(w))
        object_at(config, "ExposedPorts")[std::to_string(m.container_port) + "/" + m.protocol] = json::object();
    }
  } else if (word == "VOLUME") {
    json list;
    if (!json_form(rest, list)) list = instruction_words(rest);
    for (auto& v : list) {
      const std::string path = v.get<std::string>();
      if (path.empty() || path[0] != '/') throw Error(ErrorKind::invalid_argument, "VOLUME " + path + ": an absolute path in the container");
      object_at(config, "Volumes")[path] = json::object();
    }
  } else if (word == "WORKDIR") {
    std::string dir = rest;
    if (dir[0] != '/') {
      std::string base = config.contains("WorkingDir") && config["WorkingDir"].is_string() ? config["WorkingDir"].get<std::string>() : "";
      if (base.empty() || base.back() != '/') base += '/';
      dir.insert(0, base);
    }
    config["WorkingDir"] = dir;
  } else if (word == "USER") {
    if (rest.find_first_of(" \t") != std::string::npos) throw Error(ErrorKind::invalid_argument, "USER " + rest + ": one USER[:GROUP]");
    config["User"] = rest;
  } else if (word == "STOPSIGNAL") {
    runtime::parse_signal(rest);  // throws for an unknown one
    config["StopSignal"] = rest;
  } else if (word == "ONBUILD") {
    if (!config["OnBuild"].is_array()) config["OnBuild"] = json::array();
    config["OnBuild"].push_back(rest);
  } else if (word == "HEALTHCHECK") {
    config["Healthcheck"] = healthcheck(rest, config.value("Healthcheck", json::object()));
  }
}

json healthcheck(const std::string& rest, const json& base) {
  // [--interval=D] [--timeout=D] [--start-period=D] [--start-interval=D] [--retries=N] CMD …|NONE
  json hc = base.is_object() ? base : json::object();
  size_t at = 0;
  auto skip_blanks = [&] {
    while (at < rest.size() && (rest[at] == ' ' || rest[at] == '\t')) ++at;
  };
  skip_blanks();
  while (rest.compare(at, 2, "--") == 0) {
    const size_t end = std::min(rest.find_first_of(" \t", at), rest.size());
    const std::string flag = rest.substr(at + 2, end - at - 2);
    at = end;
    skip_blanks();
    const size_t eq = flag.find('=');
    if (eq == std::string::npos) throw Error(ErrorKind::invalid_argument, "HEALTHCHECK --" + flag + ": want --" + flag + "=VALUE");
    const std::string name = flag.substr(0, eq), value = flag.substr(eq + 1);
    if (name == "retries") {
      if (value.empty() || value.size() > 9 || value.find_first_not_of("0123456789") != std::string::npos || std::stoi(value) < 1)
        throw Error(ErrorKind::invalid_argument, "HEALTHCHECK --retries: a whole number of at least 1, not `" + value + "`");
      hc["Retries"] = std::stoi(value);
      continue;
    }
    static const std::pair<const char*, const char*> kTimes[] = {
        {"interval", "Interval"}, {"timeout", "Timeout"}, {"start-period", "StartPeriod"}, {"start-interval", "StartInterval"}};
    const auto* t = std::find_if(std::begin(kTimes), std::end(kTimes), [&](auto& k) { return name == k.first; });
    if (t == std::end(kTimes))
      throw Error(ErrorKind::invalid_argument, "HEALTHCHECK: unknown flag --" + name + " (interval, timeout, start-period, start-interval, retries)");
    const auto ns = parse_go_duration(value);
    if (!ns || *ns < 0 || (*ns != 0 && *ns < 1000000))
      throw Error(ErrorKind::invalid_argument, "HEALTHCHECK --" + name + ": a duration of at least 1ms (or 0), not `" + value + "`");
    hc[t->second] = *ns;
  }
  const std::string body = rest.substr(at);
  const size_t kind_end = std::min(body.find_first_of(" \t"), body.size());
  std::string kind = body.substr(0, kind_end);
  std::transform(kind.begin(), kind.end(), kind.begin(), [](unsigned char c) { return std::toupper(c); });
  const size_t cmd_start = body.find_first_not_of(" \t", kind_end);
  const std::string command_text = cmd_start == std::string::npos ? "" : body.substr(cmd_start);
  if (kind == "NONE") {
    if (!command_text.empty()) throw Error(ErrorKind::invalid_argument, "HEALTHCHECK NONE takes no arguments");
    hc["Test"] = {"NONE"};
    return hc;
  }
  if (kind != "CMD") throw Error(ErrorKind::invalid_argument, "HEALTHCHECK: want CMD or NONE, not `" + kind + "`");
  if (command_text.empty()) throw Error(ErrorKind::invalid_argument, "HEALTHCHECK CMD requires a command");
  json test;
  if (json_form(command_text, test)) {
    test.insert(test.begin(), "CMD");
  } else {
    test = {"CMD-SHELL", command_text};
  }
  hc["Test"] = test;
  return hc;
}

std::function<void(nlohmann::json& config)> import_changes(std::vector<std::string> changes) {
  if (changes.empty()) return {};
  return [changes = std::move(changes)](nlohmann::json& config) {
    for (const auto& c : changes) {
      try {
        apply_instruction(config, c);
      } catch (const Error& err) {
        throw Error(ErrorKind::invalid_argument, std::string("import --change: ") + err.what());
      }
    }
  };
}

}  // namespace berth::engine
