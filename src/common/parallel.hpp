// Bounded parallelism for transfers (layers of a pull or push).
#pragma once

#include <cstddef>
#include <functional>

namespace berth {

// Runs task(0) … task(count - 1) on at most max_parallel threads (the calling thread is one of
// them), in index order of starting. After a task throws no further task starts; once the
// running ones have returned, the first exception is rethrown.
void parallel_for(size_t count, size_t max_parallel, const std::function<void(size_t)>& task);

}  // namespace berth
