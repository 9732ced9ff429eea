// Errors with context and a kind. Every failure that reaches a user reads like
// "mount `/proc` to `/run/x/rootfs/proc`: Operation not permitted"; its kind says what sort of
// failure it is, for the programs above: the CLI's exit code (Docker's 125/126/127/1), and the
// daemons' HTTP status and gRPC code. The kind is chosen where the error is thrown — nothing
// above reads the message to guess it.
#pragma once

#include <cerrno>
#include <stdexcept>
#include <string>
#include <string_view>

namespace berth {

enum class ErrorKind : unsigned char {
  internal,                // a failure of berth or the host (the default)
  invalid_argument,        // a bad flag, reference, option or request
  not_found,               // no such container, image, network, volume, …
  already_exists,          // a name or id that is taken
  conflict,                // the object is in use, or in a state that forbids the operation
  not_running,             // the container is not running (or paused where that matters)
  unavailable,             // a registry, plugin or peer could not be reached
  permission,              // refused by policy or by the host
  command_not_found,       // the container's command does not exist (Docker: exit 127)
  command_not_executable,  // it exists but cannot be executed (Docker: exit 126)
};

// "not_found", …: stable names, used on the wire between berth's processes.
std::string_view kind_name(ErrorKind kind) noexcept;

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& msg, int err = 0)
      : std::runtime_error(msg), errno_(err), kind_(ErrorKind::internal) {}
  Error(ErrorKind kind, const std::string& msg, int err = 0)
      : std::runtime_error(msg), errno_(err), kind_(kind) {}
  // errno that caused the failure, 0 if none.
  int code() const noexcept { return errno_; }
  ErrorKind kind() const noexcept { return kind_; }

 private:
  int errno_;
  ErrorKind kind_;
};

// A command line that cannot be parsed (unknown flag, missing value): the engine CLI exits
// with 125 for these, as Docker's does; berth-runtime treats them as any Error (exit 1, runc).
class UsageError : public Error {
 public:
  explicit UsageError(const std::string& msg) : Error(ErrorKind::invalid_argument, msg) {}
};

// Throws Error("what: strerror(errno)") with the current errno.
[[noreturn]] void throw_errno(std::string_view what);
// Throws Error("what: strerror(err)").
[[noreturn]] void throw_errno(std::string_view what, int err);

// An error that crosses a pipe or socket between berth's processes (a container's init to
// the runtime, the shim to the engine) as one line of text: "KIND ERRNO MESSAGE". A text
// that is not in this form (a foreign program's) decodes as an internal error carrying it.
std::string encode_error(const std::exception& e);
Error decode_error(std::string_view text);

}  // namespace berth
