// How `minidl_train sweep` places its runs and runs one (verb_sweep.cpp supervises them): a `train`
// process of this same binary in the run's directory, started fresh or resumed from its newest
// checkpoint, its output in the run's output.txt, dying with the sweep; and the signals the sweep
// passes on to its runs. `tune` starts its stages through the same spawn_child and SignalGuard.
#pragma once

#include <sys/types.h>

#include <signal.h>

#include <string>
#include <vector>

#include "tools/train/sweep.h"

namespace minidl::cli {

// Where runs go: slots, each with its GPUs, and the threads every run computes with.
struct Placement {
  std::string kind = "cpu";  // the device every run's config names: cpu, or cuda (see gpus)
  int threads = 1;
  int gpus_per_run = 1;
  // Per slot, the CUDA_VISIBLE_DEVICES its runs get ("": left as it is). A GPU run's config says
  // "cuda", not "cuda:3": device is fixed for a run's life (a resume must match it), while a run
  // interrupted on GPU 3 may well resume on GPU 1.
  std::vector<std::string> slot_gpus = {""};
};

// What the user asked for: --slots, --threads-per-run, --devices, --gpus, --gpus-per-run (0 or "":
// not given).
struct PlacementRequest {
  std::string devices, gpus;
  int slots = 0, threads = 0, gpus_per_run = 0;
};

// The placement a request means on this machine, or (`cluster`: --emit slurm and --only-index,
// where Slurm gives each task its GPUs) on a cluster's nodes. Checks the GPUs it names exist;
// throws UsageError on a request that contradicts itself.
Placement resolve_placement(PlacementRequest request, bool cluster);

// While one lives, SIGINT and SIGTERM are not fatal to the sweep: they are remembered, and
// take_signal() returns (and forgets) the last one, for the supervising loop to pass on.
class SignalGuard {
 public:
  SignalGuard();
  ~SignalGuard();
  SignalGuard(const SignalGuard&) = delete;
  SignalGuard& operator=(const SignalGuard&) = delete;

 private:
  struct sigaction old_int_ = {}, old_term_ = {};
};
int take_signal();  // 0: none since the last call

// A waitpid status as an exit code: the process's own, or 128 + the signal that ended it.
int exit_code_of(int status);

// Starts `train` for `run` in its directory DIR/runs/<id>: resumed from its newest checkpoint,
// else from the start (what an attempt wrote before its first checkpoint is removed: train refuses
// a directory that holds a run). `gpus`: its CUDA_VISIBLE_DEVICES ("": left as it is). Marks the
// record running; `how` says which start it was. Returns the child's pid.
pid_t start_run(const std::string& dir, const SweepRun& run, const Placement& p,
                const std::string& gpus, RunRecord& record, std::string& how);

// Starts `args` (args[0]: the program's path) in its own process group, dying with this process
// (PR_SET_PDEATHSIG), its stdout and stderr appended to `output` ("": this process's), with
// CUDA_VISIBLE_DEVICES = `gpus` ("": left as it is). Returns its pid. sweep and tune run their
// minidl_train children through it.
pid_t spawn_child(std::vector<std::string> args, const std::string& output,
                  const std::string& gpus = "");

// The record of a run whose process ended with `code` after `seconds` (`stopping`: the sweep was
// interrupted, so a non-zero code means interrupted, not failed).
void finish_record(RunRecord& record, int code, double seconds, bool stopping);

}  // namespace minidl::cli
