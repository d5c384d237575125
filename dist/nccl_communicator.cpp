// The NCCL backend: one process per GPU, device tensors, on the communicator's own stream. Every
// operation is ordered after the work already queued on the caller's current stream (an event the
// NCCL stream waits on), and its Work's wait() orders the caller's current stream after it (another
// event): the host never blocks except in barrier() and all_gather(). Tensors used by an operation
// are recorded on the NCCL stream, so the caching allocator does not reuse their memory early.
// Kept thin on purpose: the logic above it (bucketing, ordering) is shared with the MPI backend and
// tested on the CPU (DESIGN.md §8); only these calls need a GPU.
#include "dist/communicator.h"

#include "core/error.h"
#include "dist/bootstrap.h"

#if MINIDL_WITH_NCCL
#include <cuda_runtime.h>
#include <nccl.h>

#include <cstring>
#include <filesystem>

#include "core/context.h"
#include "core/stream.h"
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

// The caller's current stream waits for `done`, recorded on the NCCL stream after the operation.
class NcclWork : public Work {
 public:
  NcclWork(std::unique_ptr<Event> done, Device device) : done_(std::move(done)), device_(device) {}
  void wait() override {
    if (done_) done_->wait(current_stream(device_));
    done_.reset();
  }

 private:
  std::unique_ptr<Event> done_;
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
  ~NcclCommunicator() override {
    if (comm_) {
      ncclResult_t r = ncclCommDestroy(comm_);
      if (r != ncclSuccess) log_warning(std::string("ncclCommDestroy: ") + ncclGetErrorString(r));
    }
  }
  const char* backend() const override { return "nccl"; }
  Device device() const override { return device_; }

  std::unique_ptr<Work> all_reduce_async(const Tensor& t, ReduceOp op) override {
    check_tensor(t, "all_reduce", true);
    cudaStream_t s = begin(t);
    MINIDL_NCCL_CHECK(ncclAllReduce(t.data_ptr(), t.data_ptr(), static_cast<size_t>(t.numel()),
                                    nccl_type(t.dtype()), op == ReduceOp::sum ? ncclSum : ncclAvg,
                                    comm_, s));
    return end();
  }

  void broadcast(const Tensor& t, int root) override {
    check_tensor(t, "broadcast", false);
    MINIDL_CHECK(root >= 0 && root < world_size(), "nccl broadcast: root ", root,
                 " is not a rank of a world of ", world_size());
    cudaStream_t s = begin(t);
    MINIDL_NCCL_CHECK(
        ncclBroadcast(t.data_ptr(), t.data_ptr(), t.nbytes(), ncclUint8, root, comm_, s));
    end()->wait();
  }

  void barrier() override {
    Tensor one = Tensor::zeros({1}, DType::f32, device_);
    all_reduce(one, ReduceOp::sum);
    synchronize(device_);
  }

 protected:
  void all_gather_bytes(const void* mine, size_t bytes, void* out) override {
    activate_device(device_);
    Tensor send = Tensor::empty({static_cast<int64_t>(bytes)}, DType::u8, device_);
    Tensor recv = Tensor::empty({static_cast<int64_t>(bytes) * world_size()}, DType::u8, device_);
    cudaStream_t s = begin(send);
    recv.record_stream(stream_.get());
    MINIDL_CUDA_CHECK(cudaMemcpyAsync(send.data_ptr(), mine, bytes, cudaMemcpyHostToDevice, s));
    MINIDL_NCCL_CHECK(ncclAllGather(send.data_ptr(), recv.data_ptr(), bytes, ncclUint8, comm_, s));
    MINIDL_CUDA_CHECK(
        cudaMemcpyAsync(out, recv.data_ptr(), bytes * world_size(), cudaMemcpyDeviceToHost, s));
    MINIDL_CUDA_CHECK(cudaStreamSynchronize(s));
  }

 private:
  // Orders the NCCL stream after the caller's current stream and records `t` on it.
  cudaStream_t begin(const Tensor& t) {
    activate_device(device_);
    Event ready(device_);
    ready.record(current_stream(device_));
    ready.wait(stream_.get());
    t.record_stream(stream_.get());
    return stream_.get().handle();
  }
  std::unique_ptr<Work> end() {
    auto done = std::make_unique<Event>(device_);
    done->record(stream_.get());
    return std::make_unique<NcclWork>(std::move(done), device_);
  }

  Device device_;
  OwnedStream stream_;
  ncclComm_t comm_ = nullptr;
};

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
