// The launcher that runs a CPU kernel's hot loop compiled for the ISA chosen at start-up
// (core/cpu_isa.h): baseline x86-64, AVX2 + FMA, or AVX-512. CPU twins only; nvcc never sees it.
//
//   // one element per index, in parallel chunks (the common case):
//   isa_parallel_for(n, grain, [=](int64_t i) { y[i] = relu_forward_element(x[i]); });
//   // any loop, e.g. a reduction or a chunk of a plan, compiled three times:
//   float s = isa_call(cpu_isa(), [&] { return block_sum(p + b, e - b); });
//
// How: isa_call hands the body to one of three copies of a small function template. The AVX2 and
// AVX-512 copies carry GCC's/clang's `target` attribute and `flatten`: flatten inlines every call
// the body makes (the lambda, the kernel's helpers, the MINIDL_HD element math of the op's header)
// into that copy, and the compiler may inline default-target code into a wider-target caller, so
// the whole loop is compiled and vectorised for that ISA: 8 or 16 floats per instruction. (Without
// flatten GCC leaves the SGD update out of line, compiled for the baseline.) The baseline copy is
// a plain call, the code the kernel had before: flattening it made the baseline SGD step 17%
// slower. Nothing is compiled with -mavx2 for the whole file, so no out-of-line inline function
// with AVX code can be picked by the linker for a baseline caller (the ODR trap of per-ISA object
// files).
//
// Keep bodies to loops over element math: flatten also inlines whatever else they call. A call the
// compiler cannot inline (a libm function, an extern function) runs its own, baseline code.
// Results are identical across ISAs (core/cpu_isa.h says why); tests/kernels/test_isa_variants.cpp
// checks every converted kernel, and a new one belongs there too.
#pragma once

#include <cstdint>

#include "core/cpu_isa.h"
#include "core/parallel.h"

namespace minidl {
namespace cpu {

#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
#define MINIDL_ISA_VARIANTS 1
#define MINIDL_TARGET_AVX2 __attribute__((target("avx2,fma"), flatten))
#define MINIDL_TARGET_AVX512 \
  __attribute__((target("avx2,fma,avx512f,avx512bw,avx512vl,avx512dq"), flatten))
#else
#define MINIDL_ISA_VARIANTS 0  // other targets: the baseline copy serves every CpuIsa
#endif

namespace isa_detail {

template <typename F>
decltype(auto) run_baseline(F& f) {
  return f();
}
#if MINIDL_ISA_VARIANTS
template <typename F>
MINIDL_TARGET_AVX2 decltype(auto) run_avx2(F& f) {
  return f();
}
template <typename F>
MINIDL_TARGET_AVX512 decltype(auto) run_avx512(F& f) {
  return f();
}
#endif

}  // namespace isa_detail

// Returns f() with f compiled for `isa` (read cpu_isa() once per kernel call, outside the loop).
template <typename F>
decltype(auto) isa_call(CpuIsa isa, F&& f) {
#if MINIDL_ISA_VARIANTS
  if (isa == CpuIsa::avx512) return isa_detail::run_avx512(f);
  if (isa == CpuIsa::avx2) return isa_detail::run_avx2(f);
#endif
  return isa_detail::run_baseline(f);
}

// Calls f(i) for every i in [0, n), in parallel_for's chunks (so the split, and any result, is
// independent of the thread count), each chunk's loop compiled for cpu_isa().
template <typename F>
void isa_parallel_for(int64_t n, int64_t grain, F f) {
  const CpuIsa isa = cpu_isa();  // on the calling thread: a bad MINIDL_CPU_ISA throws here
  parallel_for(n, grain, [&](int64_t b, int64_t e) {
    isa_call(isa, [&] {
      for (int64_t i = b; i < e; ++i) f(i);
    });
  });
}

}  // namespace cpu
}  // namespace minidl
