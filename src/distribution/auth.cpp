#include "distribution/auth.hpp"

#include <algorithm>

#include "common/error.hpp"

namespace berth::distribution {

namespace {

constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

bool is_token_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

struct Scope {
  std::string resource;  // "repository:library/busybox"
  std::vector<std::string> actions;
};

Scope parse_scope(std::string_view s) {
  Scope sc;
  auto last = s.rfind(':');
  if (last == std::string_view::npos || last == 0 || s.find(':') == last) {
    sc.resource = std::string(s);
    return sc;
  }
  sc.resource = std::string(s.substr(0, last));
  std::string_view actions = s.substr(last + 1);
  while (!actions.empty()) {
    auto comma = actions.find(',');
    std::string_view a = actions.substr(0, comma);
    if (!a.empty()) sc.actions.emplace_back(a);
    if (comma == std::string_view::npos) break;
    actions.remove_prefix(comma + 1);
  }
  return sc;
}

}  // namespace

std::string base64_encode(std::string_view data) {
  std::string out;
  out.reserve((data.size() + 2) / 3 * 4);
  size_t i = 0;
  auto byte = [&](size_t k) { return static_cast<unsigned>(static_cast<unsigned char>(data[k])); };
  for (; i + 3 <= data.size(); i += 3) {
    unsigned v = byte(i) << 16 | byte(i + 1) << 8 | byte(i + 2);
    out += kAlphabet[v >> 18 & 63];
    out += kAlphabet[v >> 12 & 63];
    out += kAlphabet[v >> 6 & 63];
    out += kAlphabet[v & 63];
  }
  size_t rest = data.size() - i;
  if (rest) {
    unsigned v = byte(i) << 16 | (rest == 2 ? byte(i + 1) << 8 : 0);
    out += kAlphabet[v >> 18 & 63];
    out += kAlphabet[v >> 12 & 63];
    out += rest == 2 ? kAlphabet[v >> 6 & 63] : '=';
    out += '=';
  }
  return out;
}

std::string base64_decode(std::string_view text) {
  while (!text.empty() && text.back() == '=') text.remove_suffix(1);
  if (text.size() % 4 == 1) throw Error("invalid base64: bad length");
  std::string out;
  out.reserve(text.size() * 3 / 4);
  unsigned acc = 0;
  int bits = 0;
  for (char c : text) {
    const char* p = c ? std::char_traits<char>::find(kAlphabet, 64, c) : nullptr;
    if (!p) throw Error("invalid base64: unexpected character");
    acc = acc << 6 | static_cast<unsigned>(p - kAlphabet);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>(acc >> bits & 0xff);
    }
  }
  return out;
}

std::vector<Challenge> parse_challenges(std::string_view h) {
  std::vector<Challenge> out;
  size_t i = 0;
  auto skip = [&](bool commas) {
    while (i < h.size() && (h[i] == ' ' || h[i] == '\t' || (commas && h[i] == ','))) ++i;
  };
  auto token = [&] {
    size_t start = i;
    while (i < h.size() && is_token_char(h[i])) ++i;
    return std::string(h.substr(start, i - start));
  };
  while (true) {
    skip(true);
    if (i >= h.size()) break;
    std::string word = token();
    if (word.empty()) {  // something unparsable: skip a character
      ++i;
      continue;
    }
    skip(false);
    if (i < h.size() && h[i] == '=' && !out.empty()) {  // a parameter of the current challenge
      ++i;
      skip(false);
      std::string value;
      if (i < h.size() && h[i] == '"') {
        ++i;
        while (i < h.size() && h[i] != '"') {
          if (h[i] == '\\' && i + 1 < h.size()) ++i;
          value += h[i++];
        }
        if (i < h.size()) ++i;  // closing quote
      } else {
        value = token();
        while (i < h.size() && h[i] == '=') value += h[i++];  // token68 padding
      }
      out.back().params[lower(word)] = value;
    } else {
      out.push_back(Challenge{lower(word), {}});
    }
  }
  return out;
}

bool scopes_cover(const std::vector<std::string>& have, const std::vector<std::string>& want) {
  std::vector<Scope> granted;
  for (const auto& s : have) granted.push_back(parse_scope(s));
  for (const auto& w : want) {
    Scope need = parse_scope(w);
    bool ok = false;
    for (const Scope& g : granted) {
      if (g.resource != need.resource) continue;
      bool all = std::find(g.actions.begin(), g.actions.end(), "*") != g.actions.end() ||
                 std::all_of(need.actions.begin(), need.actions.end(), [&](const std::string& a) {
                   return std::find(g.actions.begin(), g.actions.end(), a) != g.actions.end();
                 });
      if (all) {
        ok = true;
        break;
      }
    }
    if (!ok) return false;
  }
  return true;
}

}  // namespace berth::distribution
