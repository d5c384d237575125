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
#include "dist/communicator.h"

#include "core/error.h"

#if MINIDL_WITH_MPI
#include <mpi.h>

#include <cstdio>
#include <cstdlib>
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
  MpiWork(Tensor t, Tensor wire, ReduceOp op, int world)
      : t_(t), wire_(wire), op_(op), world_(world) {}
  // Dropped unwaited (an exception on the way): complete the request anyway, so that MPI never
  // writes into memory freed after this; the data is then undefined, and nothing throws.
  ~MpiWork() override {
    if (done_ || request_ == MPI_REQUEST_NULL) return;
    log_warning("an MPI all_reduce was dropped without wait(): completing it");
    MPI_Wait(&request_, MPI_STATUS_IGNORE);
  }
  MPI_Request* request() { return &request_; }
  void wait() override {
    if (done_) return;
    MINIDL_MPI_CHECK(MPI_Wait(&request_, MPI_STATUS_IGNORE));
    done_ = true;
    if (op_ == ReduceOp::average && world_ > 1) {
      if (wire_.dtype() == DType::f64)
        divide<double>(wire_, world_);
      else
        divide<float>(wire_, world_);
    }
    if (wire_.data_ptr() != t_.data_ptr()) t_.copy_(wire_);
  }

 private:
  Tensor t_, wire_;
  ReduceOp op_;
  int world_;
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
    auto work = std::make_unique<MpiWork>(t, wire, op, world_size());
    MINIDL_CHECK(wire.numel() <= INT32_MAX, "mpi all_reduce: ", wire.numel(),
                 " elements exceed MPI's int count");
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
    MINIDL_MPI_CHECK(MPI_Bcast(t.data_ptr(), static_cast<int>(t.nbytes()), MPI_BYTE, root, comm_));
  }

  void barrier() override { MINIDL_MPI_CHECK(MPI_Barrier(comm_)); }

 protected:
  void all_gather_bytes(const void* mine, size_t bytes, void* out) override {
    MINIDL_CHECK(bytes <= INT32_MAX, "mpi all_gather: ", bytes, " bytes per rank is too many");
    MINIDL_MPI_CHECK(MPI_Allgather(mine, static_cast<int>(bytes), MPI_BYTE, out,
                                   static_cast<int>(bytes), MPI_BYTE, comm_));
  }

 private:
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
