#include "tools/train/distributed.h"

#include <cctype>
#include <cstdlib>
#include <filesystem>

#include "layers/batchnorm.h"
#include "tools/train/cli.h"

namespace minidl::cli {

namespace {

// A key naming this run for the NCCL id file, so that two jobs sharing a folder never read each
// other's id: the launcher's job id where there is one.
std::string run_key() {
  for (const char* var : {"MINIDL_RUN_ID", "SLURM_JOB_ID", "OMPI_MCA_orte_ess_jobid"})
    if (const char* v = std::getenv(var); v && *v) {
      std::string key;
      for (const char* c = v; *c; ++c)
        key += std::isalnum(static_cast<unsigned char>(*c)) || *c == '.' || *c == '-' ? *c : '_';
      if (var == std::string("SLURM_JOB_ID"))
        if (const char* step = std::getenv("SLURM_STEP_ID")) key += std::string(".") + step;
      return key;
    }
  return "default";
}

}  // namespace

Ranks join_ranks(const DistSettings& dist, const RunSettings& run) {
  Ranks r;
  r.who = usage_guard([] { return rank_info_from_process(); });
  r.device = run.parsed_device();
  if (r.who.world_size == 1) return r;
  if (r.device.is_cuda() && run.device == "cuda") r.device = Device::cuda(r.who.local_rank);
  std::string backend = dist.dist;
  if (backend == "auto") backend = r.device.is_cuda() ? "nccl" : "mpi";
  if (backend == "mpi" && r.device.is_cuda())
    throw UsageError("dist mpi reduces CPU tensors; a CUDA run uses dist nccl (or auto)");
  if (backend == "nccl" && !r.device.is_cuda())
    throw UsageError("dist nccl needs a CUDA device (--device cuda); the CPU uses dist mpi");
  NcclBootstrap boot;
  boot.shared_dir = run.out;
  boot.run_key = run_key();
  boot.timeout_s = dist.dist_timeout;
  if (backend == "nccl") {
    std::error_code ec;
    std::filesystem::create_directories(run.out, ec);  // the id file's folder
  }
  r.comm = make_communicator(backend, boot);
  r.comm->set_timeout(dist.dist_timeout);
  MINIDL_CHECK(r.comm->rank() == r.who.rank && r.comm->world_size() == r.who.world_size, "the ",
               backend, " communicator is rank ", r.comm->rank(), " of ", r.comm->world_size(),
               ", but the launcher (", r.who.launcher, ") says rank ", r.who.rank, " of ",
               r.who.world_size);
  return r;
}

void enable_sync_bn(Module& model, Communicator* comm) {
  CrossRankSum sum;
  if (comm && comm->world_size() > 1)
    sum = [comm](const Tensor& t) { comm->all_reduce(t, ReduceOp::sum); };
  else
    sum = [](const Tensor&) {};  // one rank: the sum over the ranks is its own value
  model.visit([&](Module& m) {
    if (auto* bn = dynamic_cast<BatchNorm2d*>(&m)) bn->set_sync(sum);
  });
}

std::string rank_prefix() {
  try {
    RankInfo who = rank_info_from_process();
    if (who.world_size > 1)
      return "rank " + std::to_string(who.rank) + " of " + std::to_string(who.world_size) + ": ";
  } catch (const std::exception&) {  // a bad launcher variable: the message itself says so
  }
  return "";
}

}  // namespace minidl::cli
