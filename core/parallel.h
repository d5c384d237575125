// A small persistent thread pool for CPU kernels. The range is cut into chunks that depend only on
// the range and the grain, never on the thread count, so a kernel whose chunks write disjoint
// output (or whose partial results are combined in chunk order) gives the same bits with 1 or N
// threads.
#pragma once

#include <cstdint>
#include <functional>

namespace minidl {

// Threads used by parallel_for (default: MINIDL_NUM_THREADS, else the hardware's count).
int num_threads();
void set_num_threads(int n);

// Calls fn(begin, end) on consecutive chunks of [0, n) of about `grain` elements each, in parallel.
// Runs inline when n <= grain, when there is one thread, or when called from inside a worker.
void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn);

// Number of chunks parallel_for(n, grain, ...) uses, and where chunk i starts; for reductions that
// keep one partial result per chunk.
int64_t parallel_chunks(int64_t n, int64_t grain);
int64_t parallel_chunk_begin(int64_t n, int64_t grain, int64_t i);

}  // namespace minidl
