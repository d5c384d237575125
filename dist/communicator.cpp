// The interface's shared pieces, the local backend and the factory by name. The MPI and NCCL
// backends live in their own files.
#include "dist/communicator.h"

#include <cmath>
#include <cstring>

#include "core/error.h"

namespace minidl {

const char* reduce_op_name(ReduceOp op) {
  return op == ReduceOp::sum ? "sum" : "average";
}

Communicator::Communicator(int rank, int world_size, int local_rank)
    : rank_(rank), world_size_(world_size), local_rank_(local_rank) {
  MINIDL_CHECK(world_size >= 1 && rank >= 0 && rank < world_size && local_rank >= 0,
               "communicator: rank ", rank, ", local rank ", local_rank, ", world size ",
               world_size);
}

void Communicator::set_timeout(double seconds) {
  MINIDL_CHECK(std::isfinite(seconds) && seconds > 0, backend(),
               " communicator: the timeout must be a finite number of seconds > 0, got ", seconds);
  timeout_s_ = seconds;
}

void Communicator::check_tensor(const Tensor& t, const char* op, bool reduce) const {
  MINIDL_CHECK(t.is_contiguous(), backend(), " ", op, ": the tensor must be contiguous, got ",
               t.str());
  MINIDL_CHECK(t.device() == device(), backend(), " ", op, ": the tensor is on ", t.device().str(),
               ", the communicator on ", device().str());
  if (reduce) {
    DType d = t.dtype();
    MINIDL_CHECK(d == DType::f32 || d == DType::f64 || d == DType::bf16 || d == DType::f16,
                 backend(), " ", op, ": cannot reduce ", dtype_name(d),
                 " (f32, f64, bf16 and f16 only)");
  }
}

template <typename T>
std::vector<T> Communicator::all_gather_values(const std::vector<T>& mine) {
  // The lengths first, so that a mismatch is an error rather than a garbled gather.
  const int64_t n = static_cast<int64_t>(mine.size());
  std::vector<int64_t> lengths(world_size_);
  all_gather_bytes(&n, sizeof n, lengths.data());
  for (int r = 0; r < world_size_; ++r)
    MINIDL_CHECK(lengths[r] == n, "all_gather: rank ", rank_, " has ", n, " values, rank ", r,
                 " has ", lengths[r], " (every rank must give the same number)");
  std::vector<T> out(mine.size() * world_size_);
  if (n > 0) all_gather_bytes(mine.data(), mine.size() * sizeof(T), out.data());
  return out;
}

std::vector<int64_t> Communicator::all_gather(const std::vector<int64_t>& mine) {
  return all_gather_values(mine);
}
std::vector<double> Communicator::all_gather(const std::vector<double>& mine) {
  return all_gather_values(mine);
}

namespace {

class DoneWork : public Work {
 public:
  void wait() override {}
};

// World size 1: a sum or average of one value is that value, a broadcast from rank 0 a no-op.
class LocalCommunicator : public Communicator {
 public:
  explicit LocalCommunicator(Device device) : Communicator(0, 1, 0), device_(device) {}
  const char* backend() const override { return "local"; }
  Device device() const override { return device_; }
  std::unique_ptr<Work> all_reduce_async(const Tensor& t, ReduceOp op) override {
    check_tensor(t, "all_reduce", true);
    return std::make_unique<DoneWork>();
  }
  void broadcast(const Tensor& t, int root) override {
    check_tensor(t, "broadcast", false);
    MINIDL_CHECK(root == 0, "local broadcast: root ", root, " is not a rank of a world of 1");
  }
  void barrier() override {}

 protected:
  void all_gather_bytes(const void* mine, size_t bytes, void* out) override {
    std::memcpy(out, mine, bytes);
  }

 private:
  Device device_;
};

}  // namespace

std::unique_ptr<Communicator> make_local_communicator(Device device) {
  return std::make_unique<LocalCommunicator>(device);
}

std::unique_ptr<Communicator> make_communicator(const std::string& backend,
                                                const NcclBootstrap& boot) {
  if (backend == "local") return make_local_communicator();
  if (backend == "mpi") return make_mpi_communicator();
  if (backend == "nccl") return make_nccl_communicator(boot);
  MINIDL_FAIL("unknown communicator backend '", backend, "' (known: local, mpi, nccl)");
}

}  // namespace minidl
