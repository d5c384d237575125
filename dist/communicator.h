// Communicator: the collective operations data-parallel training needs (DESIGN.md §8), behind one
// interface with three backends. One Communicator per process; every rank must call the same
// collectives in the same order with the same sizes (the backends cannot check this: a mismatch
// hangs or garbles, as in MPI and NCCL themselves).
//
//   std::unique_ptr<Communicator> comm = make_communicator("mpi");   // or "local", "nccl"
//   comm->all_reduce(grads, ReduceOp::average);                       // in place, every rank
//   comm->broadcast(params, 0);                                       // rank 0's values everywhere
//   std::vector<int64_t> counts = comm->all_gather(std::vector<int64_t>{correct, seen});
//
// Backends:
//  - local: one process, world size 1; every operation leaves its data as it is (average of one).
//  - mpi (MINIDL_WITH_MPI): CPU tensors, a duplicate of MPI_COMM_WORLD with MPI_ERRORS_RETURN, so
//    a failed call throws through MINIDL_MPI_CHECK instead of aborting. bf16/f16 travel as f32 (MPI
//    has no 16-bit float type): one conversion up, an exact f32 reduction, one rounding down.
//  - nccl (MINIDL_WITH_NCCL): device tensors of one GPU, on the communicator's own stream, ordered
//    after the caller's current stream with events (dist/nccl_communicator.cpp).
//
// Tensors handed to all_reduce/broadcast are contiguous and live on device(); the *_async forms
// return a Work whose wait() completes the operation from the caller's point of view: the data is
// final on the CPU, or the caller's current stream is ordered after it on a GPU. A Work must be
// waited on before the tensor is read or written again, and before the communicator dies.
//
// Failure. A collective completes only when every rank takes part, so a rank that died or hangs
// (a crash, a SIGSTOP, a deadlock) would leave the others waiting forever. Instead, each operation
// has a timeout (set_timeout, default 1800 s) and a rank that waits longer stops with a message
// naming its rank, the operation, its size and the timeout:
//  - mpi: every wait polls MPI_Test until the timeout, counted from the start of the wait (MPI
//    progresses an operation only inside MPI calls, so one launched long before its wait may not
//    have started). On timeout the rank prints one line to stderr and calls MPI_Abort, which stops
//    every rank (mpirun kills the others and exits non-zero). It does not throw: the peer that
//    never came would leave MPI_Finalize, at exit, waiting for it in turn.
//  - nccl: the timeout counts from the launch, since the GPU progresses an operation by itself.
//    Work::wait() stays a stream-ordered wait (blocking the host until each bucket is done would
//    stop it from queuing the next kernels while NCCL runs) and only checks, without blocking, the
//    operations in flight. broadcast, barrier, all_gather and wait_all() block the host and poll
//    until their operations are done or late. On timeout, or when NCCL reports an asynchronous
//    error, the communicator is aborted (ncclCommAbort, which ends the operations still on the
//    GPU) and the call throws minidl::Error; every later call throws too. Training calls
//    wait_all() where it syncs with the GPU anyway (before reading a step's loss): a blocking CUDA
//    call behind a hung operation would never return, and never reach a check. Never yet run on
//    a GPU.
//  - local: nothing to wait for.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/device.h"
#include "core/tensor.h"

namespace minidl {

enum class ReduceOp { sum, average };
const char* reduce_op_name(ReduceOp op);

// An operation in flight. wait() is idempotent. Dropping a Work unwaited leaves the data undefined
// but never memory unsafe: the MPI backend completes the request in the destructor (logging, not
// throwing, on failure); the NCCL backend's stream holds the tensor's memory (record_stream).
class Work {
 public:
  virtual ~Work() = default;
  virtual void wait() = 0;
};

class Communicator {
 public:
  virtual ~Communicator() = default;
  Communicator(const Communicator&) = delete;
  Communicator& operator=(const Communicator&) = delete;

  virtual const char* backend() const = 0;  // "local", "mpi", "nccl"
  int rank() const { return rank_; }
  int world_size() const { return world_size_; }
  int local_rank() const { return local_rank_; }  // rank among the processes of this machine
  virtual Device device() const = 0;              // where all_reduce/broadcast data must live

