#include "core/parallel.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

#include "core/text.h"

namespace minidl {

namespace {

thread_local bool t_in_worker = false;

// Workers wait for a job (a chunk counter over a function), take chunks until none is left, and
// report back. One job at a time; the calling thread takes chunks too.
class Pool {
 public:
  explicit Pool(int threads) { resize(threads); }
  ~Pool() { stop(); }

  int threads() const { return static_cast<int>(workers_.size()) + 1; }

  void resize(int threads) {
    stop();
    stopping_ = false;
    for (int i = 0; i < threads - 1; ++i) workers_.emplace_back([this] { loop(); });
  }

  void run(int64_t chunks, const std::function<void(int64_t)>& chunk_fn) {
    std::unique_lock<std::mutex> job_lock(job_mutex_);  // one job at a time
    {
      std::lock_guard<std::mutex> lock(mutex_);
      fn_ = &chunk_fn;
      next_ = 0;
      total_ = chunks;
      done_ = 0;
      error_ = nullptr;
      ++generation_;
    }
    cv_.notify_all();
    work();
    std::unique_lock<std::mutex> lock(mutex_);
    done_cv_.wait(lock, [this] { return done_ == total_; });
    fn_ = nullptr;
    if (error_) std::rethrow_exception(error_);
  }

 private:
  void loop() {
    t_in_worker = true;
    uint64_t seen = 0;
    for (;;) {
      {
        std::unique_lock<std::mutex> lock(mutex_);
        cv_.wait(lock, [&] { return stopping_ || generation_ != seen; });
        if (stopping_) return;
        seen = generation_;
      }
      work();
    }
  }

  void work() {
    for (;;) {
      int64_t i;
      const std::function<void(int64_t)>* fn;
      {
        std::lock_guard<std::mutex> lock(mutex_);
        if (!fn_ || next_ >= total_) return;
        i = next_++;
        fn = fn_;
      }
      bool was = t_in_worker;
      t_in_worker = true;
      try {
        (*fn)(i);
      } catch (...) {
        std::lock_guard<std::mutex> lock(mutex_);
        if (!error_) error_ = std::current_exception();
      }
      t_in_worker = was;
      std::lock_guard<std::mutex> lock(mutex_);
      if (++done_ == total_) done_cv_.notify_all();
    }
  }

  void stop() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stopping_ = true;
    }
    cv_.notify_all();
    for (auto& w : workers_) w.join();
    workers_.clear();
  }

  std::vector<std::thread> workers_;
  std::mutex job_mutex_, mutex_;
  std::condition_variable cv_, done_cv_;
  const std::function<void(int64_t)>* fn_ = nullptr;
  int64_t next_ = 0, total_ = 0, done_ = 0;
  uint64_t generation_ = 0;
  bool stopping_ = false;
  std::exception_ptr error_;
};

int default_threads() {
  if (const char* env = std::getenv("MINIDL_NUM_THREADS")) {
    int64_t n = 0;
    if (parse_int(env, n) && n > 0 && n <= 4096) return static_cast<int>(n);
  }
  return std::max(1u, std::thread::hardware_concurrency());
}

Pool& pool() {
  static Pool* p =
      new Pool(default_threads());  // never destroyed: workers may outlive main's statics
  return *p;
}

}  // namespace

int num_threads() {
  return pool().threads();
}
void set_num_threads(int n) {
  pool().resize(std::max(1, n));
}

int64_t parallel_chunks(int64_t n, int64_t grain) {
  if (n <= 0) return 0;
  grain = std::max<int64_t>(grain, 1);
  return (n + grain - 1) / grain;
}

int64_t parallel_chunk_begin(int64_t n, int64_t grain, int64_t i) {
  return std::min(n, i * std::max<int64_t>(grain, 1));
}

void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  int64_t chunks = parallel_chunks(n, grain);
  if (chunks == 1 || t_in_worker || pool().threads() == 1) {
    for (int64_t i = 0; i < chunks; ++i)
      fn(parallel_chunk_begin(n, grain, i), parallel_chunk_begin(n, grain, i + 1));
    return;
  }
  pool().run(chunks, [&](int64_t i) {
    fn(parallel_chunk_begin(n, grain, i), parallel_chunk_begin(n, grain, i + 1));
  });
}

}  // namespace minidl
