#include "build/dockerfile.hpp"

#include <algorithm>
#include <cctype>
#include <set>

#include <nlohmann/json.hpp>

#include "build/words.hpp"
#include "common/error.hpp"

namespace berth::build {

namespace {

using nlohmann::json;

// Where in the Dockerfile: 1-based line and column.
struct Pos {
  int line = 0, col = 1;
};

[[noreturn]] void fail(Pos at, const std::string& why) {
  throw Error(ErrorKind::invalid_argument,
              "Dockerfile:" + std::to_string(at.line) + ":" + std::to_string(at.col) + ": " + why);
}

bool space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f'; }

std::string_view trim_left(std::string_view s) {
  while (!s.empty() && space(s.front())) s.remove_prefix(1);
  return s;
}
std::string_view trim(std::string_view s) {
  s = trim_left(s);
  while (!s.empty() && space(s.back())) s.remove_suffix(1);
  return s;
}
std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool is_comment(std::string_view line) {
  line = trim_left(line);
  return !line.empty() && line.front() == '#';
}

// A line ending in the escape character (then only blanks) continues on the next line: the
// line without it, and false; else the line and true.
std::pair<std::string, bool> cut_continuation(std::string_view line, char escape) {
  std::string_view t = line;
  while (!t.empty() && (t.back() == ' ' || t.back() == '\t' || t.back() == '\r')) t.remove_suffix(1);
  if (!t.empty() && t.back() == escape) return {std::string(t.substr(0, t.size() - 1)), false};
  return {std::string(line), true};
}

const std::set<std::string> kInstructions = {"from",  "run",  "cmd",     "label",   "maintainer", "expose",
                                             "env",   "add",  "copy",    "entrypoint", "volume",  "user",
                                             "workdir", "arg", "onbuild", "stopsignal", "healthcheck", "shell"};

// The flags an instruction takes (the classic builder's and BuildKit's common ones).
const std::map<std::string, std::set<std::string>> kFlags = {
    {"from", {"platform"}},
    {"run", {"mount", "network"}},
    {"copy", {"from", "chown", "chmod", "link"}},
    {"add", {"chown", "chmod", "link", "checksum"}},
    {"healthcheck", {"interval", "timeout", "start-period", "start-interval", "retries"}},
};

// Leading --name[=value] words; returns the rest after them.
std::string_view take_flags(std::string_view rest, std::vector<Instruction::Flag>& flags, const char* base, int col) {
  for (;;) {
    rest = trim_left(rest);
    if (rest.substr(0, 2) != "--") return rest;
    const int flag_col = col + static_cast<int>(rest.data() - base);
    size_t end = 0;
    char quote = 0;
    while (end < rest.size() && (quote || !space(rest[end]))) {
      if (quote && rest[end] == quote) quote = 0;
      else if (!quote && (rest[end] == '"' || rest[end] == '\'')) quote = rest[end];
      ++end;
    }
    std::string_view word = rest.substr(2, end - 2);
    rest.remove_prefix(end);
    if (word.empty()) return trim_left(rest);  // "--" ends the flags
    Instruction::Flag f;
    f.column = flag_col;
    const size_t eq = word.find('=');
    f.name = lower(word.substr(0, eq));
    if (eq == std::string_view::npos) f.has_value = false;
    else f.value = std::string(word.substr(eq + 1));
    flags.push_back(std::move(f));
  }
}

// A JSON array of strings, or nullopt.
std::optional<std::vector<std::string>> json_array(std::string_view rest) {
  rest = trim(rest);
  if (rest.empty() || rest.front() != '[') return std::nullopt;
  try {
    const json j = json::parse(rest);
    if (!j.is_array()) return std::nullopt;
    std::vector<std::string> out;
    for (auto& v : j) {
      if (!v.is_string()) return std::nullopt;
      out.push_back(v.get<std::string>());
    }
    return out;
  } catch (const json::parse_error&) {
    return std::nullopt;
  }
}

// ENV/LABEL: `k=v k2="v 2"` (pairs), or the legacy `k the rest`. Raw key, raw value.
std::vector<std::string> name_values(std::string_view rest, char escape, Pos line, const std::string& cmd) {
  std::vector<std::string> out;
  const std::vector<std::string> words = split_raw(rest, escape);
  if (words.empty()) fail(line, lower(cmd) == "env" ? "ENV requires at least one argument" : "LABEL requires at least one argument");
  if (words[0].find('=') == std::string::npos) {
    // Legacy form: the first word is the name, the rest of the line its value.
    std::string_view r = trim(rest);
    const size_t sp = std::find_if(r.begin(), r.end(), space) - r.begin();
    std::string_view value = trim(r.substr(sp));
    if (value.empty()) fail(line, cmd + " " + words[0] + ": a value is required (" + cmd + " name=value)");
    out.push_back(words[0]);
    out.emplace_back(value);
    return out;
  }
  for (auto& w : words) {
    const size_t eq = w.find('=');
    if (eq == std::string::npos) fail(line, "Syntax error - can't find = in \"" + w + "\". Must be of the form: name=value");
    if (eq == 0) fail(line, cmd + " names can not be blank");
    out.push_back(w.substr(0, eq));
    out.push_back(w.substr(eq + 1));
  }
  return out;
}

struct HeredocMark {
  std::string name;
  bool strip_tabs = false, expand = true;
};

// The `<<NAME`, `<<-NAME`, `<<"NAME"`, `<<'NAME'` marks of a shell-form line, in order.
std::vector<HeredocMark> heredoc_marks(std::string_view rest) {
  std::vector<HeredocMark> out;
  char quote = 0;
  for (size_t i = 0; i + 2 < rest.size(); ++i) {
    const char c = rest[i];
    if (quote) {
      if (c == quote) quote = 0;
      continue;
    }
    if (c == '\'' || c == '"') {
      quote = c;
      continue;
    }
    if (c != '<' || rest[i + 1] != '<' || (i > 0 && rest[i - 1] == '<')) continue;
    size_t j = i + 2;
    HeredocMark m;
    if (j < rest.size() && rest[j] == '-') {
      m.strip_tabs = true;
      ++j;
    }
    char q = 0;
    if (j < rest.size() && (rest[j] == '"' || rest[j] == '\'')) q = rest[j++];
    size_t k = j;
    while (k < rest.size() && (std::isalnum(static_cast<unsigned char>(rest[k])) || rest[k] == '_')) ++k;
    if (k == j || std::isdigit(static_cast<unsigned char>(rest[j]))) continue;
    if (q) {
      if (k >= rest.size() || rest[k] != q) continue;
      m.expand = false;
    }
    m.name = std::string(rest.substr(j, k - j));
    out.push_back(m);
    i = k;
  }
  return out;
}

class Parser {
 public:
  explicit Parser(std::string_view text) {
    size_t start = 0;
    while (start <= text.size()) {
      size_t nl = text.find('\n', start);
      if (nl == std::string_view::npos) nl = text.size();
      std::string_view l = text.substr(start, nl - start);
      if (!l.empty() && l.back() == '\r') l.remove_suffix(1);
      lines_.push_back(l);
      if (nl == text.size()) break;
      start = nl + 1;
    }
    if (!lines_.empty() && lines_[0].substr(0, 3) == "\xEF\xBB\xBF") lines_[0].remove_prefix(3);
  }

