// The NCCL backend: one process per GPU, device tensors, on the communicator's own stream. Every
// operation is ordered after the work already queued on the caller's current stream (an event the
// NCCL stream waits on), and its Work's wait() orders the caller's current stream after it (another
// event): the host blocks only in broadcast(), barrier(), all_gather() and wait_all(). Tensors used
// by an operation are recorded on the NCCL stream, so the caching allocator does not reuse their
// memory early. Kept thin on purpose: the logic above it (bucketing, ordering) is shared with the
// MPI backend and tested on the CPU (DESIGN.md §8); only these calls need a GPU.
//
// Failure (communicator.h): each operation's done event is kept, with its launch time, until the
// host has seen it complete. poll() drops the finished ones (in order: one stream) and fails when
// NCCL reports an asynchronous error (ncclCommGetAsyncError) or the oldest unfinished one is older
// than the timeout: it aborts the communicator (ncclCommAbort, which ends the NCCL kernels still on
// the GPU, so that streams waiting on them move on) and throws. Work::wait() polls once, without
// blocking; the blocking operations poll until their operation is done. Unlike PyTorch's
// ProcessGroupNCCL there is no watchdog thread: a failure is found on the thread that uses the
// communicator, at its next call, and reported by an exception rather than by killing the process.
// Not handled: a blocking NCCL call that never returns (ncclCommInitRank without its peers; an
// operation's connection setup, which NCCL may do at its first use). That needs a nonblocking
// communicator (ncclConfig_t.blocking = 0) and is a later step.
#include "dist/communicator.h"

#include "core/error.h"
#include "dist/bootstrap.h"

#if MINIDL_WITH_NCCL
#include <cuda_runtime.h>
#include <nccl.h>

#include <chrono>
#include <cstring>
#include <deque>
#include <filesystem>

#include "core/context.h"
#include "core/stream.h"
#include "dist/poll_backoff.h"
#if MINIDL_WITH_MPI
#include <mpi.h>
#endif
#endif

namespace minidl {

#if MINIDL_WITH_NCCL
namespace {

ncclDataType_t nccl_type(DType d) {
  switch (d) {
    case DType::f32:
      return ncclFloat32;
    case DType::f64:
      return ncclFloat64;
    case DType::bf16:
      return ncclBfloat16;
    case DType::f16:
      return ncclFloat16;
    default:
      MINIDL_FAIL("nccl: no reduction for ", dtype_name(d));
  }
}

// An operation on the NCCL stream that the host has not yet seen complete.
struct InFlight {
  std::shared_ptr<Event> done;  // recorded on the NCCL stream after the operation
  const char* op;               // "all_reduce", "broadcast", "barrier", "all_gather"
  int64_t bytes;                // this rank's bytes; < 0 for none (barrier)
  std::chrono::steady_clock::time_point launched;
};

class NcclCommunicator;

// wait(): the communicator's poll (a failed or late operation throws), then the caller's current
// stream waits for `done`. The Work must not outlive its communicator (communicator.h).
class NcclWork : public Work {
 public:
  NcclWork(NcclCommunicator* comm, std::shared_ptr<Event> done, Device device)
      : comm_(comm), done_(std::move(done)), device_(device) {}
  void wait() override;

 private:
  NcclCommunicator* comm_;
  std::shared_ptr<Event> done_;
  Device device_;
};

class NcclCommunicator : public Communicator {
 public:
  NcclCommunicator(const RankInfo& info, Device device, const ncclUniqueId& id)
      : Communicator(info.rank, info.world_size, info.local_rank),
        device_(device),
        stream_(device) {
    activate_device(device_);
    MINIDL_NCCL_CHECK(ncclCommInitRank(&comm_, info.world_size, id, info.rank));
  }
  // ncclCommDestroy waits for the operations still running, which never end when a peer is gone
  // (an exception unwinding past unwaited work): those are aborted instead, their results lost.
  ~NcclCommunicator() override {
    if (!comm_) return;  // aborted already
    bool running = true;
    try {
      running = !in_flight_.empty() && !in_flight_.back().done->query();
    } catch (const std::exception& e) {
      log_warning(std::string("nccl: ") + e.what());
    }
    ncclResult_t r = running ? ncclCommAbort(comm_) : ncclCommDestroy(comm_);
    if (r != ncclSuccess)
      log_warning(std::string(running ? "ncclCommAbort: " : "ncclCommDestroy: ") +
                  ncclGetErrorString(r));
  }
  const char* backend() const override { return "nccl"; }
  Device device() const override { return device_; }

