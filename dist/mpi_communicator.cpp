// The MPI backend: CPU tensors over a duplicate of MPI_COMM_WORLD (so our collectives never match a
// user's own on MPI_COMM_WORLD) whose error handler returns codes, so a failed call throws.
//
// bf16 and f16 are reduced as f32 (MPI has no 16-bit float type). The alternative, a user-defined
// MPI_Op over 2-byte elements, would round to 16 bits after every partial sum, so the result would
// depend on OpenMPI's choice of reduction tree for the message size. Through f32 the partial sums
// are f32 (exact for two ranks) and the result is rounded once: it matches what a rank computes
// locally from the same inputs. The cost, twice the bytes on the wire and two conversions, does
// not matter on the CPU path, whose gradients are f32 anyway. Averages divide the sum by the world
// size in f32/f64, then round once.
//
// Non-blocking collectives (MPI_Iallreduce) let the reducer keep several buckets in flight; OpenMPI
// progresses them inside MPI calls (no progress thread by default), so on the CPU they overlap
// little with computation: correctness first, overlap is the NCCL backend's job.
//
// Every collective is non-blocking (MPI_Iallreduce, MPI_Ibcast, MPI_Ibarrier, MPI_Iallgather) and
// completed by one function, wait_or_abort, which polls MPI_Test until the communicator's timeout
// and then stops every rank with MPI_Abort (communicator.h, Failure). Blocking calls would wait
// forever for a rank that died or hangs.
#include "dist/communicator.h"

#include "core/error.h"

#if MINIDL_WITH_MPI
#include <mpi.h>

#include <cstdio>
#include <cstdlib>

#include "dist/poll_backoff.h"
#endif

namespace minidl {

#if MINIDL_WITH_MPI
namespace {

void finalize_mpi_at_exit() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized) MPI_Finalize();
}

// Initialises MPI once per process when nobody has; MPI_Finalize then runs at exit.
void ensure_mpi_initialized() {
  int initialized = 0;
  MINIDL_MPI_CHECK(MPI_Initialized(&initialized));
  if (initialized) return;
  int provided = 0;
  MINIDL_MPI_CHECK(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided));
  std::atexit(finalize_mpi_at_exit);
}

MPI_Datatype mpi_type(DType d) {
  return d == DType::f64 ? MPI_DOUBLE : MPI_FLOAT;  // bf16/f16 travel as f32
}

// What a wait completes, to name it if it times out.
struct MpiOp {
  const char* name;  // "all_reduce", "broadcast", "barrier", "all_gather"
  int64_t bytes;     // this rank's bytes; < 0 for none (barrier)
  int rank, world;
  double timeout_s;
};

[[noreturn]] void abort_all_ranks(const MpiOp& op) {
  char size[48] = "";
  if (op.bytes >= 0)
    std::snprintf(size, sizeof size, " (%lld bytes)", static_cast<long long>(op.bytes));
  std::fprintf(
      stderr,
      "minidl: rank %d of %d: mpi %s%s did not complete within %g s: another rank has "
      "died or hangs (the timeout: minidl_train --dist-timeout, Communicator::set_timeout)\n",
      op.rank, op.world, op.name, size, op.timeout_s);
  std::fflush(stderr);
  // The one place the library stops the process (STYLE.md: exit only in main): a throw would reach
  // MPI_Finalize at exit, which waits for the dead or hung rank too. MPI_Abort stops every rank.
  MPI_Abort(MPI_COMM_WORLD, 1);
  std::abort();  // MPI_Abort does not return; in case an MPI does
}

// Completes `request`, polling MPI_Test (with PollBackoff's pauses) until op.timeout_s has passed
// since the call, then stops every rank (abort_all_ranks). Returns MPI_Test's error code,
// MPI_SUCCESS once complete.
int wait_or_abort(MPI_Request* request, const MpiOp& op) {
  PollBackoff backoff;
  for (;;) {
    int done = 0;
    int rc = MPI_Test(request, &done, MPI_STATUS_IGNORE);
    if (rc != MPI_SUCCESS || done) return rc;
    if (backoff.elapsed_s() >= op.timeout_s) abort_all_ranks(op);
    backoff.pause();
  }
}

template <typename T>
void divide(const Tensor& t, int n) {
  T* p = t.data<T>();
  const T d = static_cast<T>(n);
  for (int64_t i = 0, e = t.numel(); i < e; ++i) p[i] /= d;
}

// An MPI_Iallreduce in flight. For bf16/f16, `wire` is the f32 copy that travels; wait() converts
// it back into `t`. The average's division happens in wait() on the wire type.
class MpiWork : public Work {
 public:
  MpiWork(Tensor t, Tensor wire, ReduceOp op, const MpiOp& what)
      : t_(t), wire_(wire), op_(op), what_(what) {}
  // Dropped unwaited (an exception on the way): complete the request anyway, so that MPI never
  // writes into memory freed after this; the data is then undefined, and nothing throws. A peer
  // that never comes stops every rank after the timeout, as in wait().
  ~MpiWork() override {
    if (done_ || request_ == MPI_REQUEST_NULL) return;
    log_warning("an MPI all_reduce was dropped without wait(): completing it");
    int rc = wait_or_abort(&request_, what_);
    if (rc != MPI_SUCCESS) log_warning("MPI_Test: " + detail::mpi_error_string(rc));
  }
  MPI_Request* request() { return &request_; }
  void wait() override {
    if (done_) return;
    MINIDL_MPI_CHECK(wait_or_abort(&request_, what_));
    done_ = true;
    if (op_ == ReduceOp::average && what_.world > 1) {
      if (wire_.dtype() == DType::f64)
        divide<double>(wire_, what_.world);
      else
        divide<float>(wire_, what_.world);
    }
    if (wire_.data_ptr() != t_.data_ptr()) t_.copy_(wire_);
  }

