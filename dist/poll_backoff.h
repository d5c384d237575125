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
// with a blocking wait. Then sleeps of 50 us doubling to 1 ms, so that a wait of seconds for a late
// peer keeps a core 3% busy instead of 100% (Open MPI's MPI_Wait spins). MPI progresses an
// operation only inside MPI_Test, so a sleep while a message is half sent delays it: the spin must
// cover a whole small or medium collective (with 100 us of spin, 256 KB to 4 MB all-reduces took 2
// to 3 times as long as with MPI_Wait), and the longest sleep bounds the delay of each step of a
// large one (with 2 ms, 16 MB took 1.5 times as long; with 1 ms, 1.2 times, for 2.8% of a core in
// a long wait instead of 1.7%). Figures: docs/distributed.md, Failure.
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
    sleep_ = std::min(sleep_ * 2, std::chrono::microseconds(1000));
  }

 private:
  using Clock = std::chrono::steady_clock;
  Clock::time_point start_ = Clock::now();
  std::chrono::microseconds sleep_{50};
};

}  // namespace minidl
