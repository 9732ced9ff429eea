#include "common/parallel.hpp"

#include <algorithm>
#include <atomic>
#include <exception>
#include <mutex>
#include <system_error>
#include <thread>
#include <vector>

namespace berth {

void parallel_for(size_t count, size_t max_parallel, const std::function<void(size_t)>& task) {
  if (count == 0) return;
  size_t workers = std::clamp<size_t>(max_parallel, 1, count);
  std::atomic<size_t> next{0};
  std::atomic<bool> failed{false};
  std::mutex mu;
  std::exception_ptr first;
  auto work = [&] {
    while (!failed.load()) {
      size_t i = next.fetch_add(1);
      if (i >= count) return;
      try {
        task(i);
      } catch (...) {
        std::lock_guard lock(mu);
        if (!first) first = std::current_exception();
        failed = true;
      }
    }
  };
  std::vector<std::thread> threads;
  threads.reserve(workers - 1);
  try {
    for (size_t i = 1; i < workers; ++i) threads.emplace_back(work);
  } catch (const std::system_error&) {
    // No more threads to be had: go on with those that started.
  }
  work();
  for (auto& t : threads) t.join();
  if (first) std::rethrow_exception(first);
}

}  // namespace berth
