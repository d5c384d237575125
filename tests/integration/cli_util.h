// Running minidl_train from tests: a child process with its exit code and output.
#pragma once

#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include "data/idx.h"

#ifndef MINIDL_TRAIN_BIN
#error "MINIDL_TRAIN_BIN must name the minidl_train executable"
#endif

namespace minidl::cli_test {

// The minidl_train to run, chosen once: $MINIDL_TRAIN_BIN when set (tools/gpu_check.sh names the
// bundle's); else the build tree's (MINIDL_TRAIN_BIN, fixed when compiled) when it exists; else the
// minidl_train beside this test executable (a bundle copied to a machine without the build tree).
inline const std::string& train_bin() {
  static const std::string path = [] {
    const char* env = std::getenv("MINIDL_TRAIN_BIN");
    if (env && *env) return std::string(env);
    if (std::filesystem::exists(MINIDL_TRAIN_BIN)) return std::string(MINIDL_TRAIN_BIN);
    std::error_code ec;
    const std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe", ec);
    return (self.parent_path() / "minidl_train").string();
  }();
  return path;
}

struct Result {
  int code = -1;       // exit code, or 128 + signal
  std::string output;  // stdout and stderr together
};

// Runs `minidl_train ARGS` through the shell and waits for it.
inline Result run(const std::string& args) {
  std::string cmd = "'" + train_bin() + "' " + args + " 2>&1";
  Result r;
  std::FILE* p = ::popen(cmd.c_str(), "r");
  std::array<char, 4096> buf{};
  size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0) r.output.append(buf.data(), n);
  int status = ::pclose(p);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return r;
}

// Starts `minidl_train ARGS` (output to `log`) and returns its pid.
inline pid_t start(const std::string& args, const std::string& log) {
  pid_t pid = ::fork();
  if (pid == 0) {
    std::string cmd = "exec '" + train_bin() + "' " + args + " >" + log + " 2>&1";
    ::execl("/bin/sh", "sh", "-c", cmd.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  return pid;
}

// Waits for a child; returns its exit code or 128 + signal.
inline int wait_for(pid_t pid) {
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

// Polls until `path` exists (or the timeout passes); true if it appeared.
inline bool wait_for_path(const std::string& path, double seconds) {
  auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (std::chrono::steady_clock::now() < end) {
    if (std::filesystem::exists(path)) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

struct TempDir {
  std::filesystem::path path;
  TempDir() {
    path = std::filesystem::temp_directory_path() /
           ("minidl_cli_" + std::to_string(::getpid()) + "_" +
            std::to_string(reinterpret_cast<uintptr_t>(this)));
    std::filesystem::remove_all(path);
    std::filesystem::create_directories(path);
  }
  ~TempDir() { std::filesystem::remove_all(path); }
  std::string operator/(const std::string& name) const { return (path / name).string(); }
};

// Writes a config file in the syntax this build reads and returns its path: DIR/STEM.yaml, or, in a
// build without a YAML reader (MINIDL_PORTABLE: the GPU machine's bundle), the same settings as
// DIR/STEM.json.
inline std::string write_config(const TempDir& dir, const std::string& stem, const std::string& yaml,
                                const std::string& json) {
  const std::string path = dir / (stem + (MINIDL_WITH_YAML ? ".yaml" : ".json"));
  std::ofstream(path) << (MINIDL_WITH_YAML ? yaml : json);
  return path;
}

// The end-to-end tests train on the real Fashion-MNIST that tools/setup.sh installs.
inline bool have_fashion() {
  return std::filesystem::exists(std::string(kFashionMnistDir) + "/train-images-idx3-ubyte.gz");
}

}  // namespace minidl::cli_test

#define SKIP_WITHOUT_FASHION() \
  if (!minidl::cli_test::have_fashion())  \
  GTEST_SKIP() << "Fashion-MNIST is not installed (tools/setup.sh)"
