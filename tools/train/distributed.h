// The data-parallel side of a training run (DESIGN.md §8, docs/distributed.md): who this process
// is among the ranks, their communicator, this rank's device, and rank-aware messages.
//
//   Ranks ranks = join_ranks(s.dist, s.run);     // world size 1 without a launcher
//   if (ranks.root()) write_the_run_directory();
//   o.comm = ranks.comm.get();                   // null in a one-process run
#pragma once

#include <memory>
#include <string>

#include "dist/bootstrap.h"
#include "dist/communicator.h"
#include "layers/module.h"
#include "tools/train/settings.h"

namespace minidl::cli {

struct Ranks {
  RankInfo who;                        // rank, world size, local rank, launcher
  std::unique_ptr<Communicator> comm;  // null in a one-process run
  Device device;                       // this rank's: cuda:<local rank> for "cuda" in a world > 1
  bool root() const { return who.rank == 0; }
  int world() const { return who.world_size; }
};

// Reads the launcher's environment (bootstrap.h) and, in a world of more than one, builds the
// communicator: `dist` auto is nccl for a CUDA device and mpi for the CPU. The communicator's
// timeout is dist_timeout. The NCCL id travels over MPI when MPI is up, else through a file in
// `out` (which every rank sees: one machine, or a shared file system).
Ranks join_ranks(const DistSettings& dist, const RunSettings& run);

// --sync-bn: every BatchNorm2d of `model` sums its statistics over `comm`'s ranks (a world of one
// without a communicator: the same code path, summing over one rank).
void enable_sync_bn(Module& model, Communicator* comm);

// "rank 1 of 4: " in a world of more than one (for messages of a rank other than 0), else "".
std::string rank_prefix();

}  // namespace minidl::cli