  std::unique_ptr<Work> all_reduce_async(const Tensor& t, ReduceOp op) override {
    check_tensor(t, "all_reduce", true);
    cudaStream_t s = begin(t);
    MINIDL_NCCL_CHECK(ncclAllReduce(t.data_ptr(), t.data_ptr(), static_cast<size_t>(t.numel()),
                                    nccl_type(t.dtype()), op == ReduceOp::sum ? ncclSum : ncclAvg,
                                    comm_, s));
    return std::make_unique<NcclWork>(this, end("all_reduce", t.nbytes()), device_);
  }

  // Blocks the host, unlike all_reduce: a broadcast is rare (at start, after a resume), and the
  // start is where a rank that never came is most likely.
  void broadcast(const Tensor& t, int root) override {
    check_tensor(t, "broadcast", false);
    MINIDL_CHECK(root >= 0 && root < world_size(), "nccl broadcast: root ", root,
                 " is not a rank of a world of ", world_size());
    cudaStream_t s = begin(t);
    MINIDL_NCCL_CHECK(
        ncclBroadcast(t.data_ptr(), t.data_ptr(), t.nbytes(), ncclUint8, root, comm_, s));
    end("broadcast", t.nbytes());
    wait_all();
  }

  void barrier() override {
    Tensor one = Tensor::zeros({1}, DType::f32, device_);
    cudaStream_t s = begin(one);
    MINIDL_NCCL_CHECK(
        ncclAllReduce(one.data_ptr(), one.data_ptr(), 1, ncclFloat32, ncclSum, comm_, s));
    end("barrier", -1);
    wait_all();
  }

  void wait_all() override {
    PollBackoff backoff;
    for (;;) {
      poll();
      if (in_flight_.empty()) return;
      backoff.pause();
    }
  }

  // Forgets the operations the GPU has finished; aborts the communicator and throws when NCCL
  // reports an asynchronous error or the oldest unfinished operation is older than the timeout.
  // Never blocks.
  void poll() {
    check_not_aborted();
    while (!in_flight_.empty() && in_flight_.front().done->query()) in_flight_.pop_front();
    ncclResult_t async = ncclSuccess;
    MINIDL_NCCL_CHECK(ncclCommGetAsyncError(comm_, &async));
    if (async != ncclSuccess && async != ncclInProgress) {
      const char* last = ncclGetLastError(comm_);
      abort_and_throw(detail::str_cat("failed: NCCL reports ", ncclGetErrorString(async), " (",
                                      last ? last : "", ")"));
    }
    if (in_flight_.empty()) return;
    const double age = std::chrono::duration<double>(std::chrono::steady_clock::now() -
                                                     in_flight_.front().launched)
                           .count();
    if (age >= timeout())
      abort_and_throw(detail::str_cat("did not complete within ", timeout(),
                                      " s: another rank has died or hangs (the timeout: "
                                      "minidl_train --dist-timeout, Communicator::set_timeout)"));
  }

 protected:
  // The copies use pageable host memory, and such a copy can block the host until the stream is
  // idle: the gather and everything before it are first seen complete by a poll, so that a hung
  // operation times out instead of blocking a copy forever.
  void all_gather_bytes(const void* mine, size_t bytes, void* out) override {
    wait_all();
    activate_device(device_);
    Tensor send = Tensor::empty({static_cast<int64_t>(bytes)}, DType::u8, device_);
    Tensor recv = Tensor::empty({static_cast<int64_t>(bytes) * world_size()}, DType::u8, device_);
    cudaStream_t s = begin(send);
    recv.record_stream(stream_.get());
    MINIDL_CUDA_CHECK(cudaMemcpyAsync(send.data_ptr(), mine, bytes, cudaMemcpyHostToDevice, s));
    MINIDL_NCCL_CHECK(ncclAllGather(send.data_ptr(), recv.data_ptr(), bytes, ncclUint8, comm_, s));
    end("all_gather", static_cast<int64_t>(bytes));
    wait_all();
    MINIDL_CUDA_CHECK(
        cudaMemcpyAsync(out, recv.data_ptr(), bytes * world_size(), cudaMemcpyDeviceToHost, s));
    MINIDL_CUDA_CHECK(cudaStreamSynchronize(s));
  }