  // How long one operation may take before this rank concludes that another rank has died or hangs
  // (see Failure above): seconds, finite and > 0, else an error. Default 1800 s, PyTorch's process
  // group default: longer than any collective of a healthy run, including one that waits for a
  // slow rank writing a checkpoint. Applies to operations started after the call.
  void set_timeout(double seconds);
  double timeout() const { return timeout_s_; }

  // Returns once every operation started so far is complete on the host's side, or fails as an
  // operation that timed out does. The NCCL backend blocks here (see Failure above); the MPI and
  // local backends complete each operation in its own wait(), so they have nothing to do.
  virtual void wait_all() {}

  // In place over a contiguous tensor of f32, f64, bf16 or f16 on device(). average = sum / world
  // size, rounded once.
  virtual std::unique_ptr<Work> all_reduce_async(const Tensor& t, ReduceOp op) = 0;
  void all_reduce(const Tensor& t, ReduceOp op) { all_reduce_async(t, op)->wait(); }

  // Rank `root`'s contents of a contiguous tensor of any dtype, copied into every rank's `t` (same
  // shape and dtype on every rank). Returns when the copy is complete as seen by the caller.
  virtual void broadcast(const Tensor& t, int root) = 0;

  // Returns once every rank has entered it.
  virtual void barrier() = 0;

  // Every rank's `mine` (host values; the same length on every rank, checked), concatenated in rank
  // order: world_size() * mine.size() values. For small values: counts, losses, flags.
  std::vector<int64_t> all_gather(const std::vector<int64_t>& mine);
  std::vector<double> all_gather(const std::vector<double>& mine);

 protected:
  Communicator(int rank, int world_size, int local_rank);
  // Gathers `bytes` bytes of host memory from every rank into out[rank * bytes, ...).
  virtual void all_gather_bytes(const void* mine, size_t bytes, void* out) = 0;
  // Throws unless t is contiguous, on device() and (for all_reduce) of a reducible dtype.
  void check_tensor(const Tensor& t, const char* op, bool reduce) const;

 private:
  template <typename T>
  std::vector<T> all_gather_values(const std::vector<T>& mine);

  int rank_ = 0, world_size_ = 1, local_rank_ = 0;
  double timeout_s_ = 1800;
};

// The single-process backend: world size 1 on `device` (any device).
std::unique_ptr<Communicator> make_local_communicator(Device device = Device::cpu());

// The MPI backend over MPI_COMM_WORLD. Initialises MPI if nothing has (MPI_Finalize then runs at
// exit); throws when minidl was built without MPI.
std::unique_ptr<Communicator> make_mpi_communicator();

// How the NCCL backend finds its peers: its rank from the environment (bootstrap.h) and NCCL's
// unique id from rank 0, over MPI when MPI is initialised, else through a file in `shared_dir` (a
// folder every rank sees) named after `run_key` (one per run: a stale file of an earlier run with
// the same key would be read). The file is removed once the communicator exists on every rank.
struct NcclBootstrap {
  std::string shared_dir;
  std::string run_key = "default";
  double timeout_s = 300;  // how long ranks other than 0 wait for the file
};

// The NCCL backend on cuda:<local rank>. Throws when minidl was built without NCCL.
std::unique_ptr<Communicator> make_nccl_communicator(const NcclBootstrap& boot);

// By name: "local", "mpi" or "nccl"; an unknown name lists the known ones.
std::unique_ptr<Communicator> make_communicator(const std::string& backend,
                                                const NcclBootstrap& boot = {});

// After an error on one rank of a multi-rank MPI run: MPI_Abort(MPI_COMM_WORLD, exit_code), which
// stops every rank (mpirun ends the job), since the others would otherwise wait in their next
// collective until the timeout, and this rank's MPI_Finalize at exit would wait for them. Returns,
// doing nothing, when MPI is not running (or was built out) or the world is one process.
void abort_mpi_ranks(int exit_code);

}  // namespace minidl