  Dockerfile run() {
    Dockerfile df;
    directives(df);
    while (i_ < lines_.size()) {
      std::string_view first = lines_[i_];
      const int line_no = static_cast<int>(i_) + 1;
      ++i_;
      if (is_comment(first) || trim(first).empty()) continue;
      const int col = static_cast<int>(first.size() - trim_left(first).size()) + 1;
      auto [text, end] = cut_continuation(trim_left(first), df.escape);
      while (!end && i_ < lines_.size()) {
        std::string_view next = lines_[i_++];
        if (is_comment(next) || trim(next).empty()) continue;  // dropped inside a continuation
        auto [more, e] = cut_continuation(next, df.escape);
        text += more;
        end = e;
      }
      if (trim(text).empty()) continue;
      Instruction ins = instruction(text, line_no, col, df.escape);
      read_heredocs(ins, df.escape);
      df.instructions.push_back(std::move(ins));
    }
    if (df.instructions.empty()) throw Error(ErrorKind::invalid_argument, "the Dockerfile has no instructions (it cannot be empty)");
    return df;
  }

 private:
  void directives(Dockerfile& df) {
    bool seen_escape = false;
    for (; i_ < lines_.size(); ++i_) {
      std::string_view l = trim_left(lines_[i_]);
      if (l.empty() || l.front() != '#') return;
      l.remove_prefix(1);
      l = trim_left(l);
      const size_t eq = l.find('=');
      if (eq == std::string_view::npos) return;
      const std::string name = lower(trim(l.substr(0, eq)));
      const std::string value(trim(l.substr(eq + 1)));
      if (name == "escape") {
        if (seen_escape) fail({static_cast<int>(i_) + 1, 1}, "only one escape parser directive can be used");
        if (value != "\\" && value != "`") fail({static_cast<int>(i_) + 1, 1}, "invalid escape token '" + value + "' does not match ` or \\");
        df.escape = value[0];
        seen_escape = true;
      } else if (name == "syntax") {
        df.syntax = value;
      } else {
        return;  // a comment
      }
    }
  }

