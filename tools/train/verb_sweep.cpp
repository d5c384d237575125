// `minidl_train sweep`: a grid of `train` runs placed over CPU slots or GPUs, resumable, with the
// results gathered as mean ± std (DESIGN.md §7, docs/cli.md "sweep"; the grid model is sweep.h).
//
//   minidl_train sweep grid.yaml --out sweeps/lr --slots 2 --threads-per-run 4
//   minidl_train sweep grid.yaml --out sweeps/lr --gpus all             # one run per GPU
//   minidl_train sweep grid.yaml --out sweeps/lr --emit slurm           # DIR/sweep.sbatch only
//   minidl_train sweep gather sweeps/lr                                 # results from the runs
//   minidl_train sweep grid.yaml --out sweeps/c10 --set data_dir=/data/cifar10 --repeats 2
//
// Every run is a process of this same binary running `train` (a new run: `train --config
// DIR/runs/<id>/sweep_config.json`; an interrupted one: `train --resume DIR/runs/<id>`), so a run
// behaves, checkpoints and resumes exactly as one started by hand. The sweep only places, watches
// and records them. Exit codes: 0 every run done, 1 some run failed, 2 bad use, 130 interrupted.
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <deque>
#include <filesystem>
#include <optional>
#include <thread>

#include "core/file_io.h"
#include "core/json_input.h"
#include "core/text.h"
#include "optim/checkpoint.h"
#include "optim/progress.h"
#include "tools/train/cli.h"
#include "tools/train/sweep.h"
#include "tools/train/sweep_process.h"

