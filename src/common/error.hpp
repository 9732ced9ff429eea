// Errors with context. Every failure that reaches a user reads like
// "mount `/proc` to `/run/x/rootfs/proc`: Operation not permitted".
#pragma once

#include <cerrno>
#include <stdexcept>
#include <string>
#include <string_view>

namespace berth {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& msg, int err = 0) : std::runtime_error(msg), errno_(err) {}
  // errno that caused the failure, 0 if none.
  int code() const noexcept { return errno_; }

 private:
  int errno_;
};

// A command line that cannot be parsed (unknown flag, missing value): the engine CLI exits
// with 125 for these, as Docker's does; berth-runtime treats them as any Error (exit 1, runc).
class UsageError : public Error {
 public:
  using Error::Error;
};

// Throws Error("what: strerror(errno)") with the current errno.
[[noreturn]] void throw_errno(std::string_view what);
// Throws Error("what: strerror(err)").
[[noreturn]] void throw_errno(std::string_view what, int err);

}  // namespace berth