  Instruction instruction(std::string_view text, int line_no, int col, char escape, bool nested = false) {
    text = trim(text);
    Instruction ins;
    ins.line = line_no;
    ins.column = col;
    const Pos line{line_no, col};
    ins.original = std::string(text);
    const size_t sp = std::find_if(text.begin(), text.end(), space) - text.begin();
    ins.cmd = lower(text.substr(0, sp));
    if (!kInstructions.count(ins.cmd)) fail(line, "unknown instruction: " + std::string(text.substr(0, sp)));
    std::string_view rest = take_flags(text.substr(sp), ins.flags, text.data(), col);
    auto allowed = kFlags.find(ins.cmd);
    for (auto& f : ins.flags) {
      if (allowed == kFlags.end() || !allowed->second.count(f.name)) {
        if (ins.cmd == "run" && (f.name == "mount" || f.name == "network" || f.name == "security"))
          fail({line_no, f.column}, "RUN --" + f.name + " is BuildKit's; berth build does not support it yet");
        fail({line_no, f.column}, "unknown flag: --" + f.name + " (for " + ins.cmd + ")");
      }
    }
    ins.rest = std::string(rest);
    const std::string upper = [&] {
      std::string u = ins.cmd;
      for (auto& c : u) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      return u;
    }();
    if (ins.cmd == "env" || ins.cmd == "label") {
      ins.args = name_values(rest, escape, line, upper);
    } else if (ins.cmd == "onbuild") {
      if (nested) fail(line, "ONBUILD ONBUILD is not allowed");
      if (trim(rest).empty()) fail(line, "ONBUILD requires an instruction");
      auto inner = std::make_shared<Instruction>(
          instruction(rest, line_no, col + static_cast<int>(trim_left(rest).data() - text.data()), escape, true));
      if (inner->cmd == "onbuild" || inner->cmd == "from" || inner->cmd == "maintainer")
        fail(line, "ONBUILD " + inner->cmd + " is not allowed");
      ins.inner = std::move(inner);
    } else if (ins.cmd == "shell") {
      auto a = json_array(rest);
      if (!a || a->empty()) fail(line, "SHELL requires the arguments to be in JSON form, e.g. SHELL [\"/bin/sh\", \"-c\"]");
      ins.json = true;
      ins.args = *a;
    } else if (ins.cmd == "run" || ins.cmd == "cmd" || ins.cmd == "entrypoint" || ins.cmd == "copy" ||
               ins.cmd == "add" || ins.cmd == "volume") {
      if (auto a = json_array(rest)) {
        ins.json = true;
        ins.args = *a;
      } else {
        ins.args = split_raw(rest, escape);
      }
    } else if (ins.cmd == "healthcheck") {
      std::string_view r = trim(rest);
      const size_t s2 = std::find_if(r.begin(), r.end(), space) - r.begin();
      const std::string kind = lower(r.substr(0, s2));
      if (kind == "none") {
        if (!trim(r.substr(s2)).empty()) fail(line, "HEALTHCHECK NONE takes no arguments");
        ins.args = {"NONE"};
      } else if (kind == "cmd") {
        std::string_view c = trim(r.substr(s2));
        if (c.empty()) fail(line, "HEALTHCHECK CMD requires a command");
        ins.args = {"CMD"};
        if (auto a = json_array(c)) {
          ins.json = true;
          ins.args.insert(ins.args.end(), a->begin(), a->end());
        } else {
          ins.args.emplace_back(c);
        }
      } else {
        if (r.substr(0, s2).empty()) fail(line, "HEALTHCHECK requires at least one argument");
        fail(line, "HEALTHCHECK: want NONE or CMD, not `" + std::string(r.substr(0, s2)) + "`");
      }
    } else {
      ins.args = split_raw(rest, escape);
    }
    // A bare ENTRYPOINT is Docker's way to clear it (the builder makes it null).
    static const std::set<std::string> need_args = {"from", "run", "cmd", "label", "maintainer", "expose", "add", "copy",
                                                    "volume", "user", "workdir", "arg", "stopsignal"};
    if (need_args.count(ins.cmd) && ins.args.empty() && !(ins.json && (ins.cmd == "cmd" || ins.cmd == "entrypoint")))
      fail(line, upper + " requires at least one argument");
    return ins;
  }

