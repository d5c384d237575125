#include "tools/train/sweep_process.h"

#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <thread>

#include "core/device.h"
#include "core/file_io.h"
#include "core/text.h"
#include "optim/checkpoint.h"
#include "tools/train/cli.h"

namespace minidl::cli {

namespace fs = std::filesystem;

namespace {

std::atomic<int> g_signal{0};

extern "C" void sweep_remember_signal(int sig) {
  g_signal = sig;
}

}  // namespace

// ---- placement ----

namespace {

int hardware_threads() {
  return std::max(1u, std::thread::hardware_concurrency());
}

std::vector<int> gpu_list(const PlacementRequest& o) {
  std::vector<int> gpus;
  if (!o.devices.empty()) {
    for (const std::string& d : split(o.devices, ',')) {
      Device dev = usage_guard([&] { return parse_device(d); });
      if (!dev.is_cuda()) throw UsageError("--devices: '" + d + "' is not a GPU (cuda:N)");
      if (std::find(gpus.begin(), gpus.end(), dev.index) != gpus.end())
        throw UsageError("--devices: '" + d + "' is given twice");
      usage_guard([&] { check_device_available(dev); });
      gpus.push_back(dev.index);
    }
  } else {
    int64_t n = cuda_device_count();
    if (o.gpus != "all" && (!parse_int(o.gpus, n) || n <= 0 || n > 4096))
      throw UsageError("--gpus: expected 'all' or a number of GPUs, got '" + o.gpus + "'");
    // names the device and how many there are (or why there are none)
    usage_guard(
        [&] { check_device_available(Device::cuda(std::max(0, static_cast<int>(n) - 1))); });
    for (int i = 0; i < n; ++i) gpus.push_back(i);
  }
  return gpus;
}

}  // namespace

Placement resolve_placement(PlacementRequest o, bool cluster) {
  Placement p;
  if (!cluster && o.gpus_per_run > 0 && o.devices.empty() && o.gpus.empty()) o.gpus = "all";
  const bool gpu_slots = !o.devices.empty() || !o.gpus.empty();
  if (o.slots > 0 && (gpu_slots || o.gpus_per_run > 0))
    throw UsageError("--slots places CPU runs; with GPUs, the devices are the slots");
  if (!o.devices.empty() && !o.gpus.empty()) throw UsageError("give --devices or --gpus, not both");
  if (cluster && (o.slots > 0 || gpu_slots))
    throw UsageError(
        "--slots, --devices and --gpus place runs on this machine; on a cluster Slurm does "
        "(give --threads-per-run, and --gpus-per-run for GPU runs)");
  p.gpus_per_run = std::max(1, o.gpus_per_run);
  if (gpu_slots || o.gpus_per_run > 0) p.kind = "cuda";
  if (gpu_slots) {
    std::vector<int> gpus = gpu_list(o);
    if (static_cast<int>(gpus.size()) < p.gpus_per_run)
      throw UsageError("--gpus-per-run " + std::to_string(p.gpus_per_run) + " with " +
                       std::to_string(gpus.size()) + " GPUs");
    p.slot_gpus.clear();
    for (size_t s = 0; s + p.gpus_per_run <= gpus.size(); s += p.gpus_per_run) {
      std::string list;
      for (int g = 0; g < p.gpus_per_run; ++g) list += (g ? "," : "") + std::to_string(gpus[s + g]);
      p.slot_gpus.push_back(list);
    }
  } else if (!cluster) {
    p.slot_gpus.assign(std::max(1, o.slots), "");
  }
  const int slots = static_cast<int>(p.slot_gpus.size());
  p.threads = o.threads > 0 ? o.threads : cluster ? 4 : std::max(1, hardware_threads() / slots);
  return p;
}


SignalGuard::SignalGuard() {
  struct sigaction act = {};
  act.sa_handler = sweep_remember_signal;
  sigemptyset(&act.sa_mask);
  sigaction(SIGINT, &act, &old_int_);
  sigaction(SIGTERM, &act, &old_term_);
}

SignalGuard::~SignalGuard() {
  sigaction(SIGINT, &old_int_, nullptr);
  sigaction(SIGTERM, &old_term_, nullptr);
}

int take_signal() {
  return g_signal.exchange(0);
}

int exit_code_of(int status) {
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

pid_t start_run(const std::string& dir, const SweepRun& run, const Placement& p,
                const std::string& gpus, RunRecord& record, std::string& how) {
  const std::string rdir = run_dir(dir, run);
  fs::create_directories(rdir);
  std::vector<std::string> args = {fs::read_symlink("/proc/self/exe").string(), "train"};
  const std::string checkpoint = latest_checkpoint(rdir);
  if (!checkpoint.empty()) {
    args.insert(args.end(), {"--resume", rdir, "--threads", std::to_string(p.threads)});
    how = "resumed from " + fs::path(checkpoint).filename().string();
  } else {
    for (const char* name : {"metrics.csv", "log.txt", "config.json", "checkpoints"})
      fs::remove_all(rdir + "/" + name);
    nlohmann::json config = run.settings;
    config["out"] = rdir;
    config["device"] = p.kind;
    config["threads"] = p.threads;
    write_file_atomic(rdir + "/sweep_config.json", config.dump(2) + "\n");
    args.insert(args.end(), {"--config", rdir + "/sweep_config.json"});
    how = record.attempts > 0 ? "started again (no checkpoint)" : "started";
  }
  if (p.gpus_per_run > 1) args.insert(args.end(), {"--nproc", std::to_string(p.gpus_per_run)});
  record.status = "running";
  ++record.attempts;
  write_run_record(rdir, record);

  return spawn_child(args, rdir + "/output.txt", gpus);
}

pid_t spawn_child(std::vector<std::string> args, const std::string& output,
                  const std::string& gpus) {
  std::vector<char*> cargs;
  for (std::string& a : args) cargs.push_back(a.data());
  cargs.push_back(nullptr);
  std::fflush(stdout);
  std::fflush(stderr);
  const pid_t parent = ::getpid();
  pid_t pid = ::fork();
  MINIDL_CHECK(pid >= 0, "cannot start ", args[0], " ", args.size() > 1 ? args[1] : "", ": ",
               std::strerror(errno));
  if (pid == 0) {
    // Its own process group: Ctrl-C in a terminal reaches the parent alone, which passes on one
    // SIGINT (train checkpoints at the first and dies at the second). It dies with the parent,
    // SIGKILL included, so no run outlives the sweep or tune that watches it.
    ::setpgid(0, 0);
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(128 + SIGKILL);
    int fd = output.empty() ? -1 : ::open(output.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
      ::dup2(fd, 1);
      ::dup2(fd, 2);
      ::close(fd);
    }
    if (!gpus.empty()) ::setenv("CUDA_VISIBLE_DEVICES", gpus.c_str(), 1);
    ::execv(cargs[0], cargs.data());
    std::fprintf(stderr, "minidl_train: cannot run %s: %s\n", cargs[0], std::strerror(errno));
    ::_exit(127);
  }
  return pid;
}

void finish_record(RunRecord& record, int code, double seconds, bool stopping) {
  record.exit_code = code;
  record.wall_s += seconds;
  record.status = code == 0 ? "done" : stopping ? "interrupted" : "failed";
}

}  // namespace minidl::cli
