#include "format/template.hpp"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <utility>

#include "common/error.hpp"

namespace berth::format {

using nlohmann::json;

namespace {

[[noreturn]] void fail(const std::string& msg) { throw Error("template: " + msg); }

// ---- Tokens of one action -------------------------------------------------------------------

enum class T { ident, field, var, str, num, dot, lparen, rparen, pipe, declare, assign, comma };

struct Tok {
  T kind;
  std::string text;     // identifier, field or variable name (without . or $), number text
  json value;           // string literal
  bool joined = false;  // no space before it (".A.B", "$x.A", "(…).A")
};

bool ident_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }

// Go's interpreted string literal escapes (\n \t \\ \" \xNN \uNNNN \UNNNNNNNN, octal).
std::string unquote(std::string_view s, size_t& i) {
  std::string out;
  ++i;  // opening quote
  while (i < s.size() && s[i] != '"') {
    char c = s[i++];
    if (c == '\n') fail("newline in string");
    if (c != '\\') {
      out += c;
      continue;
    }
    if (i >= s.size()) break;
    char e = s[i++];
    auto hex = [&](int n) {
      if (i + static_cast<size_t>(n) > s.size()) fail("bad escape in string");
      unsigned long v = std::strtoul(std::string(s.substr(i, static_cast<size_t>(n))).c_str(), nullptr, 16);
      i += static_cast<size_t>(n);
      return v;
    };
    auto utf8 = [&](unsigned long cp) {
      if (cp < 0x80) {
        out += static_cast<char>(cp);
      } else if (cp < 0x800) {
        out += static_cast<char>(0xC0 | (cp >> 6));
        out += static_cast<char>(0x80 | (cp & 0x3F));
      } else if (cp < 0x10000) {
        out += static_cast<char>(0xE0 | (cp >> 12));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
      } else if (cp <= 0x10FFFF) {
        out += static_cast<char>(0xF0 | (cp >> 18));
        out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
      } else {
        fail("bad escape in string");
      }
    };
    switch (e) {
      case 'n': out += '\n'; break;
      case 't': out += '\t'; break;
      case 'r': out += '\r'; break;
      case 'a': out += '\a'; break;
      case 'b': out += '\b'; break;
      case 'f': out += '\f'; break;
      case 'v': out += '\v'; break;
      case '\\': out += '\\'; break;
      case '"': out += '"'; break;
      case '\'': out += '\''; break;
      case 'x': out += static_cast<char>(hex(2)); break;
      case 'u': utf8(hex(4)); break;
      case 'U': utf8(hex(8)); break;
      default:
        if (e >= '0' && e <= '7' && i + 1 < s.size()) {
          out += static_cast<char>(std::strtoul(std::string(s.substr(i - 1, 3)).c_str(), nullptr, 8));
          i += 2;
        } else {
          fail(std::string("unknown escape sequence \\") + e);
        }
    }
  }
  if (i >= s.size()) fail("unterminated quoted string");
  ++i;
  return out;
}

std::vector<Tok> lex_action(std::string_view s) {
  std::vector<Tok> out;
  size_t i = 0;
  bool space = true;
  while (i < s.size()) {
    char c = s[i];
    if (std::isspace(static_cast<unsigned char>(c))) {
      ++i;
      space = true;
      continue;
    }
    Tok t{T::ident, "", nullptr, !space && !out.empty()};
    space = false;
    if (c == '"') {
      t.kind = T::str;
      t.value = unquote(s, i);
    } else if (c == '`') {
      size_t e = s.find('`', i + 1);
      if (e == std::string_view::npos) fail("unterminated raw quoted string");
      t.kind = T::str;
      t.value = std::string(s.substr(i + 1, e - i - 1));
      i = e + 1;
    } else if (c == '\'') {
      // A character constant is a number in Go.
      size_t e = s.find('\'', i + 1);
      if (e == std::string_view::npos || e == i + 1) fail("unterminated character constant");
      t.kind = T::num;
      t.text = std::to_string(static_cast<unsigned char>(s[i + 1]));
      i = e + 1;
    } else if (c == '.' && (i + 1 >= s.size() || !ident_char(s[i + 1]) || std::isdigit(static_cast<unsigned char>(s[i + 1])))) {
      if (i + 1 < s.size() && std::isdigit(static_cast<unsigned char>(s[i + 1]))) {
        size_t e = i + 1;
        while (e < s.size() && (std::isalnum(static_cast<unsigned char>(s[e])) || s[e] == '.')) ++e;
        t.kind = T::num;
        t.text = std::string(s.substr(i, e - i));
        i = e;
      } else {
        t.kind = T::dot;
        ++i;
      }
    } else if (c == '.') {
      size_t e = i + 1;
      while (e < s.size() && ident_char(s[e])) ++e;
      t.kind = T::field;
      t.text = std::string(s.substr(i + 1, e - i - 1));
      i = e;
    } else if (c == '$') {
      size_t e = i + 1;
      while (e < s.size() && ident_char(s[e])) ++e;
      t.kind = T::var;
      t.text = std::string(s.substr(i, e - i));
      i = e;
    } else if (std::isdigit(static_cast<unsigned char>(c)) || ((c == '-' || c == '+') && i + 1 < s.size() &&
                                                                (std::isdigit(static_cast<unsigned char>(s[i + 1])) || s[i + 1] == '.'))) {
      size_t e = i + 1;
      while (e < s.size() && (std::isalnum(static_cast<unsigned char>(s[e])) || s[e] == '.' || s[e] == '_' ||
                              ((s[e] == '-' || s[e] == '+') && (s[e - 1] == 'e' || s[e - 1] == 'E'))))
        ++e;
      t.kind = T::num;
      t.text = std::string(s.substr(i, e - i));
      i = e;
    } else if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
      size_t e = i;
      while (e < s.size() && ident_char(s[e])) ++e;
      t.kind = T::ident;
      t.text = std::string(s.substr(i, e - i));
      i = e;
    } else if (c == '(') {
      t.kind = T::lparen, ++i;
    } else if (c == ')') {
      t.kind = T::rparen, ++i;
    } else if (c == '|') {
      t.kind = T::pipe, ++i;
    } else if (c == ',') {
      t.kind = T::comma, ++i;
    } else if (c == ':' && i + 1 < s.size() && s[i + 1] == '=') {
      t.kind = T::declare, i += 2;
    } else if (c == '=') {
      t.kind = T::assign, ++i;
    } else {
      fail(std::string("unexpected \"") + c + "\" in command");
    }
    out.push_back(std::move(t));
  }
  return out;
}