namespace minidl::cli {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

struct SweepOptions {
  std::vector<std::string> args;  // GRID, or: gather DIR
  std::string out, emit;
  PlacementRequest place;
  int64_t only_index = -1;
  bool retry_failed = false;
  GridOverrides overrides;  // --set, --repeats
};

std::string state_path(const std::string& dir) {
  return dir + "/sweep_state.json";
}

nlohmann::json read_state(const std::string& dir) {
  std::vector<uint8_t> bytes = usage_guard([&] { return read_file(state_path(dir)); });
  return usage_guard(
      [&] { return parse_json_input(std::string(bytes.begin(), bytes.end()), state_path(dir)); });
}

// One sweep at a time in a directory. The lock file's descriptor is inherited by the runs on
// purpose: a sweep killed with SIGKILL releases the lock only once its runs are gone too (they die
// with it, PR_SET_PDEATHSIG), so a restart can never start a run that is still running.
void lock_dir(const std::string& dir) {
  const std::string path = dir + "/.sweep.lock";
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT, 0644);
  MINIDL_CHECK(fd >= 0, "cannot open '", path, "': ", std::strerror(errno));
  for (int tries = 0; ::flock(fd, LOCK_EX | LOCK_NB) != 0; ++tries) {
    if (tries == 100)  // 10 s: the runs of a killed sweep end within milliseconds
      throw UsageError(dir + " is in use by another sweep (or by runs it started)");
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

// Checks that `dir` is new, empty, or the directory of this very grid under the same kind of
// placement (a run's device is fixed for its life). Writes nothing.
void prepare_dir(const std::string& dir, const std::string& grid_name, const Grid& grid,
                 const Placement& p) {
  if (fs::exists(state_path(dir))) {
    nlohmann::json state = read_state(dir);
    std::string diff = grid_difference(grid_from_state(state, state_path(dir)), grid);
    if (!diff.empty())
      throw UsageError(dir + " holds a sweep of another grid than " + grid_name + ": " + diff +
                       "; use another --out");
    const std::string kind = state.value("placement", "");
    if (kind != p.kind)
      throw UsageError(dir + " holds a sweep whose runs are on " + kind +
                       ", this one places them on " + p.kind +
                       " (a run keeps its device from start to end)");
  } else if (fs::exists(dir)) {
    for (const auto& e : fs::directory_iterator(dir)) {
      const std::string name = e.path().filename().string();
      if (name != "runs" && name != ".sweep.lock")
        throw UsageError(dir +
                         " holds files but no sweep_state.json (not a sweep); use another --out");
    }
  }
}

std::vector<RunRecord> read_records(const std::string& dir, const Grid& grid) {
  std::vector<RunRecord> records;
  for (const SweepRun& r : grid.runs) records.push_back(read_run_record(run_dir(dir, r)));
  return records;
}

void write_state(const std::string& dir, const Grid& grid, const std::vector<RunRecord>& records,
                 const std::string& placement) {
  write_file_atomic(state_path(dir), state_json(grid, records, placement).dump(1) + "\n");
}

std::string slot_text(const Placement& p, size_t slot) {
  std::string gpus = p.slot_gpus[slot];
  if (!gpus.empty()) return "slot " + std::to_string(slot) + ", GPU " + gpus;
  return "slot " + std::to_string(slot) + ", " + p.kind + ", " + std::to_string(p.threads) +
         (p.threads == 1 ? " thread" : " threads");
}

std::string accuracy_text(const std::string& run_dir) {
  double acc = 0;
  RunResult r = read_run_result(run_dir);
  if (!parse_number(r.final_acc, acc)) return "";
  char buf[48];
  std::snprintf(buf, sizeof buf, ", test accuracy %.2f%%", 100 * acc);
  return buf;
}

// ---- the sweep ----

struct Active {
  pid_t pid;
  size_t run;
  Clock::time_point started;
};

int supervise(const std::string& dir, const Grid& grid, const Placement& p, bool retry_failed) {
  std::vector<RunRecord> records = read_records(dir, grid);
  std::deque<size_t> queue;  // a record left "running" is a killed sweep's: resumed like the rest
  for (size_t i = 0; i < grid.runs.size(); ++i)
    if (!records[i].finished() || (retry_failed && records[i].status == "failed"))
      queue.push_back(i);
  const size_t n = grid.runs.size();
  std::printf("minidl_train sweep: %zu runs in %s, %zu finished before, %zu to run on %zu slot%s\n",
              n, dir.c_str(), n - queue.size(), queue.size(), p.slot_gpus.size(),
              p.slot_gpus.size() == 1 ? "" : "s");
  write_state(dir, grid, records, p.kind);
  write_results(dir, grid);

  SignalGuard guard;
  std::vector<std::optional<Active>> slots(p.slot_gpus.size());
  int signals = 0;
  double finished_wall = 0;
  int finished_here = 0;
  const Clock::time_point t0 = Clock::now();
  auto active = [&] {
    return std::count_if(slots.begin(), slots.end(), [](auto& s) { return s.has_value(); });
  };
  while ((!queue.empty() && signals == 0) || active() > 0) {
    if (int sig = take_signal()) {
      // train stops cleanly (checkpoint, exit 130) on SIGINT alone: SIGTERM becomes SIGINT; a
      // second signal kills the runs (they resume from their last checkpoint).
      ++signals;
      std::printf("minidl_train sweep: %s: %s %ld running run%s\n", strsignal(sig),
                  signals == 1 ? "stopping (with a checkpoint)" : "killing",
                  static_cast<long>(active()), active() == 1 ? "" : "s");
      std::fflush(stdout);
      for (auto& s : slots)
        if (s) ::kill(s->pid, signals == 1 ? SIGINT : SIGKILL);
    }
    for (size_t slot = 0; slot < slots.size() && signals == 0 && !queue.empty(); ++slot) {
      if (slots[slot]) continue;
      const size_t i = queue.front();
      queue.pop_front();
      std::string how;
      pid_t pid = start_run(dir, grid.runs[i], p, p.slot_gpus[slot], records[i], how);
      slots[slot] = Active{pid, i, Clock::now()};
      write_state(dir, grid, records, p.kind);
      std::printf("[sweep] %s: %s (%s)\n", grid.runs[i].id.c_str(), how.c_str(),
                  slot_text(p, slot).c_str());
      std::fflush(stdout);
    }
    int status = 0;
    pid_t pid = ::waitpid(-1, &status, WNOHANG);
    if (pid <= 0) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      continue;
    }
    auto slot =
        std::find_if(slots.begin(), slots.end(), [&](auto& s) { return s && s->pid == pid; });
    if (slot == slots.end()) continue;
    const size_t i = (*slot)->run;
    const double seconds = std::chrono::duration<double>(Clock::now() - (*slot)->started).count();
    const int code = exit_code_of(status);
    const std::string rdir = run_dir(dir, grid.runs[i]);
    finish_record(records[i], code, seconds, signals > 0);
    write_run_record(rdir, records[i]);
    write_state(dir, grid, records, p.kind);
    write_results(dir, grid);
    std::printf("[sweep] %s: %s, exit %d in %s (slot %ld)%s%s\n", grid.runs[i].id.c_str(),
                records[i].status.c_str(), code, ProgressBar::format_duration(seconds).c_str(),
                static_cast<long>(slot - slots.begin()), accuracy_text(rdir).c_str(),
                records[i].status == "failed" ? (", see " + rdir + "/output.txt").c_str() : "");
    slot->reset();
    finished_wall += seconds;
    ++finished_here;
    size_t done = 0, failed = 0;
    for (const RunRecord& r : records) done += r.finished(), failed += r.status == "failed";
    // ETA: the runs still to finish at the mean time of the runs this sweep has finished, spread
    // over the slots.
    const double left = static_cast<double>(queue.size() + active());
    const double eta = finished_wall / finished_here * left / static_cast<double>(slots.size());
    std::printf(
        "[sweep] %zu/%zu finished (%zu failed), %ld running; elapsed %s, ETA %s\n", done, n, failed,
        static_cast<long>(active()),
        ProgressBar::format_duration(std::chrono::duration<double>(Clock::now() - t0).count())
            .c_str(),
        signals ? "-" : ProgressBar::format_duration(eta).c_str());
    std::fflush(stdout);
  }

  std::vector<std::string> failed;
  size_t done = 0;
  for (size_t i = 0; i < n; ++i) {
    done += records[i].status == "done";
    if (records[i].status == "failed")
      failed.push_back(grid.runs[i].id + " (exit " + std::to_string(records[i].exit_code) + ")");
  }
  std::printf(
      "minidl_train sweep: %zu of %zu runs done; results in %s/results.csv and summary.md\n", done,
      n, dir.c_str());
  if (signals > 0) {
    std::printf("interrupted: run the same command again to resume\n");
    return kInterrupted;
  }
  if (!failed.empty()) {
    std::fprintf(stderr,
                 "minidl_train: sweep: %zu of %zu runs failed: %s; each run's output is in "
                 "%s/runs/<id>/output.txt (--retry-failed runs them again)\n",
                 failed.size(), n, join(failed).c_str(), dir.c_str());
    return kRuntimeError;
  }
  return kOk;
}

// --only-index I: run I alone, in the foreground (one task of a Slurm array). Leaves the state file
// and the results to `sweep gather`, since the array's other tasks run at the same time.
int run_only(const std::string& dir, const Grid& grid, const Placement& p, int64_t index,
             bool retry_failed) {
  if (index >= static_cast<int64_t>(grid.runs.size()))
    throw UsageError("--only-index " + std::to_string(index) + ": the grid has " +
                     std::to_string(grid.runs.size()) + " runs (0 to " +
                     std::to_string(grid.runs.size() - 1) + ")");
  const SweepRun& run = grid.runs[index];
  const std::string rdir = run_dir(dir, run);
  RunRecord record = read_run_record(rdir);
  if (record.status == "done" || (record.status == "failed" && !retry_failed)) {
    std::printf("[sweep] %s: %s before (exit %d)\n", run.id.c_str(), record.status.c_str(),
                record.exit_code);
    return record.exit_code;
  }
  SignalGuard guard;
  std::string how;
  const Clock::time_point t0 = Clock::now();
  pid_t pid = start_run(dir, run, p, "", record, how);
  std::printf("[sweep] %s: %s (task %lld, %s)\n", run.id.c_str(), how.c_str(),
              static_cast<long long>(index), p.kind.c_str());
  std::fflush(stdout);
  int status = 0, signals = 0;
  while (::waitpid(pid, &status, WNOHANG) == 0) {
    if (take_signal()) ::kill(pid, ++signals == 1 ? SIGINT : SIGKILL);
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  const int code = exit_code_of(status);
  finish_record(record, code, std::chrono::duration<double>(Clock::now() - t0).count(),
                signals > 0);
  write_run_record(rdir, record);
  std::printf("[sweep] %s: %s, exit %d%s\n", run.id.c_str(), record.status.c_str(), code,
              accuracy_text(rdir).c_str());
  return code;
}

// A shell word: 'text', with the quotes inside escaped.
std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// DIR/sweep.sbatch: one array task per run, each `sweep GRID --out DIR --only-index I`. Paths are
// absolute: sbatch runs the script from wherever it was submitted.
void emit_slurm(const std::string& dir, const std::string& grid_path, const Grid& grid,
                const Placement& p, const GridOverrides& overrides) {
  const std::string adir = fs::absolute(dir).lexically_normal().string();
  const std::string agrid = fs::absolute(grid_path).lexically_normal().string();
  const std::string exe = fs::read_symlink("/proc/self/exe").string();
  fs::create_directories(adir + "/slurm");
  std::string s = "#!/bin/bash\n";
  s += "# minidl_train sweep " + agrid + " as a Slurm array job: one task per run (" +
       std::to_string(grid.runs.size()) + " runs).\n";
  s += "# Submit with `sbatch " + adir + "/sweep.sbatch`; afterwards `minidl_train sweep gather " +
       adir + "` writes results.csv and summary.md. A task run again resumes its run.\n";
  s += "#SBATCH --job-name=minidl-sweep\n";
  s += "#SBATCH --array=0-" + std::to_string(grid.runs.size() - 1) + "\n";
  s += "#SBATCH --ntasks=1\n";
  s += "#SBATCH --cpus-per-task=" + std::to_string(p.threads) + "\n";
  if (p.kind == "cuda") s += "#SBATCH --gres=gpu:" + std::to_string(p.gpus_per_run) + "\n";
  s += "#SBATCH --output=" + adir + "/slurm/%A_%a.out\n";
  s += "exec " + shell_quote(exe) + " sweep " + shell_quote(agrid) + " --out " + shell_quote(adir) +
       " --only-index \"$SLURM_ARRAY_TASK_ID\" --threads-per-run " + std::to_string(p.threads);
  if (p.kind == "cuda") s += " --gpus-per-run " + std::to_string(p.gpus_per_run);
  // The same changes to the grid, or the task's grid would differ from the directory's.
  for (const std::string& item : overrides.sets) s += " --set " + shell_quote(item);
  if (overrides.repeats > 0) s += " --repeats " + std::to_string(overrides.repeats);
  s += "\n";
  write_file_atomic(adir + "/sweep.sbatch", s);
}

int gather(const std::string& dir) {
  if (!fs::exists(state_path(dir)))
    throw UsageError(dir + ": no sweep_state.json (not a sweep directory)");
  nlohmann::json state = read_state(dir);
  Grid grid = grid_from_state(state, state_path(dir));
  std::vector<RunRecord> records = read_records(dir, grid);
  write_state(dir, grid, records, state.value("placement", "cpu"));
  write_results(dir, grid);
  size_t done = 0, failed = 0;
  for (const RunRecord& r : records) done += r.status == "done", failed += r.status == "failed";
  std::printf(
      "minidl_train sweep gather: %zu runs, %zu done, %zu failed, %zu not finished; wrote "
      "%s/results.csv and summary.md\n",
      records.size(), done, failed, records.size() - done - failed, dir.c_str());
  return kOk;
}

int run_sweep(const SweepOptions& o) {
  if (o.args.size() == 2 && o.args[0] == "gather") return gather(o.args[1]);
  if (o.args.size() != 1)
    throw UsageError("sweep takes one grid file (sweep GRID --out DIR), or: sweep gather DIR");
  if (o.out.empty()) throw UsageError("sweep: --out DIR is required");
  if (!o.emit.empty() && o.emit != "slurm")
    throw UsageError("--emit: unknown '" + o.emit + "'; known: slurm");
  if (!o.emit.empty() && o.only_index >= 0)
    throw UsageError("give --emit or --only-index, not both");
  const bool cluster = !o.emit.empty() || o.only_index >= 0;
  // ---- everything that can be wrong with the input is checked before anything is written ----
  const std::string& grid_path = o.args[0];
  Grid grid = read_grid(grid_path, o.overrides);
  Placement p = resolve_placement(o.place, cluster);
  const std::string dir = fs::path(o.out).lexically_normal().string();
  if (o.only_index >= 0) {
    if (!fs::exists(state_path(dir)))
      throw UsageError(dir + ": no sweep_state.json; write it first with --emit slurm");
    prepare_dir(dir, grid_path, grid, p);  // checks only: the state file exists
    return run_only(dir, grid, p, o.only_index, o.retry_failed);
  }
  prepare_dir(dir, grid_path, grid, p);
  fs::create_directories(dir + "/runs");
  lock_dir(dir);
  if (!o.emit.empty()) {
    write_state(dir, grid, read_records(dir, grid), p.kind);
    emit_slurm(dir, grid_path, grid, p, o.overrides);
    std::printf(
        "minidl_train sweep: wrote %s/sweep.sbatch, %zu array tasks; submit it with sbatch, "
        "then run `minidl_train sweep gather %s`\n",
        dir.c_str(), grid.runs.size(), dir.c_str());
    return kOk;
  }
  return supervise(dir, grid, p, o.retry_failed);
}

}  // namespace

void add_sweep_verb(CLI::App& app, int& exit_code) {
  CLI::App* verb = app.add_subcommand(
      "sweep", "Run a grid of train runs over CPU slots or GPUs, resumable; results as mean ± std");
  auto o = std::make_shared<SweepOptions>();
  verb->add_option("grid", o->args, "GRID.yaml (base, axes, rows, repeats); or: gather DIR");
  verb->add_option("--out,-o", o->out, "The sweep directory (runs/<id>/, results.csv, summary.md)");
  verb->add_option("--slots", o->place.slots, "CPU runs at once (default 1)")->check(positive_integer());
  verb->add_option("--threads-per-run", o->place.threads,
                   "Compute threads of each run (default: cores / slots)")
      ->check(positive_integer());
  verb->add_option("--devices", o->place.devices, "GPUs to place runs on: cuda:0,cuda:1,...");
  verb->add_option("--gpus", o->place.gpus, "GPUs to place runs on: all, or the first N");
  verb->add_option("--gpus-per-run", o->place.gpus_per_run,
                   "GPUs of each run (data parallel, as train --nproc)")
      ->check(positive_integer());
  verb->add_option("--emit", o->emit, "slurm: write DIR/sweep.sbatch (an array job), run nothing");
  verb->add_option("--only-index", o->only_index, "Run only run I of the grid (a Slurm array task)")
      ->check(CLI::NonNegativeNumber);
  verb->add_flag("--retry-failed", o->retry_failed, "Run the failed runs again (resuming them)");
  verb->add_option("--set", o->overrides.sets,
                   "key=value: a setting for every run, over the grid's base and rows (repeatable; "
                   "e.g. data_dir=/data/cifar-10-batches-bin)");
  verb->add_option("--repeats", o->overrides.repeats,
                   "Repeats of each configuration (the grid's: "
                   "its own)")
      ->check(positive_integer());
  verb->callback([o, &exit_code] { exit_code = run_sweep(*o); });
}

}  // namespace minidl::cli
