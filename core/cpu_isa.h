// Which instruction set the hand-written CPU kernels run with (DESIGN.md §3): every converted
// kernel is compiled for baseline x86-64 (SSE2), AVX2 + FMA and AVX-512 (F, BW, VL, DQ), and one of
// the three is chosen once, at the first call of cpu_isa(), from the CPU's flags: the widest the
// CPU and the operating system support. MINIDL_CPU_ISA=baseline|avx2|avx512 forces one (auto or
// empty: detect); a value that is not an ISA, or one this CPU lacks, throws minidl::Error naming
// the variable, the value and what the CPU supports.
//
// The variants compute the same bits: the project compiles with -ffp-contract=off (no FMA is
// formed from a*b+c, even where FMA is enabled) and without -ffast-math (the vectoriser never
// reorders a float sum), so a wider ISA changes how many elements one instruction handles, never a
// result. tests/kernels/test_isa_variants.cpp checks that for every converted kernel.
// kernels/cpu/isa_dispatch.h is the launcher kernels use; docs/kernels.md shows how.
//
// No compiler attributes here: .cu files include core/ headers.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace minidl {

enum class CpuIsa { baseline, avx2, avx512 };

// "baseline", "avx2", "avx512".
const char* cpu_isa_name(CpuIsa isa);
// The inverse of cpu_isa_name; false for anything else (no trimming, no other spellings).
bool parse_cpu_isa(std::string_view text, CpuIsa& out);

// Whether this CPU and OS can run the variant: avx2 needs AVX2 and FMA; avx512 needs AVX-512
// F, BW, VL and DQ (Skylake-SP and later Xeons, AMD Zen 4). baseline: always.
bool cpu_supports(CpuIsa isa);
// Every variant this CPU supports, narrowest first.
std::vector<CpuIsa> supported_cpu_isas();
// The flags detection looked at, as the CPU reports them: "sse2 avx avx2 fma avx512f ..." (for
// logs and error messages).
std::string cpu_flags_description();

// The variant that the value of MINIDL_CPU_ISA selects (nullptr: unset) on a CPU that supports
// `supported` (default: this one): the widest for unset, "" or "auto"; throws minidl::Error for an
// unknown value or one outside `supported`. Pure, so tests can pass any value and any CPU.
CpuIsa resolve_cpu_isa(const char* setting, const std::vector<CpuIsa>& supported);
CpuIsa resolve_cpu_isa(const char* setting);

// The variant the kernels use: resolved from MINIDL_CPU_ISA on the first call (which throws for a
// bad value), then a relaxed atomic load; safe from any thread.
CpuIsa cpu_isa();
// Overrides the choice for the rest of the process (tests, benchmarks); throws if this CPU cannot
// run `isa`. Not meant to be called while kernels run on other threads.
void set_cpu_isa(CpuIsa isa);

// One line for logs and benchmark headers, e.g.
// "avx512 (of baseline, avx2, avx512; MINIDL_CPU_ISA to force)" or
// "avx2 (forced by MINIDL_CPU_ISA; of baseline, avx2, avx512)".
std::string cpu_isa_summary();

}  // namespace minidl
