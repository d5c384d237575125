// Helpers for the reference tests against PyTorch: find the source tree, run a committed Python
// script with /usr/bin/python3 into a temporary folder, skip when PyTorch is absent.
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <string>

namespace minidl::reference {

inline std::string source_dir() {
  const char* env = std::getenv("MINIDL_SOURCE_DIR");
  return env ? env : std::filesystem::current_path().string();
}

inline bool python_has(const std::string& modules) {
  return std::system(("/usr/bin/python3 -c 'import " + modules + "' >/dev/null 2>&1").c_str()) == 0;
}

// A fresh folder under the system temp dir, removed with the object.
struct TempDir {
  std::filesystem::path path;
  explicit TempDir(const std::string& tag) {
    path = std::filesystem::temp_directory_path() /
           ("minidl_" + tag + "_" + std::to_string(::getpid()) + "_" + std::to_string(std::rand()));
    std::filesystem::create_directories(path);
  }
  ~TempDir() { std::filesystem::remove_all(path); }
  std::string file(const std::string& name) const { return (path / name).string(); }
};

// Runs tests/reference/<script> OUTDIR [args]; true on success.
inline bool run_script(const std::string& script, const std::string& outdir,
                       const std::string& args = "") {
  std::string cmd =
      "/usr/bin/python3 " + source_dir() + "/tests/reference/" + script + " " + outdir + " " + args;
  return std::system(cmd.c_str()) == 0;
}

}  // namespace minidl::reference

#define MINIDL_SKIP_WITHOUT_TORCH(modules)                                               \
  do {                                                                                   \
    if (!::minidl::reference::python_has(modules))                                       \
      GTEST_SKIP() << "/usr/bin/python3 lacks " << (modules) << " (run tools/setup.sh)"; \
  } while (0)
