#include "tools/train/sweep_process.h"

#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "core/file_io.h"
#include "optim/checkpoint.h"

namespace minidl::cli {

namespace fs = std::filesystem;

namespace {

std::atomic<int> g_signal{0};

extern "C" void sweep_remember_signal(int sig) {
  g_signal = sig;
}

}  // namespace

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