 private:
  // Orders the NCCL stream after the caller's current stream and records `t` on it.
  cudaStream_t begin(const Tensor& t) {
    check_not_aborted();
    activate_device(device_);
    Event ready(device_);
    ready.record(current_stream(device_));
    ready.wait(stream_.get());
    t.record_stream(stream_.get());
    return stream_.get().handle();
  }
  // Records the operation just queued, for poll(); returns its done event.
  std::shared_ptr<Event> end(const char* op, int64_t bytes) {
    auto done = std::make_shared<Event>(device_);
    done->record(stream_.get());
    in_flight_.push_back(InFlight{done, op, bytes, std::chrono::steady_clock::now()});
    return done;
  }

  void check_not_aborted() const {
    MINIDL_CHECK(comm_ != nullptr,
                 "nccl: the communicator was aborted after an earlier failure: ", failure_);
  }

  // Names the oldest unfinished operation, if any, in the message.
  [[noreturn]] void abort_and_throw(const std::string& what) {
    std::string op = "nccl";
    if (!in_flight_.empty()) {
      op += std::string(" ") + in_flight_.front().op;
      if (in_flight_.front().bytes >= 0)
        op += detail::str_cat(" (", in_flight_.front().bytes, " bytes)");
    }
    failure_ = detail::str_cat("rank ", rank(), " of ", world_size(), ": ", op, " ", what,
                               "; the communicator is aborted");
    ncclResult_t r = ncclCommAbort(comm_);
    comm_ = nullptr;
    in_flight_.clear();
    if (r != ncclSuccess) log_warning(std::string("ncclCommAbort: ") + ncclGetErrorString(r));
    MINIDL_FAIL(failure_);
  }

  Device device_;
  OwnedStream stream_;
  ncclComm_t comm_ = nullptr;       // null once aborted
  std::deque<InFlight> in_flight_;  // in launch order, which is completion order (one stream)
  std::string failure_;             // why the communicator was aborted
};

void NcclWork::wait() {
  if (!done_) return;
  comm_->poll();
  done_->wait(current_stream(device_));
  done_.reset();
}

}  // namespace

std::unique_ptr<Communicator> make_nccl_communicator(const NcclBootstrap& boot) {
  RankInfo info = rank_info_from_process();
  // First, before any exchange: a rank without its GPU says so instead of leaving the others
  // waiting for an id or a peer.
  check_device_available(Device::cuda(info.local_rank));
  ncclUniqueId id{};
  static_assert(sizeof(id) == NCCL_UNIQUE_ID_BYTES, "ncclUniqueId is its bytes");
  bool over_mpi = false;
#if MINIDL_WITH_MPI
  int mpi_up = 0;
  MINIDL_MPI_CHECK(MPI_Initialized(&mpi_up));
  if (mpi_up) {
    over_mpi = true;
    MINIDL_MPI_CHECK(MPI_Comm_rank(MPI_COMM_WORLD, &info.rank));
    MINIDL_MPI_CHECK(MPI_Comm_size(MPI_COMM_WORLD, &info.world_size));
    if (info.rank == 0) MINIDL_NCCL_CHECK(ncclGetUniqueId(&id));
    MINIDL_MPI_CHECK(MPI_Bcast(&id, sizeof id, MPI_BYTE, 0, MPI_COMM_WORLD));
  }
#endif
  const std::string name = "minidl_nccl_id." + boot.run_key;
  if (!over_mpi) {
    if (info.world_size > 1) {
      std::vector<uint8_t> mine;
      if (info.rank == 0) {
        MINIDL_NCCL_CHECK(ncclGetUniqueId(&id));
        mine.assign(reinterpret_cast<uint8_t*>(&id), reinterpret_cast<uint8_t*>(&id) + sizeof id);
      }
      std::vector<uint8_t> got =
          exchange_blob_via_file(boot.shared_dir, name, info.rank, mine, sizeof id, boot.timeout_s);
      std::memcpy(&id, got.data(), sizeof id);
    } else {
      MINIDL_NCCL_CHECK(ncclGetUniqueId(&id));
    }
  }
  auto comm = std::make_unique<NcclCommunicator>(info, Device::cuda(info.local_rank), id);
  // ncclCommInitRank returned on every rank only after all of them joined, so all have read the
  // file: rank 0 may remove it (a later run with the same key must not find it).
  if (!over_mpi && info.world_size > 1 && info.rank == 0) {
    std::error_code ec;
    std::filesystem::remove(std::filesystem::path(boot.shared_dir) / name, ec);
  }
  return comm;
}

#else

std::unique_ptr<Communicator> make_nccl_communicator(const NcclBootstrap&) {
  MINIDL_FAIL("the nccl communicator needs CUDA and NCCL: this minidl was built without them");
}

#endif

}  // namespace minidl
