// minidl_train's own launcher: `minidl_train train --nproc N ARGS` runs N ranks of
// `minidl_train train ARGS` on this machine (docs/distributed.md, "Launching").
//
//  - A CUDA run (--device cuda): N processes started here, rank r on cuda:r, told who they are by
//    MINIDL_RANK, MINIDL_WORLD_SIZE, MINIDL_LOCAL_RANK and MINIDL_RUN_ID (bootstrap.h); NCCL's id
//    goes from rank 0 to the others through a file in the run directory. The launcher watches
//    them: SIGINT and SIGTERM are passed on to every rank (each then checkpoints once and exits),
//    and a rank that fails stops the others (SIGTERM, then SIGKILL after a grace period), since
//    they would otherwise wait for it in their next collective. A launcher that dies (even by
//    SIGKILL) takes its ranks with it (PR_SET_PDEATHSIG).
//  - A CPU run: the MPI backend needs its ranks started by MPI, so the launcher becomes
//    `mpirun -np N --bind-to none [--oversubscribe --allow-run-as-root] minidl_train train ARGS`
//    (exec: mpirun's own failure handling then applies).
#pragma once

#include <string>
#include <vector>

namespace minidl::cli {

// The command line without `--nproc N` / `--nproc=N` (what every rank runs).
std::vector<std::string> without_nproc(const std::vector<std::string>& argv);

// Starts `argv` (argv[0]: the program) `nproc` times with the MINIDL_* rank variables, supervises
// them as above and returns the run's exit code: 0 when every rank succeeded, else the first
// failing rank's (128 + signal for a rank killed by one). `grace_s`: how long a rank has to exit
// after SIGTERM before SIGKILL.
int spawn_ranks(const std::vector<std::string>& argv, int nproc, double grace_s = 10);

// Replaces this process with mpirun running `argv` on `nproc` ranks; throws if mpirun cannot be
// started (not installed: names the Debian package).
[[noreturn]] void exec_mpirun(const std::vector<std::string>& argv, int nproc);

}  // namespace minidl::cli