  void read_heredocs(Instruction& ins, char /*escape*/) {
    if (ins.json || (ins.cmd != "run" && ins.cmd != "copy" && ins.cmd != "add")) return;
    for (const HeredocMark& m : heredoc_marks(ins.rest)) {
      Heredoc h;
      h.name = m.name;
      h.expand = m.expand;
      bool closed = false;
      while (i_ < lines_.size()) {
        std::string_view l = lines_[i_++];
        if (m.strip_tabs)
          while (!l.empty() && l.front() == '\t') l.remove_prefix(1);
        if (l == m.name) {
          closed = true;
          break;
        }
        h.content.append(l).push_back('\n');
      }
      if (!closed) fail({ins.line, ins.column}, "heredoc <<" + m.name + " has no end (a line `" + m.name + "`)");
      ins.heredocs.push_back(std::move(h));
    }
  }

  std::vector<std::string_view> lines_;
  size_t i_ = 0;
};

bool valid_stage_name(const std::string& n) {
  if (n.empty() || !std::islower(static_cast<unsigned char>(n[0]))) return false;
  return std::all_of(n.begin(), n.end(), [](char c) {
    return std::islower(static_cast<unsigned char>(c)) || std::isdigit(static_cast<unsigned char>(c)) || c == '-' ||
           c == '_' || c == '.';
  });
}

}  // namespace

const Instruction::Flag* Instruction::flag(std::string_view name) const {
  const Flag* found = nullptr;
  for (auto& f : flags)
    if (f.name == name) found = &f;  // the last one wins
  return found;
}

Dockerfile parse_dockerfile(std::string_view text) {
  return Parser(text).run();
}

Stages split_stages(const Dockerfile& df) {
  Stages out;
  std::set<std::string> names;
  for (const Instruction& ins : df.instructions) {
    if (ins.cmd == "from") {
      Stage s;
      s.from = ins;
      s.index = out.stages.size();
      if (ins.args.size() == 3 && lower(ins.args[1]) == "as") {
        s.name = lower(ins.args[2]);
        if (!valid_stage_name(s.name))
          fail({ins.line, ins.column}, "invalid name for build stage: \"" + ins.args[2] + "\", name can't start with a number or contain symbols");
        if (!names.insert(s.name).second) fail({ins.line, ins.column}, "duplicate name for build stage: " + s.name);
      } else if (ins.args.size() != 1) {
        fail({ins.line, ins.column}, "FROM requires either one or three arguments (FROM image [AS name])");
      }
      out.stages.push_back(std::move(s));
      continue;
    }
    if (out.stages.empty()) {
      if (ins.cmd != "arg") fail({ins.line, ins.column}, ins.cmd + " before the first FROM (only ARG may come before it)");
      out.meta_args.push_back(ins);
      continue;
    }
    out.stages.back().body.push_back(ins);
  }
  if (out.stages.empty()) throw Error(ErrorKind::invalid_argument, "the Dockerfile has no FROM");
  return out;
}

}  // namespace berth::build
