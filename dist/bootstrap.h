// Bootstrap: who this process is among the ranks of a run, read from the launcher's environment,
// and the exchange of a small blob (NCCL's unique id) from rank 0 to the others through a shared
// folder.
//
// Launchers, in the order they are tried (the first whose rank variable is set wins):
//   minidl   MINIDL_RANK, MINIDL_WORLD_SIZE, MINIDL_LOCAL_RANK (minidl's own launcher; also a
//            manual override inside an mpirun or srun job)
//   OpenMPI  OMPI_COMM_WORLD_RANK, OMPI_COMM_WORLD_SIZE, OMPI_COMM_WORLD_LOCAL_RANK (mpirun; wins
//            over Slurm, whose variables an mpirun inside an allocation inherits)
//   Slurm    SLURM_PROCID, SLURM_NTASKS, SLURM_LOCALID (srun; a batch script's own shell also has
//            them, so start the ranks with srun, not in the script itself)
//   none     rank 0 of 1
// A launcher's three variables are all required once its rank variable is set; each must be a
// plain decimal integer (no sign, space or suffix) with rank < world size and local rank < world
// size. Anything else throws naming the variable and its value.
#pragma once

#include <map>
#include <string>
#include <vector>

namespace minidl {

struct RankInfo {
  int rank = 0;
  int world_size = 1;
  int local_rank = 0;
  std::string launcher = "none";  // "minidl", "OpenMPI", "Slurm" or "none"
};

// Pure: from a map of environment variables (tests pass their own).
RankInfo rank_info_from_env(const std::map<std::string, std::string>& env);
// The same, from this process's environment.
RankInfo rank_info_from_process();

// Rank 0 publishes `blob` as <dir>/<name> atomically (temporary file, fsync, rename); every other
// rank polls for the file for up to timeout_s and returns its contents, which must be `size` bytes.
// A missing file after the timeout, or one of another size, throws naming the path. Rank 0 returns
// its own blob. Only [A-Za-z0-9._-] in `name` (it becomes a file name).
std::vector<uint8_t> exchange_blob_via_file(const std::string& dir, const std::string& name,
                                            int rank, const std::vector<uint8_t>& blob, size_t size,
                                            double timeout_s);

}  // namespace minidl
