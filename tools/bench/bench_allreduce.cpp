// All-reduce benchmark in nccl-tests' conventions: for each message size, the time of one in-place
// sum all-reduce, algorithm bandwidth algbw = bytes / time, and bus bandwidth
// busbw = algbw * 2(n-1)/n (the bytes each rank's link carries in a ring all-reduce, so busbw is
// comparable across world sizes and with the hardware's peak).
//
//   mpirun -np 2 build/cpu/tools/minidl_bench_allreduce --backend mpi
//   mpirun -np 4 build/cuda/tools/minidl_bench_allreduce --backend nccl     # one GPU per rank
//   options: --dtype f32|bf16   --min-bytes N   --max-bytes N   (defaults 4 KB .. 1 GB, x4 steps)
//
// Each size: 2 warm-up calls, then `iters` calls (100 for small messages down to 5 at 1 GB, the
// same on every rank), timed between two barriers; the time is the slowest rank's (all_gather).
// Rank 0 prints the table.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "core/context.h"
#include "core/error.h"
#include "dist/communicator.h"

using namespace minidl;

namespace {

struct Options {
  std::string backend = "mpi";
  DType dtype = DType::f32;
  size_t min_bytes = 4 << 10;
  size_t max_bytes = size_t(1) << 30;
};

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    MINIDL_CHECK(i + 1 < argc, "minidl_bench_allreduce: ", a,
                 " needs a value (flags: --backend, --dtype, --min-bytes, --max-bytes)");
    std::string v = argv[++i];
    if (a == "--backend") {
      o.backend = v;
    } else if (a == "--dtype") {
      MINIDL_CHECK(v == "f32" || v == "bf16", "--dtype: f32 or bf16, not '", v, "'");
      o.dtype = v == "f32" ? DType::f32 : DType::bf16;
    } else if (a == "--min-bytes" || a == "--max-bytes") {
      char* end = nullptr;
      unsigned long long n = std::strtoull(v.c_str(), &end, 10);
      MINIDL_CHECK(!v.empty() && *end == 0 && n > 0, a, ": a positive byte count, not '", v, "'");
      (a == "--min-bytes" ? o.min_bytes : o.max_bytes) = n;
    } else {
      MINIDL_FAIL("minidl_bench_allreduce: unknown flag '", a,
                  "' (known: --backend, --dtype, --min-bytes, --max-bytes)");
    }
  }
  return o;
}

std::string human(size_t bytes) {
  char buf[32];
  if (bytes >= (1u << 30))
    std::snprintf(buf, sizeof buf, "%zu GB", bytes >> 30);
  else if (bytes >= (1u << 20))
    std::snprintf(buf, sizeof buf, "%zu MB", bytes >> 20);
  else
    std::snprintf(buf, sizeof buf, "%zu KB", bytes >> 10);
  return buf;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    Options o = parse(argc, argv);
    std::unique_ptr<Communicator> comm = make_communicator(o.backend);
    const int n = comm->world_size();
    const size_t elem = dtype_size(o.dtype);
    if (comm->rank() == 0) {
      std::printf("minidl all-reduce benchmark: backend %s, %d rank(s), %s, in-place sum\n",
                  comm->backend(), n, dtype_name(o.dtype));
      std::printf("%10s %12s %6s %12s %12s %12s\n", "size", "count", "iters", "time (us)",
                  "algbw GB/s", "busbw GB/s");
    }
    for (size_t bytes = o.min_bytes; bytes <= o.max_bytes; bytes *= 4) {
      const int64_t count = static_cast<int64_t>(bytes / elem);
      Tensor t = Tensor::full({count}, 1.0, o.dtype, comm->device());
      const int iters = static_cast<int>(std::clamp<size_t>((size_t(1) << 28) / bytes, 5, 100));
      for (int i = 0; i < 2; ++i) comm->all_reduce(t, ReduceOp::sum);
      synchronize(comm->device());
      comm->barrier();
      auto start = std::chrono::steady_clock::now();
      for (int i = 0; i < iters; ++i) comm->all_reduce(t, ReduceOp::sum);
      synchronize(comm->device());
      double mine = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      comm->barrier();
      std::vector<double> all = comm->all_gather(std::vector<double>{mine});
      const double sec = *std::max_element(all.begin(), all.end()) / iters;
      const double algbw = static_cast<double>(count * elem) / sec / 1e9;
      const double busbw = algbw * 2.0 * (n - 1) / n;
      if (comm->rank() == 0)
        std::printf("%10s %12lld %6d %12.1f %12.3f %12.3f\n", human(bytes).c_str(),
                    static_cast<long long>(count), iters, sec * 1e6, algbw, busbw);
    }
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "minidl_bench_allreduce: %s\n", e.what());
    return 1;
  }
}
