#include "common/error.hpp"

#include <charconv>
#include <cstring>

namespace berth {

namespace {

constexpr std::string_view kNames[] = {
    "internal", "invalid_argument", "not_found", "already_exists", "conflict", "not_running",
    "unavailable", "permission", "command_not_found", "command_not_executable",
};

}  // namespace

std::string_view kind_name(ErrorKind kind) noexcept {
  auto i = static_cast<size_t>(kind);
  return i < std::size(kNames) ? kNames[i] : "internal";
}

void throw_errno(std::string_view what) { throw_errno(what, errno); }

void throw_errno(std::string_view what, int err) {
  std::string msg(what);
  msg += ": ";
  msg += std::strerror(err);
  throw Error(msg, err);
}

std::string encode_error(const std::exception& e) {
  const auto* be = dynamic_cast<const Error*>(&e);
  std::string out(kind_name(be ? be->kind() : ErrorKind::internal));
  out += ' ';
  out += std::to_string(be ? be->code() : 0);
  out += ' ';
  for (const char* p = e.what(); *p; ++p) out += *p == '\n' ? ' ' : *p;  // one line
  return out;
}

Error decode_error(std::string_view text) {
  size_t sp1 = text.find(' ');
  size_t sp2 = sp1 == std::string_view::npos ? sp1 : text.find(' ', sp1 + 1);
  if (sp2 != std::string_view::npos) {
    std::string_view name = text.substr(0, sp1), num = text.substr(sp1 + 1, sp2 - sp1 - 1);
    int err = 0;
    auto [end, ec] = std::from_chars(num.data(), num.data() + num.size(), err);
    if (ec == std::errc() && end == num.data() + num.size() && !num.empty() && err >= 0) {
      for (size_t i = 0; i < std::size(kNames); ++i)
        if (kNames[i] == name) return Error(static_cast<ErrorKind>(i), std::string(text.substr(sp2 + 1)), err);
    }
  }
  return Error(std::string(text));
}

}  // namespace berth