// ---- Items: text and actions ----------------------------------------------------------------

struct Item {
  bool action = false;
  std::string text;     // text
  std::vector<Tok> toks;  // action
};

std::vector<Item> split_items(std::string_view s) {
  std::vector<Item> items;
  size_t i = 0;
  bool trim_next = false;
  while (i <= s.size()) {
    size_t open = s.find("{{", i);
    std::string text(s.substr(i, open == std::string_view::npos ? std::string_view::npos : open - i));
    bool trim_prev = open != std::string_view::npos && open + 3 < s.size() && s[open + 2] == '-' &&
                     std::isspace(static_cast<unsigned char>(s[open + 3]));
    if (trim_next) text.erase(0, text.find_first_not_of(" \t\r\n") == std::string::npos ? text.size() : text.find_first_not_of(" \t\r\n"));
    if (trim_prev) {
      size_t e = text.find_last_not_of(" \t\r\n");
      text.erase(e == std::string::npos ? 0 : e + 1);
    }
    if (!text.empty()) items.push_back({false, std::move(text), {}});
    if (open == std::string_view::npos) break;
    size_t body = open + (trim_prev ? 3 : 2);
    // A comment: {{/* … */}} (with trim markers too); it may hold "}}".
    size_t b = body;
    while (b < s.size() && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
    size_t close;
    if (s.substr(b, 2) == "/*") {
      size_t end = s.find("*/", b + 2);
      if (end == std::string_view::npos) fail("unclosed comment");
      close = s.find("}}", end + 2);
      if (close == std::string_view::npos) fail("unclosed action");
    } else {
      // "}}" inside a string literal does not close the action.
      close = std::string_view::npos;
      for (size_t k = body; k + 1 < s.size(); ++k) {
        if (s[k] == '"') {
          for (++k; k < s.size() && s[k] != '"'; ++k)
            if (s[k] == '\\') ++k;
        } else if (s[k] == '`') {
          k = s.find('`', k + 1);
          if (k == std::string_view::npos) break;
        } else if (s[k] == '}' && s[k + 1] == '}') {
          close = k;
          break;
        }
      }
      if (close == std::string_view::npos) fail("unclosed action");
    }
    bool trim_after = close >= 2 && s[close - 1] == '-' && std::isspace(static_cast<unsigned char>(s[close - 2])) && close - 1 > body;
    std::string_view inner = s.substr(body, (trim_after ? close - 1 : close) - body);
    if (s.substr(b, 2) != "/*") {
      Item it{true, "", lex_action(inner)};
      if (it.toks.empty()) fail("missing value for command");
      items.push_back(std::move(it));
    }
    trim_next = trim_after;
    i = close + 2;
  }
  return items;
}

}  // namespace

// ---- The tree -------------------------------------------------------------------------------

struct Pipe;

struct Arg {
  enum Kind { a_dot, a_field, a_var, a_literal, a_ident, a_sub } kind = a_dot;
  std::string name;                 // var or function name
  std::vector<std::string> fields;  // applied after the base (dot: .A.B is dot + [A, B])
  json literal;
  std::shared_ptr<Pipe> pipe;  // sub
};

struct Cmd {
  std::vector<Arg> args;
};

struct Pipe {
  std::vector<std::string> vars;
  bool declare = false, assign = false;
  std::vector<Cmd> cmds;
};

struct Template::Node {
  enum Kind { n_list, n_text, n_action, n_if, n_range, n_with, n_break, n_continue } kind = n_list;
  std::string text;
  std::shared_ptr<Pipe> pipe;
  std::vector<std::shared_ptr<const Node>> body, other;  // other: the else branch
};

using Node = Template::Node;
using NodeP = std::shared_ptr<const Node>;

namespace {

class Parser {
 public:
  explicit Parser(std::vector<Item> items) : items_(std::move(items)) {}

  NodeP parse() {
    auto root = std::make_shared<Node>();
    std::string stop;
    root->body = list(stop, 0);
    if (!stop.empty()) fail("unexpected {{" + stop + "}}");
    return root;
  }

 private:
  // Nodes until {{end}} or {{else…}} (returned in `stop`, the item consumed) or the end.
  std::vector<NodeP> list(std::string& stop, int range_depth) {
    std::vector<NodeP> out;
    stop.clear();
    while (pos_ < items_.size()) {
      const Item& it = items_[pos_++];
      if (!it.action) {
        auto n = std::make_shared<Node>();
        n->kind = Node::n_text;
        n->text = it.text;
        out.push_back(n);
        continue;
      }
      const Tok& first = it.toks[0];
      if (first.kind == T::ident) {
        const std::string& w = first.text;
        if (w == "end" || w == "else") {
          if (w == "end" && it.toks.size() > 1) fail("unexpected token in end");
          stop = w;
          else_rest_ = std::vector<Tok>(it.toks.begin() + 1, it.toks.end());
          return out;
        }
        if (w == "if" || w == "range" || w == "with") {
          out.push_back(control(w, std::vector<Tok>(it.toks.begin() + 1, it.toks.end()), range_depth));
          continue;
        }
        if (w == "break" || w == "continue") {
          if (range_depth == 0) fail("{{" + w + "}} outside {{range}}");
          if (it.toks.size() > 1) fail("unexpected token in " + w);
          auto n = std::make_shared<Node>();
          n->kind = w == "break" ? Node::n_break : Node::n_continue;
          out.push_back(n);
          continue;
        }
        if (w == "template" || w == "define" || w == "block")
          fail("{{" + w + "}} is not supported");
      }
      auto n = std::make_shared<Node>();
      n->kind = Node::n_action;
      n->pipe = pipeline(it.toks, "command");
      out.push_back(n);
    }
    return out;
  }