 private:
  Tensor t_, wire_;
  ReduceOp op_;
  MpiOp what_;
  MPI_Request request_ = MPI_REQUEST_NULL;
  bool done_ = false;
};

class MpiCommunicator : public Communicator {
 public:
  MpiCommunicator(MPI_Comm comm, int rank, int world, int local_rank)
      : Communicator(rank, world, local_rank), comm_(comm) {}
  ~MpiCommunicator() override {
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (!finalized) MPI_Comm_free(&comm_);
  }
  const char* backend() const override { return "mpi"; }
  Device device() const override { return Device::cpu(); }

  std::unique_ptr<Work> all_reduce_async(const Tensor& t, ReduceOp op) override {
    check_tensor(t, "all_reduce", true);
    const bool narrow = t.dtype() == DType::bf16 || t.dtype() == DType::f16;
    Tensor wire = narrow ? t.to(DType::f32) : t;
    MINIDL_CHECK(wire.numel() <= INT32_MAX, "mpi all_reduce: ", wire.numel(),
                 " elements exceed MPI's int count");
    auto work = std::make_unique<MpiWork>(t, wire, op, what("all_reduce", t.nbytes()));
    MINIDL_MPI_CHECK(MPI_Iallreduce(MPI_IN_PLACE, wire.data_ptr(), static_cast<int>(wire.numel()),
                                    mpi_type(wire.dtype()), MPI_SUM, comm_, work->request()));
    return work;
  }

  void broadcast(const Tensor& t, int root) override {
    check_tensor(t, "broadcast", false);
    MINIDL_CHECK(root >= 0 && root < world_size(), "mpi broadcast: root ", root,
                 " is not a rank of a world of ", world_size());
    MINIDL_CHECK(t.nbytes() <= INT32_MAX, "mpi broadcast: ", t.nbytes(),
                 " bytes exceed MPI's int count");
    MPI_Request request = MPI_REQUEST_NULL;
    MINIDL_MPI_CHECK(
        MPI_Ibcast(t.data_ptr(), static_cast<int>(t.nbytes()), MPI_BYTE, root, comm_, &request));
    MINIDL_MPI_CHECK(wait_or_abort(&request, what("broadcast", t.nbytes())));
  }

  void barrier() override {
    MPI_Request request = MPI_REQUEST_NULL;
    MINIDL_MPI_CHECK(MPI_Ibarrier(comm_, &request));
    MINIDL_MPI_CHECK(wait_or_abort(&request, what("barrier", -1)));
  }

 protected:
  void all_gather_bytes(const void* mine, size_t bytes, void* out) override {
    MINIDL_CHECK(bytes <= INT32_MAX, "mpi all_gather: ", bytes, " bytes per rank is too many");
    MPI_Request request = MPI_REQUEST_NULL;
    MINIDL_MPI_CHECK(MPI_Iallgather(mine, static_cast<int>(bytes), MPI_BYTE, out,
                                    static_cast<int>(bytes), MPI_BYTE, comm_, &request));
    MINIDL_MPI_CHECK(wait_or_abort(&request, what("all_gather", static_cast<int64_t>(bytes))));
  }

 private:
  MpiOp what(const char* name, int64_t bytes) const {
    return MpiOp{name, bytes, rank(), world_size(), timeout()};
  }

  MPI_Comm comm_;
};

}  // namespace

std::unique_ptr<Communicator> make_mpi_communicator() {
  ensure_mpi_initialized();
  MPI_Comm comm = MPI_COMM_NULL;
  MINIDL_MPI_CHECK(MPI_Comm_dup(MPI_COMM_WORLD, &comm));
  MINIDL_MPI_CHECK(MPI_Comm_set_errhandler(comm, MPI_ERRORS_RETURN));
  int rank = 0, world = 1, local_rank = 0;
  MINIDL_MPI_CHECK(MPI_Comm_rank(comm, &rank));
  MINIDL_MPI_CHECK(MPI_Comm_size(comm, &world));
  // Rank, world size and local rank are MPI's own (the environment's variables are for backends
  // without MPI): the local rank is the rank among the processes that share this machine's memory.
  MPI_Comm node = MPI_COMM_NULL;
  MINIDL_MPI_CHECK(MPI_Comm_split_type(comm, MPI_COMM_TYPE_SHARED, rank, MPI_INFO_NULL, &node));
  MINIDL_MPI_CHECK(MPI_Comm_rank(node, &local_rank));
  MINIDL_MPI_CHECK(MPI_Comm_free(&node));
  return std::make_unique<MpiCommunicator>(comm, rank, world, local_rank);
}

void abort_mpi_ranks(int exit_code) {
  int initialized = 0, finalized = 0, world = 1;
  if (MPI_Initialized(&initialized) != MPI_SUCCESS || !initialized) return;
  if (MPI_Finalized(&finalized) != MPI_SUCCESS || finalized) return;
  if (MPI_Comm_size(MPI_COMM_WORLD, &world) != MPI_SUCCESS || world <= 1) return;
  std::fflush(stdout);
  std::fflush(stderr);
  MPI_Abort(MPI_COMM_WORLD, exit_code);
}

#else

void abort_mpi_ranks(int) {}

std::unique_ptr<Communicator> make_mpi_communicator() {
  MINIDL_FAIL(
      "the mpi communicator needs MPI: this minidl was built without it (MINIDL_MPI=OFF "
      "or MPI not found; Debian: libopenmpi-dev)");
}

#endif

}  // namespace minidl
