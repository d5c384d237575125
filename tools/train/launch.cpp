#include "tools/train/launch.h"

#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <map>
#include <thread>

#include "core/error.h"
#include "tools/train/cli.h"

namespace minidl::cli {

namespace {

std::atomic<int> g_forward_signal{0};

extern "C" void remember_signal(int sig) {
  g_forward_signal = sig;
}

std::vector<char*> c_argv(std::vector<std::string>& args) {
  std::vector<char*> out;
  for (std::string& a : args) out.push_back(a.data());
  out.push_back(nullptr);
  return out;
}

int exit_code_of(int status) {
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

std::string describe(int status) {
  if (WIFSIGNALED(status))
    return std::string("was killed by signal ") + std::to_string(WTERMSIG(status)) + " (" +
           strsignal(WTERMSIG(status)) + ")";
  return "exited with code " + std::to_string(WEXITSTATUS(status));
}

}  // namespace

std::vector<std::string> without_nproc(const std::vector<std::string>& argv) {
  std::vector<std::string> out;
  for (size_t i = 0; i < argv.size(); ++i) {
    if (argv[i] == "--nproc") {
      ++i;  // and its value
      continue;
    }
    if (argv[i].rfind("--nproc=", 0) == 0) continue;
    out.push_back(argv[i]);
  }
  return out;
}

int spawn_ranks(const std::vector<std::string>& argv, int nproc, double grace_s) {
  MINIDL_CHECK(nproc >= 1 && !argv.empty(), "spawn_ranks: ", nproc, " ranks of ", argv.size(),
               " arguments");
  // One id per launch: the NCCL id file's name, so a stale file of an earlier run is never read.
  const std::string run_id =
      std::to_string(::getpid()) + "-" +
      std::to_string(std::chrono::system_clock::now().time_since_epoch().count());
  // SIGINT/SIGTERM are remembered and passed on, not acted on: the ranks checkpoint and exit.
  struct sigaction act = {}, old_int = {}, old_term = {};
  act.sa_handler = remember_signal;
  sigemptyset(&act.sa_mask);
  sigaction(SIGINT, &act, &old_int);
  sigaction(SIGTERM, &act, &old_term);
  std::map<pid_t, int> ranks;  // pid -> rank, while running
  for (int r = 0; r < nproc; ++r) {
    pid_t pid = ::fork();
    MINIDL_CHECK(pid >= 0, "cannot start rank ", r, ": ", std::strerror(errno));
    if (pid == 0) {
      // A rank dies with its launcher, SIGKILL included: ranks left running would hold the GPUs and
      // write into the run directory (a sweep that is killed kills its runs, and so their ranks).
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      ::signal(SIGINT, SIG_DFL);
      ::signal(SIGTERM, SIG_DFL);
      ::setenv("MINIDL_RANK", std::to_string(r).c_str(), 1);
      ::setenv("MINIDL_WORLD_SIZE", std::to_string(nproc).c_str(), 1);
      ::setenv("MINIDL_LOCAL_RANK", std::to_string(r).c_str(), 1);
      ::setenv("MINIDL_RUN_ID", run_id.c_str(), 1);
      std::vector<std::string> args = argv;
      std::vector<char*> cargs = c_argv(args);
      ::execv(cargs[0], cargs.data());
      std::fprintf(stderr, "minidl_train: cannot run %s: %s\n", cargs[0], std::strerror(errno));
      ::_exit(127);
    }
    ranks[pid] = r;
  }
  int result = 0;
  bool stopping = false;  // a rank failed: the others are being stopped
  auto deadline = std::chrono::steady_clock::time_point::max();
  while (!ranks.empty()) {
    if (int sig = g_forward_signal.exchange(0)) {
      for (const auto& [pid, r] : ranks) ::kill(pid, sig);
    }
    int status = 0;
    pid_t pid = ::waitpid(-1, &status, WNOHANG);
    if (pid > 0 && ranks.count(pid)) {
      const int r = ranks[pid];
      ranks.erase(pid);
      const int code = exit_code_of(status);
      if (code != 0 && result == 0) result = code;
      // 130 (an interrupted rank) is how every rank ends after SIGINT: not a failure to act on.
      if (code != 0 && code != kInterrupted && !stopping) {
        std::fprintf(stderr, "minidl_train: rank %d of %d %s; stopping the other ranks\n", r, nproc,
                     describe(status).c_str());
        stopping = true;
        for (const auto& [other, rr] : ranks) ::kill(other, SIGTERM);
        deadline = std::chrono::steady_clock::now() +
                   std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                       std::chrono::duration<double>(grace_s));
      }
      continue;
    }
    if (stopping && std::chrono::steady_clock::now() > deadline) {
      for (const auto& [other, rr] : ranks) ::kill(other, SIGKILL);
      deadline = std::chrono::steady_clock::time_point::max();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  sigaction(SIGINT, &old_int, nullptr);
  sigaction(SIGTERM, &old_term, nullptr);
  return result;
}

void exec_mpirun(const std::vector<std::string>& argv, int nproc) {
  // --bind-to none: Open MPI binds each rank to one core by default when there are few ranks,
  // which would squeeze a rank's compute threads onto that core. --oversubscribe: more ranks than
  // cores is the user's choice. --allow-run-as-root: Open MPI refuses root without it (containers).
  std::vector<std::string> args = {MINIDL_MPIEXEC_PATH, "-np",  std::to_string(nproc),
                                   "--bind-to",         "none", "--oversubscribe"};
  if (::geteuid() == 0) args.push_back("--allow-run-as-root");
  args.insert(args.end(), argv.begin(), argv.end());
  std::fflush(stdout);
  std::vector<char*> cargs = c_argv(args);
  ::execvp(cargs[0], cargs.data());
  throw UsageError(std::string("--nproc on the CPU runs the ranks with mpirun, which cannot be "
                               "started (") +
                   std::strerror(errno) +
                   "); install Open MPI (Debian: openmpi-bin) or run on GPUs");
}

}  // namespace minidl::cli