  NodeP control(const std::string& word, const std::vector<Tok>& toks, int range_depth) {
    if (++nesting_ > 200) fail("too deeply nested");
    struct Nesting {
      int& n;
      ~Nesting() { --n; }
    } guard{nesting_};
    auto n = std::make_shared<Node>();
    n->kind = word == "if" ? Node::n_if : word == "range" ? Node::n_range : Node::n_with;
    if (toks.empty()) fail("missing value for " + word);
    n->pipe = pipeline(toks, word);
    if (n->kind == Node::n_range && n->pipe->vars.size() > 2) fail("too many declarations in range");
    if (n->kind != Node::n_range && n->pipe->vars.size() > 1) fail("too many declarations in " + word);
    std::string stop;
    n->body = list(stop, range_depth + (n->kind == Node::n_range ? 1 : 0));
    if (stop.empty()) fail("unexpected EOF: {{" + word + "}} without {{end}}");
    if (stop == "else") {
      std::vector<Tok> rest = else_rest_;
      if (!rest.empty()) {
        // {{else if …}} / {{else with …}}: a nested control that ends with the same {{end}}.
        if (rest[0].kind != T::ident || (rest[0].text != "if" && rest[0].text != "with"))
          fail("unexpected token after else");
        n->other.push_back(control(rest[0].text, std::vector<Tok>(rest.begin() + 1, rest.end()), range_depth));
        return n;
      }
      n->other = list(stop, range_depth);
      if (stop != "end") fail(stop.empty() ? "unexpected EOF: {{else}} without {{end}}" : "{{else}} after {{else}}");
    }
    return n;
  }

  std::shared_ptr<Pipe> pipeline(const std::vector<Tok>& toks, const std::string& context) {
    auto p = std::make_shared<Pipe>();
    size_t i = 0;
    // Declarations: $x := …, $i, $e := …, $x = …
    {
      size_t k = 0;
      std::vector<std::string> vars;
      while (k < toks.size() && toks[k].kind == T::var) {
        vars.push_back(toks[k].text);
        ++k;
        if (k < toks.size() && toks[k].kind == T::comma) {
          ++k;
          continue;
        }
        break;
      }
      if (!vars.empty() && k < toks.size() && (toks[k].kind == T::declare || toks[k].kind == T::assign)) {
        p->vars = vars;
        p->declare = toks[k].kind == T::declare;
        p->assign = !p->declare;
        i = k + 1;
      }
    }
    size_t end = toks.size();
    parse_cmds(toks, i, end, *p, context);
    return p;
  }

  void parse_cmds(const std::vector<Tok>& toks, size_t& i, size_t end, Pipe& p, const std::string& context) {
    Cmd cmd;
    while (i < end) {
      const Tok& t = toks[i];
      if (t.kind == T::pipe) {
        if (cmd.args.empty()) fail("missing command before |");
        p.cmds.push_back(std::move(cmd));
        cmd = Cmd();
        ++i;
        continue;
      }
      if (t.kind == T::rparen) break;
      cmd.args.push_back(operand(toks, i, end));
    }
    if (cmd.args.empty()) fail("missing value for " + context);
    p.cmds.push_back(std::move(cmd));
  }

  Arg operand(const std::vector<Tok>& toks, size_t& i, size_t end) {
    const Tok& t = toks[i++];
    Arg a;
    switch (t.kind) {
      case T::dot: a.kind = Arg::a_dot; break;
      case T::field:
        a.kind = Arg::a_dot;
        a.fields.push_back(t.text);
        break;
      case T::var:
        a.kind = Arg::a_var;
        a.name = t.text;
        break;
      case T::str:
        a.kind = Arg::a_literal;
        a.literal = t.value;
        break;
      case T::num: a = number(t.text); break;
      case T::ident:
        if (t.text == "true" || t.text == "false") {
          a.kind = Arg::a_literal;
          a.literal = t.text == "true";
        } else if (t.text == "nil") {
          a.kind = Arg::a_literal;
          a.literal = nullptr;
        } else if (t.text == "if" || t.text == "range" || t.text == "with" || t.text == "end" || t.text == "else" ||
                   t.text == "break" || t.text == "continue" || t.text == "template" || t.text == "define" ||
                   t.text == "block") {
          fail("unexpected keyword " + t.text + " in operand");
        } else {
          a.kind = Arg::a_ident;
          a.name = t.text;
        }
        break;
      case T::lparen: {
        if (++nesting_ > 200) fail("too deeply nested");
        a.kind = Arg::a_sub;
        a.pipe = std::make_shared<Pipe>();
        parse_cmds(toks, i, end, *a.pipe, "parenthesized pipeline");
        if (i >= end || toks[i].kind != T::rparen) fail("unclosed left paren");
        ++i;
        --nesting_;
        break;
      }
      default: fail("unexpected " + describe(t) + " in operand");
    }
    // A field chain right after it: .A.B, $x.A, (…).A
    while (i < end && toks[i].kind == T::field && toks[i].joined) {
      if (a.kind == Arg::a_literal || a.kind == Arg::a_ident) fail("unexpected ." + toks[i].text + " after " + describe(t));
      a.fields.push_back(toks[i++].text);
    }
    return a;
  }

  static Arg number(const std::string& text) {
    Arg a;
    a.kind = Arg::a_literal;
    char* e = nullptr;
    errno = 0;
    long long v = std::strtoll(text.c_str(), &e, 0);
    if (*e == '\0' && errno == 0) {
      a.literal = v;
      return a;
    }
    double d = std::strtod(text.c_str(), &e);
    if (*e != '\0' || !std::isfinite(d)) fail("bad number syntax: " + text);
    a.literal = d;
    return a;
  }

  static std::string describe(const Tok& t) {
    switch (t.kind) {
      case T::rparen: return "\")\"";
      case T::comma: return "\",\"";
      case T::declare: return "\":=\"";
      case T::assign: return "\"=\"";
      case T::pipe: return "\"|\"";
      default: return "\"" + t.text + "\"";
    }
  }

