// What every kernel-lab program shares (tools/kernel_lab/*.cpp: one program per kernel, numbered
// versions side by side, in the style of llm.c's dev/cuda). A program holds its versions, runs each
// on the same input, compares its output with version 0 (the library's own op) and times it:
//
//   LabOptions o = parse_lab_options(argc, argv, "maxpool_backward", kVersionNames);
//   double ms = median_ms([&] { run(version, ...); }, o.runs);
//   int64_t bad = differing_elements(dx, dx_reference);   // 0: the same bits
//
// Header only: the CMake glob makes each .cpp here a program, so shared code cannot be a .cpp.
// Times are wall-clock medians (the machine may be shared; a median ignores the odd slow run).
#pragma once

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include "core/parallel.h"
#include "core/tensor.h"

namespace minidl {
namespace lab {

struct LabOptions {
  int version = -1;         // -1: every version
  int threads = 0;          // 0: the library's default (MINIDL_NUM_THREADS, else every core)
  int runs = 15;            // timed calls per version and shape, after one warm-up call
  bool check_only = false;  // small shapes, each version once, exit 1 on any mismatch (ctest)
};

// Exits with a usage line on anything unknown (this is main's code: exiting is allowed here).
inline LabOptions parse_lab_options(int argc, char** argv, const char* program,
                                    const std::vector<const char*>& version_names) {
  LabOptions o;
  auto usage = [&](const std::string& why) {
    std::fprintf(stderr,
                 "%s\nusage: minidl_lab_%s [--version N] [--threads T] [--runs R] [--check-only]\n"
                 "versions:\n",
                 why.c_str(), program);
    for (size_t v = 0; v < version_names.size(); ++v)
      std::fprintf(stderr, "  %zu  %s\n", v, version_names[v]);
    std::exit(2);
  };
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto number = [&]() {
      if (i + 1 >= argc) usage(a + " needs a number");
      char* end = nullptr;
      long v = std::strtol(argv[++i], &end, 10);
      if (*end != '\0' || v < 0 || v > 100000) usage(a + ": not a number in 0..100000");
      return static_cast<int>(v);
    };
    if (a == "--version")
      o.version = number();
    else if (a == "--threads")
      o.threads = number();
    else if (a == "--runs")
      o.runs = std::max(1, number());
    else if (a == "--check-only")
      o.check_only = true;
    else if (a == "--help" || a == "-h")
      usage("");
    else
      usage("unknown argument '" + a + "'");
  }
  if (o.version >= static_cast<int>(version_names.size())) usage("no such version");
  if (o.threads > 0) set_num_threads(o.threads);
  return o;
}

// Median milliseconds of `runs` calls of fn, after one warm-up call (first touch of the output,
// the thread pool's start).
inline double median_ms(const std::function<void()>& fn, int runs) {
  fn();
  std::vector<double> ms;
  for (int r = 0; r < runs; ++r) {
    auto t0 = std::chrono::steady_clock::now();
    fn();
    ms.push_back(
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

// Elements of a and b (same shape, dtype and layout; CPU, dense) whose bytes differ: 0 means the
// same bits (a NaN equals the same NaN; -0 differs from +0).
inline int64_t differing_elements(const Tensor& a, const Tensor& b) {
  const size_t es = dtype_size(a.dtype());
  const auto* pa = static_cast<const unsigned char*>(a.data_ptr());
  const auto* pb = static_cast<const unsigned char*>(b.data_ptr());
  int64_t bad = 0;
  for (int64_t i = 0; i < a.numel(); ++i) bad += std::memcmp(pa + i * es, pb + i * es, es) != 0;
  return bad;
}

// "model name, avx2 avx512f ..." from /proc/cpuinfo: which CPU the figures come from.
inline std::string cpu_summary() {
  std::ifstream f("/proc/cpuinfo");
  std::string line, model = "unknown CPU", isa;
  bool have_flags = false;
  while (std::getline(f, line)) {
    if (line.rfind("model name", 0) == 0 && model == "unknown CPU")
      model = line.substr(line.find(':') + 2);
    if (line.rfind("flags", 0) == 0 && !have_flags) {
      have_flags = true;
      for (const char* flag : {"avx2", "avx512f", "avx512bw", "avx512vl"})
        if ((line + " ").find(std::string(" ") + flag + " ") != std::string::npos)
          isa += (isa.empty() ? "" : " ") + std::string(flag);
    }
  }
  return model + " (" + (isa.empty() ? std::string("no avx2") : isa) + ")";
}

}  // namespace lab
}  // namespace minidl
