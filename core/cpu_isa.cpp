#include "core/cpu_isa.h"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>

#include "core/error.h"
#include "core/text.h"

namespace minidl {

namespace {

constexpr CpuIsa kAllIsas[] = {CpuIsa::baseline, CpuIsa::avx2, CpuIsa::avx512};

// The CPUID flags the variants are compiled for (kernels/cpu/isa_dispatch.h), in the order logs
// print them. GCC's and clang's __builtin_cpu_supports also check that the OS saves the YMM/ZMM
// state (XGETBV), so a flag the kernel has disabled reads as absent. The builtin wants a string
// literal, hence one lambda per flag.
struct Flag {
  const char* name;
  bool (*present)();
};
#if defined(__x86_64__) || defined(__i386__)
#define MINIDL_CPU_FLAG(f)                                                 \
  Flag {                                                                   \
    f, [] { return __builtin_cpu_init(), __builtin_cpu_supports(f) != 0; } \
  }
#else
#define MINIDL_CPU_FLAG(f)  \
  Flag {                    \
    f, [] { return false; } \
  }  // not x86: only the compiler's default target exists
#endif
const Flag kFlags[] = {MINIDL_CPU_FLAG("sse2"),     MINIDL_CPU_FLAG("avx"),
                       MINIDL_CPU_FLAG("avx2"),     MINIDL_CPU_FLAG("fma"),
                       MINIDL_CPU_FLAG("avx512f"),  MINIDL_CPU_FLAG("avx512bw"),
                       MINIDL_CPU_FLAG("avx512vl"), MINIDL_CPU_FLAG("avx512dq")};
#undef MINIDL_CPU_FLAG

bool has_flag(std::string_view name) {
  for (const Flag& f : kFlags)
    if (name == f.name) return f.present();
  return false;
}

std::string names(const std::vector<CpuIsa>& isas) {
  std::vector<std::string> out;
  for (CpuIsa isa : isas) out.push_back(cpu_isa_name(isa));
  return join(out);
}
std::string supported_list() {
  return names(supported_cpu_isas());
}

// -1: not resolved yet. Where the choice came from, for cpu_isa_summary.
enum Source { detected, environment, program };
std::atomic<int> g_isa{-1};
std::atomic<int> g_source{detected};

}  // namespace

const char* cpu_isa_name(CpuIsa isa) {
  switch (isa) {
    case CpuIsa::baseline:
      return "baseline";
    case CpuIsa::avx2:
      return "avx2";
    case CpuIsa::avx512:
      return "avx512";
  }
  return "?";
}

bool parse_cpu_isa(std::string_view text, CpuIsa& out) {
  for (CpuIsa isa : kAllIsas)
    if (text == cpu_isa_name(isa)) {
      out = isa;
      return true;
    }
  return false;
}

bool cpu_supports(CpuIsa isa) {
  switch (isa) {
    case CpuIsa::baseline:
      return true;
    case CpuIsa::avx2:
      return has_flag("avx2") && has_flag("fma");
    case CpuIsa::avx512:
      return cpu_supports(CpuIsa::avx2) && has_flag("avx512f") && has_flag("avx512bw") &&
             has_flag("avx512vl") && has_flag("avx512dq");
  }
  return false;
}

std::vector<CpuIsa> supported_cpu_isas() {
  std::vector<CpuIsa> out;
  for (CpuIsa isa : kAllIsas)
    if (cpu_supports(isa)) out.push_back(isa);
  return out;
}

std::string cpu_flags_description() {
  std::vector<std::string> present;
  for (const Flag& f : kFlags)
    if (f.present()) present.push_back(f.name);
  return present.empty() ? std::string("none of sse2..avx512dq") : join(present, " ");
}

CpuIsa resolve_cpu_isa(const char* setting, const std::vector<CpuIsa>& supported) {
  MINIDL_CHECK(!supported.empty(), "resolve_cpu_isa: no supported instruction set given");
  if (!setting || !*setting || !std::strcmp(setting, "auto")) return supported.back();
  CpuIsa isa;
  if (!parse_cpu_isa(setting, isa))
    MINIDL_FAIL("MINIDL_CPU_ISA=", setting,
                " is not an instruction set: known are auto, baseline, avx2, avx512 (this CPU "
                "supports ",
                names(supported), ")");
  if (std::find(supported.begin(), supported.end(), isa) == supported.end())
    MINIDL_FAIL("MINIDL_CPU_ISA=", setting,
                " asks for an instruction set this CPU lacks: it supports ", names(supported),
                " (flags: ", cpu_flags_description(), ")");
  return isa;
}

CpuIsa resolve_cpu_isa(const char* setting) {
  return resolve_cpu_isa(setting, supported_cpu_isas());
}

CpuIsa cpu_isa() {
  int v = g_isa.load(std::memory_order_relaxed);
  if (v < 0) {
    // Threads that race here compute the same value (or throw the same error).
    const char* env = std::getenv("MINIDL_CPU_ISA");
    CpuIsa isa = resolve_cpu_isa(env);
    bool forced = env && *env && std::strcmp(env, "auto") != 0;
    g_source.store(forced ? environment : detected, std::memory_order_relaxed);
    v = static_cast<int>(isa);
    g_isa.store(v, std::memory_order_relaxed);
  }
  return static_cast<CpuIsa>(v);
}

void set_cpu_isa(CpuIsa isa) {
  MINIDL_CHECK(cpu_supports(isa), "set_cpu_isa: this CPU cannot run ", cpu_isa_name(isa),
               "; it supports ", supported_list(), " (flags: ", cpu_flags_description(), ")");
  g_source.store(program, std::memory_order_relaxed);
  g_isa.store(static_cast<int>(isa), std::memory_order_relaxed);
}

std::string cpu_isa_summary() {
  std::string name = cpu_isa_name(cpu_isa());
  switch (g_source.load(std::memory_order_relaxed)) {
    case environment:
      return name + " (forced by MINIDL_CPU_ISA; of " + supported_list() + ")";
    case program:
      return name + " (set by the program; of " + supported_list() + ")";
    default:
      return name + " (of " + supported_list() + "; MINIDL_CPU_ISA to force)";
  }
}

}  // namespace minidl