  std::vector<Item> items_;
  size_t pos_ = 0;
  int nesting_ = 0;
  std::vector<Tok> else_rest_;
};

// ---- Values ---------------------------------------------------------------------------------

struct Val {
  json v;
  bool missing = false;  // Go's invalid value: a map key that is not there
};

std::string go_float(double d) {
  if (std::isnan(d)) return "NaN";
  if (std::isinf(d)) return d > 0 ? "+Inf" : "-Inf";
  if (d == 0) return std::signbit(d) ? "-0" : "0";
  // The shortest digits that read back as d, then Go's %v layout (strconv's 'g' with the
  // shortest precision): an exponent below -4 or from 6 on is written as one (1e+06).
  char buf[64];
  for (int prec = 1; prec <= 17; ++prec) {
    std::snprintf(buf, sizeof buf, "%.*e", prec - 1, d);
    if (std::strtod(buf, nullptr) == d) break;
  }
  std::string s = buf;
  const size_t epos = s.find('e');
  std::string mant = s.substr(0, epos);
  int exp = std::atoi(s.c_str() + epos + 1);
  const bool neg = mant[0] == '-';
  if (neg) mant.erase(0, 1);
  std::string digits;
  for (char c : mant)
    if (c != '.') digits += c;
  while (digits.size() > 1 && digits.back() == '0') digits.pop_back();
  std::string out;
  if (exp < -4 || exp >= 6) {
    out = digits.substr(0, 1);
    if (digits.size() > 1) out += "." + digits.substr(1);
    char e[16];
    std::snprintf(e, sizeof e, "e%c%02d", exp < 0 ? '-' : '+', std::abs(exp));
    out += e;
  } else if (exp < 0) {
    out = "0." + std::string(static_cast<size_t>(-exp - 1), '0') + digits;
  } else if (static_cast<size_t>(exp) + 1 >= digits.size()) {
    out = digits + std::string(static_cast<size_t>(exp) + 1 - digits.size(), '0');
  } else {
    out = digits.substr(0, static_cast<size_t>(exp) + 1) + "." + digits.substr(static_cast<size_t>(exp) + 1);
  }
  return neg ? "-" + out : out;
}

std::string print_val(const Val& v) { return v.missing ? "<no value>" : go_string(v.v); }

bool truth(const Val& v) {
  if (v.missing) return false;
  const json& j = v.v;
  switch (j.type()) {
    case json::value_t::null: return false;
    case json::value_t::boolean: return j.get<bool>();
    case json::value_t::string: return !j.get_ref<const std::string&>().empty();
    case json::value_t::number_integer: return j.get<int64_t>() != 0;
    case json::value_t::number_unsigned: return j.get<uint64_t>() != 0;
    case json::value_t::number_float: return j.get<double>() != 0;
    case json::value_t::array:
    case json::value_t::object: return !j.empty();
    default: return true;
  }
}

const char* type_name(const json& j) {
  switch (j.type()) {
    case json::value_t::null: return "nil";
    case json::value_t::boolean: return "bool";
    case json::value_t::string: return "string";
    case json::value_t::number_integer:
    case json::value_t::number_unsigned: return "int";
    case json::value_t::number_float: return "float64";
    case json::value_t::array: return "slice";
    case json::value_t::object: return "map";
    default: return "value";
  }
}

// An object of Docker's capitalised fields stands for a Go struct: a field it lacks is an
// error. Any other object (labels, options, networks by name) is a map: <no value>.
bool struct_like(const json& obj) {
  if (obj.empty()) return false;
  for (auto& [k, _] : obj.items())
    if (k.empty() || !std::isupper(static_cast<unsigned char>(k[0]))) return false;
  return true;
}

Val field_of(const Val& base, const std::string& name) {
  if (base.missing) fail("nil pointer evaluating <no value>." + name);
  const json& j = base.v;
  if (j.is_null()) fail("nil pointer evaluating ." + name);
  if (!j.is_object()) fail("can't evaluate field " + name + " in type " + type_name(j));
  auto it = j.find(name);
  if (it != j.end()) return {*it, false};
  if (!name.empty() && std::isupper(static_cast<unsigned char>(name[0])) && struct_like(j))
    fail("can't evaluate field " + name);
  return {nullptr, true};
}

// A JSON number as an int64 when it is one exactly (an integral float in range too: JSON
// numbers are Go's float64 in a template); false otherwise.
bool exact_int(const json& j, int64_t& out) {
  if (j.is_number_unsigned()) {
    if (j.get<uint64_t>() > static_cast<uint64_t>(INT64_MAX)) return false;
    out = static_cast<int64_t>(j.get<uint64_t>());
    return true;
  }
  if (j.is_number_integer()) {
    out = j.get<int64_t>();
    return true;
  }
  if (!j.is_number_float()) return false;
  const double d = j.get<double>();
  // [-2^63, 2^63): every double in it converts exactly.
  if (!(d >= -9223372036854775808.0 && d < 9223372036854775808.0) || d != std::floor(d)) return false;
  out = static_cast<int64_t>(d);
  return true;
}

int64_t int_arg(const Val& v, const char* fn) {
  int64_t x = 0;
  if (v.missing || !exact_int(v.v, x)) fail(std::string(fn) + ": expected an integer, got " + print_val(v));
  return x;
}

std::string str_arg(const Val& v, const char* fn) {
  if (v.missing || !v.v.is_string()) fail(std::string(fn) + ": expected a string, got " + print_val(v));
  return v.v.get<std::string>();
}

bool equal(const Val& a, const Val& b) {
  if (a.missing || b.missing) return a.missing == b.missing || (a.missing ? b.v.is_null() : a.v.is_null());
  if (a.v.is_number() && b.v.is_number()) {
    if (a.v.is_number_float() || b.v.is_number_float()) return a.v.get<double>() == b.v.get<double>();
    if (a.v.is_number_unsigned() || b.v.is_number_unsigned()) return a.v.get<uint64_t>() == b.v.get<uint64_t>();
    return a.v.get<int64_t>() == b.v.get<int64_t>();
  }
  if (a.v.type() != b.v.type() && !a.v.is_null() && !b.v.is_null())
    fail(std::string("incompatible types for comparison: ") + type_name(a.v) + " and " + type_name(b.v));
  return a.v == b.v;
}

int compare(const Val& a, const Val& b, const char* fn) {
  if (!a.missing && !b.missing && a.v.is_number() && b.v.is_number()) {
    double x = a.v.get<double>(), y = b.v.get<double>();
    return x < y ? -1 : x > y ? 1 : 0;
  }
  if (!a.missing && !b.missing && a.v.is_string() && b.v.is_string()) {
    int c = a.v.get_ref<const std::string&>().compare(b.v.get_ref<const std::string&>());
    return c < 0 ? -1 : c > 0 ? 1 : 0;
  }
  fail(std::string(fn) + ": invalid type for comparison");
}

// Go's strconv.Quote, for printf %q: ASCII kept, the rest escaped as Go does (UTF-8 kept).
std::string go_quote(const std::string& s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      case '\r': out += "\\r"; break;
      default:
        if (c < 0x20 || c == 0x7f) {
          char b[8];
          std::snprintf(b, sizeof b, "\\x%02x", c);
          out += b;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out + "\"";
}

// fmt.Sprintf for the verbs scripts use: %v %s %d %q %t %f %e %g %x %X %c %%, with flags
// (- + 0 space #), width and precision.
std::string go_printf(const std::string& f, const std::vector<Val>& args) {
  std::string out;
  size_t ai = 0;
  for (size_t i = 0; i < f.size(); ++i) {
    if (f[i] != '%') {
      out += f[i];
      continue;
    }
    if (++i >= f.size()) {
      out += "%!(NOVERB)";
      break;
    }
    std::string flags;
    while (i < f.size() && std::string("-+# 0").find(f[i]) != std::string::npos) flags += f[i++];
    std::string width, prec;
    while (i < f.size() && std::isdigit(static_cast<unsigned char>(f[i]))) width += f[i++];
    bool has_prec = false;
    if (i < f.size() && f[i] == '.') {
      has_prec = true;
      ++i;
      while (i < f.size() && std::isdigit(static_cast<unsigned char>(f[i]))) prec += f[i++];
    }
    if (i >= f.size()) {
      out += "%!(NOVERB)";
      break;
    }
    if (width.size() > 4 || prec.size() > 4) fail("printf: width or precision too large");
    const char verb = f[i];
    if (verb == '%') {
      out += '%';
      continue;
    }
    if (ai >= args.size()) {
      out += std::string("%!") + verb + "(MISSING)";
      continue;
    }
    const Val& a = args[ai++];
    std::string spec = "%" + flags + width + (has_prec ? "." + (prec.empty() ? "0" : prec) : "");
    char buf[512];
    std::string s;
    auto pad = [&](std::string body) {
      size_t w = width.empty() ? 0 : std::stoul(width);
      if (body.size() >= w) return body;
      if (flags.find('-') != std::string::npos) return body + std::string(w - body.size(), ' ');
      return std::string(w - body.size(), ' ') + body;
    };
    switch (verb) {
      case 'd':
        if (int64_t x = 0; !a.missing && exact_int(a.v, x)) {
          std::snprintf(buf, sizeof buf, (spec + "lld").c_str(), static_cast<long long>(x));
          s = buf;
        } else {
          s = std::string("%!d(") + (a.missing ? "<nil>" : std::string(type_name(a.v)) + "=" + print_val(a)) + ")";
        }
        break;
      case 'f': case 'F': case 'e': case 'E': case 'g': case 'G':
        if (a.missing || !a.v.is_number()) {
          s = std::string("%!") + verb + "(" + print_val(a) + ")";
        } else {
          std::snprintf(buf, sizeof buf, (spec + verb).c_str(), a.v.get<double>());
          s = buf;
        }
        break;
      case 'x': case 'X':
        if (!a.missing && a.v.is_number_integer()) {
          std::snprintf(buf, sizeof buf, (spec + "ll" + verb).c_str(), static_cast<long long>(a.v.get<int64_t>()));
          s = buf;
        } else {
          std::string text = print_val(a), hex;
          for (unsigned char c : text) {
            std::snprintf(buf, sizeof buf, verb == 'x' ? "%02x" : "%02X", c);
            hex += buf;
          }
          s = pad(hex);
        }
        break;
      case 'c':
        if (!a.missing && a.v.is_number_integer()) s = pad(std::string(1, static_cast<char>(a.v.get<int64_t>())));
        else s = "%!c(" + print_val(a) + ")";
        break;
      case 'q': s = pad(go_quote(a.missing ? "<nil>" : a.v.is_string() ? a.v.get<std::string>() : print_val(a))); break;
      case 't':
        s = pad(!a.missing && a.v.is_boolean() ? (a.v.get<bool>() ? "true" : "false") : "%!t(" + print_val(a) + ")");
        break;
      case 'v': case 's': {
        std::string text = print_val(a);
        if (has_prec && verb == 's') text = text.substr(0, prec.empty() ? 0 : std::stoul(prec));
        s = pad(text);
        break;
      }
      default: s = std::string("%!") + verb + "(" + print_val(a) + ")";
    }
    out += s;
  }
  if (ai < args.size()) {
    out += "%!(EXTRA ";
    for (size_t k = ai; k < args.size(); ++k) out += (k > ai ? ", " : "") + std::string(args[k].missing ? "<nil>" : type_name(args[k].v)) + "=" + print_val(args[k]);
    out += ")";
  }
  return out;
}

// fmt.Sprint: a space between two operands when neither is a string.
std::string go_sprint(const std::vector<Val>& args) {
  std::string out;
  for (size_t i = 0; i < args.size(); ++i) {
    const bool is_str = !args[i].missing && args[i].v.is_string();
    if (i > 0 && !is_str && !(!args[i - 1].missing && args[i - 1].v.is_string())) out += ' ';
    out += print_val(args[i]);
  }
  return out;
}

// ---- Execution ------------------------------------------------------------------------------

enum class Flow { next, break_, continue_ };

class Exec {
 public:
  explicit Exec(const json& root) { vars_.push_back({"$", {root, false}}); }

  std::string out;

  Flow walk(const std::vector<NodeP>& nodes, const Val& dot) {
    for (const auto& n : nodes) {
      Flow f = walk(*n, dot);
      if (f != Flow::next) return f;
    }
    return Flow::next;
  }

  Flow walk(const Node& n, const Val& dot) {
    if (++depth_ > 1000) fail("exceeded maximum template depth");
    // A bound on work and output: a format string must not hang or fill memory.
    if (++steps_ > 10'000'000 || out.size() > (64u << 20)) fail("too much work or output");
    struct Depth {
      int& d;
      ~Depth() { --d; }
    } guard{depth_};
    switch (n.kind) {
      case Node::n_list: return walk(n.body, dot);
      case Node::n_text: out += n.text; return Flow::next;
      case Node::n_break: return Flow::break_;
      case Node::n_continue: return Flow::continue_;
      case Node::n_action: {
        Val v = pipe(*n.pipe, dot);
        if (n.pipe->vars.empty()) out += print_val(v);
        return Flow::next;
      }
      case Node::n_if:
      case Node::n_with: {
        const size_t mark = vars_.size();
        Val v = pipe(*n.pipe, dot);
        Flow f = truth(v) ? walk(n.body, n.kind == Node::n_with ? v : dot) : walk(n.other, dot);
        vars_.resize(mark);
        return f;
      }
      case Node::n_range: return range(n, dot);
    }
    return Flow::next;
  }

 private:
  Flow range(const Node& n, const Val& dot) {
    const size_t mark = vars_.size();
    // The pipeline's value, without declaring (the variables take each element).
    Pipe p = *n.pipe;
    std::vector<std::string> names = p.vars;
    p.vars.clear();
    p.declare = p.assign = false;
    Val v = pipe(p, dot);
    auto one = [&](const json& key, const json& elem) {
      if (++steps_ > 10'000'000) fail("too much work or output");
      vars_.resize(mark);
      if (names.size() == 1) vars_.push_back({names[0], {elem, false}});
      if (names.size() == 2) {
        vars_.push_back({names[0], {key, false}});
        vars_.push_back({names[1], {elem, false}});
      }
      return walk(n.body, {elem, false});
    };
    size_t count = 0;
    if (v.missing || v.v.is_null()) {
      // nothing to iterate
    } else if (v.v.is_array()) {
      for (size_t i = 0; i < v.v.size(); ++i) {
        ++count;
        if (one(i, v.v[i]) == Flow::break_) break;
      }
    } else if (v.v.is_object()) {
      for (auto& [k, e] : v.v.items()) {  // nlohmann keeps keys sorted, as Go sorts map keys
        ++count;
        if (one(k, e) == Flow::break_) break;
      }
    } else if (v.v.is_number_integer()) {
      for (int64_t i = 0; i < v.v.get<int64_t>(); ++i) {
        ++count;
        if (one(i, i) == Flow::break_) break;
      }
    } else {
      fail(std::string("range can't iterate over ") + print_val(v));
    }
    vars_.resize(mark);
    if (count == 0) walk(n.other, dot);
    vars_.resize(mark);
    return Flow::next;
  }

  Val& var(const std::string& name) {
    for (auto it = vars_.rbegin(); it != vars_.rend(); ++it)
      if (it->first == name) return it->second;
    fail("undefined variable: " + name);
  }

  Val pipe(const Pipe& p, const Val& dot) {
    Val v;
    bool have = false;
    for (const auto& c : p.cmds) {
      v = command(c, dot, have ? &v : nullptr);
      have = true;
    }
    if (p.declare)
      for (const auto& name : p.vars) vars_.push_back({name, v});
    if (p.assign)
      for (const auto& name : p.vars) var(name) = v;
    return v;
  }

  Val operand(const Arg& a, const Val& dot) {
    Val v;
    switch (a.kind) {
      case Arg::a_dot: v = dot; break;
      case Arg::a_var: v = var(a.name); break;
      case Arg::a_literal: return {a.literal, false};
      case Arg::a_sub: v = pipe(*a.pipe, dot); break;
      case Arg::a_ident: fail("function " + a.name + " used as a value: call it in a pipeline or in parentheses");
      default: break;
    }
    for (const auto& f : a.fields) v = field_of(v, f);
    return v;
  }

  Val command(const Cmd& c, const Val& dot, const Val* input) {
    const Arg& first = c.args[0];
    if (first.kind != Arg::a_ident) {
      // Docker's one-argument methods on its list rows (ps's `.Label "KEY"`): the row carries
      // the field as {"@lookup": {KEY: value, …}}; a missing key is "".
      if (c.args.size() == 2 && !input && !first.fields.empty()) {
        const Val m = operand(first, dot);
        if (m.v.is_object() && m.v.size() == 1 && (m.v.contains("@lookup") || m.v.contains("@header"))) {
          const Val key = operand(c.args[1], dot);
          if (!key.v.is_string()) fail(first.fields.back() + ": the argument must be a string");
          std::string k = key.v.get<std::string>();
          if (m.v.contains("@header")) {
            // A table's header for it: the key's last dotted part, upper case (Docker's).
            k = k.substr(k.rfind('.') + 1);
            for (auto& ch : k) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
            return {json(k), false};
          }
          const json& table = m.v["@lookup"];
          auto it = table.find(k);
          return {it != table.end() ? *it : json(""), false};
        }
      }
      if (c.args.size() > 1 || input) {
        const std::string what = first.fields.empty() ? "value" : "field " + first.fields.back();
        fail("can't give argument to non-function " + what);
      }
      return operand(first, dot);
    }
    const std::string& fn = first.name;
    // and/or stop at the first operand that decides (a later one may not be evaluable).
    if (fn == "and" || fn == "or") {
      if (c.args.size() + (input ? 1 : 0) < 2) fail(fn + ": wrong number of args: want at least 1");
      Val v;
      for (size_t i = 1; i <= c.args.size(); ++i) {
        if (i == c.args.size()) {
          if (!input) break;
          v = *input;
        } else {
          v = operand(c.args[i], dot);
        }
        if (truth(v) == (fn == "or")) return v;
      }
      return v;
    }
    std::vector<Val> args;
    for (size_t i = 1; i < c.args.size(); ++i) args.push_back(operand(c.args[i], dot));
    if (input) args.push_back(*input);
    return call(fn, args);
  }

  static void want(const std::string& fn, const std::vector<Val>& a, size_t n) {
    if (a.size() != n) fail(fn + ": wrong number of args: want " + std::to_string(n) + " got " + std::to_string(a.size()));
  }

  Val call(const std::string& fn, const std::vector<Val>& a) {
    if (fn == "not") {
      want(fn, a, 1);
      return {!truth(a[0]), false};
    }
    if (fn == "len") {
      want(fn, a, 1);
      if (a[0].missing) fail("len of nil pointer");
      const json& j = a[0].v;
      if (j.is_string()) return {j.get_ref<const std::string&>().size(), false};
      if (j.is_array() || j.is_object()) return {j.size(), false};
      if (j.is_null()) return {0, false};
      fail(std::string("len of type ") + type_name(j));
    }
    if (fn == "index") {
      if (a.empty()) fail("index: wrong number of args");
      Val v = a[0];
      for (size_t i = 1; i < a.size(); ++i) {
        if (v.missing || v.v.is_null()) fail("index of untyped nil");
        if (v.v.is_array() || v.v.is_string()) {
          int64_t k = int_arg(a[i], "index");
          const size_t n = v.v.is_array() ? v.v.size() : v.v.get_ref<const std::string&>().size();
          if (k < 0 || static_cast<size_t>(k) >= n) fail("index out of range: " + std::to_string(k));
          v = v.v.is_array() ? Val{v.v[static_cast<size_t>(k)], false}
                             : Val{static_cast<unsigned char>(v.v.get_ref<const std::string&>()[static_cast<size_t>(k)]), false};
        } else if (v.v.is_object()) {
          const std::string key = str_arg(a[i], "index");
          auto it = v.v.find(key);
          if (it != v.v.end()) {
            v = {*it, false};
          } else {
            // The zero value of the map's element type: "" for a map of strings (labels).
            bool strings = true;
            for (auto& [_, e] : v.v.items()) strings = strings && e.is_string();
            v = strings ? Val{"", false} : Val{nullptr, true};
          }
        } else {
          fail(std::string("can't index item of type ") + type_name(v.v));
        }
      }
      return v;
    }
    if (fn == "slice") {
      if (a.empty() || a.size() > 3) fail("slice: wrong number of args");
      if (a[0].missing || !(a[0].v.is_string() || a[0].v.is_array())) fail("can't slice item of type " + print_val(a[0]));
      const size_t n = a[0].v.is_string() ? a[0].v.get_ref<const std::string&>().size() : a[0].v.size();
      int64_t lo = a.size() > 1 ? int_arg(a[1], "slice") : 0, hi = a.size() > 2 ? int_arg(a[2], "slice") : static_cast<int64_t>(n);
      if (lo < 0 || hi < lo || static_cast<size_t>(hi) > n) fail("slice: index out of range");
      if (a[0].v.is_string()) return {a[0].v.get_ref<const std::string&>().substr(static_cast<size_t>(lo), static_cast<size_t>(hi - lo)), false};
      json out = json::array();
      for (int64_t i = lo; i < hi; ++i) out.push_back(a[0].v[static_cast<size_t>(i)]);
      return {out, false};
    }
    if (fn == "print") return {go_sprint(a), false};
    if (fn == "println") {
      std::string s;
      for (size_t i = 0; i < a.size(); ++i) s += (i ? " " : "") + print_val(a[i]);
      return {s + "\n", false};
    }
    if (fn == "printf") {
      if (a.empty()) fail("printf: wrong number of args");
      return {go_printf(str_arg(a[0], "printf"), std::vector<Val>(a.begin() + 1, a.end())), false};
    }
    if (fn == "eq") {
      if (a.size() < 2) fail("eq: missing argument for comparison");
      for (size_t i = 1; i < a.size(); ++i)
        if (equal(a[0], a[i])) return {true, false};
      return {false, false};
    }
    if (fn == "ne") {
      want(fn, a, 2);
      return {!equal(a[0], a[1]), false};
    }
    if (fn == "lt" || fn == "le" || fn == "gt" || fn == "ge") {
      want(fn, a, 2);
      int c = compare(a[0], a[1], fn.c_str());
      bool r = fn == "lt" ? c < 0 : fn == "le" ? c <= 0 : fn == "gt" ? c > 0 : c >= 0;
      return {r, false};
    }
    // Docker's functions.
    if (fn == "json") {
      want(fn, a, 1);
      if (a[0].missing) return {"null", false};
      const json& v = a[0].v.is_object() && a[0].v.contains(kJsonForm) ? a[0].v[kJsonForm] : a[0].v;
      // A row's methods (`.Label "KEY"`: {"@lookup": …}) are not fields: not in its JSON.
      if (v.is_object() && std::any_of(v.begin(), v.end(), [](const json& m) {
            return m.is_object() && m.size() == 1 && (m.contains("@lookup") || m.contains("@header"));
          })) {
        json fields = json::object();
        for (auto& [k, m] : v.items())
          if (!(m.is_object() && m.size() == 1 && (m.contains("@lookup") || m.contains("@header")))) fields[k] = m;
        return {fields.dump(-1, ' ', false, json::error_handler_t::replace), false};
      }
      return {v.dump(-1, ' ', false, json::error_handler_t::replace), false};
    }
    if (fn == "join") {
      want(fn, a, 2);
      if (a[0].missing || !(a[0].v.is_array() || a[0].v.is_null())) fail("join: expected a list, got " + print_val(a[0]));
      std::string sep = str_arg(a[1], "join"), s;
      if (a[0].v.is_array())
        for (size_t i = 0; i < a[0].v.size(); ++i) s += (i ? sep : "") + go_string(a[0].v[i]);
      return {s, false};
    }
    if (fn == "split") {
      want(fn, a, 2);
      std::string s = str_arg(a[0], "split"), sep = str_arg(a[1], "split");
      json out = json::array();
      if (sep.empty()) {
        for (char c : s) out.push_back(std::string(1, c));
      } else {
        size_t pos = 0;
        for (size_t k; (k = s.find(sep, pos)) != std::string::npos; pos = k + sep.size()) out.push_back(s.substr(pos, k - pos));
        out.push_back(s.substr(pos));
      }
      return {out, false};
    }
    if (fn == "lower" || fn == "upper" || fn == "title") {
      want(fn, a, 1);
      std::string s = str_arg(a[0], fn.c_str());
      bool start = true;
      for (char& c : s) {
        unsigned char u = static_cast<unsigned char>(c);
        if (fn == "lower") c = static_cast<char>(std::tolower(u));
        else if (fn == "upper") c = static_cast<char>(std::toupper(u));
        else if (start && std::isalpha(u)) c = static_cast<char>(std::toupper(u));
        start = !(std::isalnum(u) || u == '_' || u == '\'' || u >= 0x80);
      }
      return {s, false};
    }
    if (fn == "pad") {
      want(fn, a, 3);
      std::string s = str_arg(a[0], "pad");
      int64_t before = int_arg(a[1], "pad"), after = int_arg(a[2], "pad");
      if (before < 0 || after < 0 || before > 4096 || after > 4096) fail("pad: bad width");
      return {std::string(static_cast<size_t>(before), ' ') + s + std::string(static_cast<size_t>(after), ' '), false};
    }
    if (fn == "truncate") {
      want(fn, a, 2);
      std::string s = str_arg(a[0], "truncate");
      int64_t n = int_arg(a[1], "truncate");
      if (n < 0) fail("truncate: negative length");
      return {static_cast<size_t>(n) >= s.size() ? s : s.substr(0, static_cast<size_t>(n)), false};
    }
    if (fn == "html" || fn == "js" || fn == "urlquery" || fn == "call")
      fail("function \"" + fn + "\" is not supported");
    fail("function \"" + fn + "\" not defined");
  }

  std::vector<std::pair<std::string, Val>> vars_;
  int depth_ = 0;
  uint64_t steps_ = 0;
};

// Display width of a UTF-8 string: its characters (continuation bytes do not count).
size_t width_of(const std::string& s) {
  size_t w = 0;
  for (unsigned char c : s)
    if ((c & 0xC0) != 0x80) ++w;
  return w;
}

}  // namespace

std::string go_string(const json& v) {
  switch (v.type()) {
    case json::value_t::null: return "<nil>";
    case json::value_t::boolean: return v.get<bool>() ? "true" : "false";
    case json::value_t::string: return v.get<std::string>();
    case json::value_t::number_integer: return std::to_string(v.get<int64_t>());
    case json::value_t::number_unsigned: return std::to_string(v.get<uint64_t>());
    case json::value_t::number_float: return go_float(v.get<double>());
    case json::value_t::array: {
      std::string s = "[";
      for (size_t i = 0; i < v.size(); ++i) s += (i ? " " : "") + go_string(v[i]);
      return s + "]";
    }
    case json::value_t::object: {
      std::string s = "map[";
      bool first = true;
      for (auto& [k, e] : v.items()) {
        if (k == kJsonForm) continue;
        s += (first ? "" : " ") + k + ":" + go_string(e);
        first = false;
      }
      return s + "]";
    }
    default: return v.dump();
  }
}

Template Template::parse(std::string_view text) {
  Template t;
  t.root_ = Parser(split_items(text)).parse();
  return t;
}

std::string Template::render(const json& data) const {
  Exec e(data);
  e.walk(*root_, {data, false});
  return std::move(e.out);
}

std::string render_list(const std::string& format, const std::string& default_table, const json& headers,
                        const std::vector<json>& rows) {
  std::string f = format.empty() || format == "table" ? "table " + default_table : format;
  std::string out;
  if (f == "json") {
    for (const auto& r : rows) out += r.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
    return out;
  }
  const bool table = f.rfind("table", 0) == 0 && (f.size() == 5 || std::isspace(static_cast<unsigned char>(f[5])));
  // As Docker's CLI: without "table", trimmed of spaces, the two-character \t and \n of a shell
  // argument become a tab and a newline.
  if (table) f.erase(0, 5);
  f.erase(0, f.find_first_not_of(' ') == std::string::npos ? f.size() : f.find_first_not_of(' '));
  while (!f.empty() && f.back() == ' ') f.pop_back();
  for (const auto& [from, to] : {std::pair<const char*, const char*>{"\\t", "\t"}, {"\\n", "\n"}})
    for (size_t p = 0; (p = f.find(from, p)) != std::string::npos; p += 1) f.replace(p, 2, to);
  if (!table) {
    Template t = Template::parse(f);
    for (const auto& r : rows) out += t.render(r) + "\n";
    return out;
  }
  // Docker's tabwriter (min width 10, padding 3): cells ended by a tab form the columns; the
  // last cell of a line is printed as it is.
  Template t = Template::parse(f);
  std::vector<std::string> lines{t.render(headers)};
  for (const auto& r : rows) lines.push_back(t.render(r));
  std::vector<std::vector<std::string>> cells;
  std::vector<size_t> widths;
  for (const auto& l : lines) {
    // A rendered row may hold several lines (a template with \n): each is a line of the table.
    size_t pos = 0;
    while (pos <= l.size()) {
      size_t nl = l.find('\n', pos);
      std::string line = l.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos);
      std::vector<std::string> c;
      size_t p = 0;
      for (size_t tab; (tab = line.find('\t', p)) != std::string::npos; p = tab + 1) c.push_back(line.substr(p, tab - p));
      c.push_back(line.substr(p));
      for (size_t i = 0; i + 1 < c.size(); ++i) {
        if (widths.size() <= i) widths.push_back(10);
        widths[i] = std::max(widths[i], width_of(c[i]) + 3);
      }
      cells.push_back(std::move(c));
      if (nl == std::string::npos) break;
      pos = nl + 1;
    }
  }
  for (const auto& c : cells) {
    std::string line;
    for (size_t i = 0; i < c.size(); ++i) {
      line += c[i];
      if (i + 1 < c.size()) line += std::string(widths[i] - width_of(c[i]), ' ');
    }
    out += line + "\n";
  }
  return out;
}

}  // namespace berth::format
