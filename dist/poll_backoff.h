// The pause between two polls of an operation that another process or the GPU completes (the MPI
// and NCCL backends' waits with a timeout, communicator.h, Failure):
//
//   PollBackoff backoff;
//   while (!done()) {
//     if (backoff.elapsed_s() >= timeout_s) fail();
//     backoff.pause();
//   }
//
// No pause in the first millisecond: a short operation completes at the poll's own latency, as
// with a blocking wait. Then sleeps of 50 us doubling to 2 ms, so that a wait of seconds for a late
// peer keeps a core about 2% busy instead of 100% (Open MPI's MPI_Wait spins). MPI progresses an
// operation only inside MPI_Test, so a sleep while a message is half sent delays it: the spin must
// cover a whole small or medium collective. With 100 us of spin, 256 KB and 1 MB all-reduces took
// 3 to 6 times as long as with MPI_Wait on a quiet machine; with 1 ms, as long
// (tools/bench/bench_allreduce.cpp; the figures are in docs/distributed.md).
#pragma once

#include <algorithm>
#include <chrono>
#include <thread>

namespace minidl {

class PollBackoff {
 public:
  // Seconds since construction, as a double: no overflow against any finite timeout.
  double elapsed_s() const { return std::chrono::duration<double>(Clock::now() - start_).count(); }
  void pause() {
    if (elapsed_s() < 1e-3) return;
    std::this_thread::sleep_for(sleep_);
    sleep_ = std::min(sleep_ * 2, std::chrono::microseconds(2000));
  }

 private:
  using Clock = std::chrono::steady_clock;
  Clock::time_point start_ = Clock::now();
  std::chrono::microseconds sleep_{50};
};

}  // namespace minidl
