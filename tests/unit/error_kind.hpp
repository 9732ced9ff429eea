// The kind of the berth::Error that `f` throws (a test failure, and `internal`, when it throws
// none): what the daemons map to HTTP statuses and gRPC codes, and the CLI to exit codes.
#pragma once

#include <gtest/gtest.h>

#include <functional>

#include "common/error.hpp"

namespace berth::test {

inline ErrorKind kind_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.kind();
  }
  ADD_FAILURE() << "no error";
  return ErrorKind::internal;
}

}  // namespace berth::test
