#include "common/error.hpp"

#include <cstring>

namespace berth {

void throw_errno(std::string_view what) { throw_errno(what, errno); }

void throw_errno(std::string_view what, int err) {
  std::string msg(what);
  msg += ": ";
  msg += std::strerror(err);
  throw Error(msg, err);
}

}  // namespace berth
