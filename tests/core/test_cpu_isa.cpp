// The CPU ISA choice (core/cpu_isa.h): names, MINIDL_CPU_ISA values and their errors, set_cpu_isa
// and the summary line. Which kernels give which bits under each ISA:
// tests/kernels/test_isa_variants.cpp.
#include <gtest/gtest.h>

#include "core/cpu_isa.h"
#include "core/error.h"
#include "tests/testing.h"

namespace minidl {
namespace {

const std::vector<CpuIsa> kAll = {CpuIsa::baseline, CpuIsa::avx2, CpuIsa::avx512};

TEST(CpuIsa, NamesRoundTrip) {
  for (CpuIsa isa : kAll) {
    CpuIsa back = CpuIsa::baseline;
    ASSERT_TRUE(parse_cpu_isa(cpu_isa_name(isa), back));
    EXPECT_EQ(back, isa);
  }
  CpuIsa out;
  for (const char* bad : {"", "AVX2", " avx2", "avx2 ", "avx-512", "sse2", "auto"})
    EXPECT_FALSE(parse_cpu_isa(bad, out)) << bad;
}

TEST(CpuIsa, SupportedListStartsWithBaselineAndIsNested) {
  std::vector<CpuIsa> s = supported_cpu_isas();
  ASSERT_FALSE(s.empty());
  EXPECT_EQ(s.front(), CpuIsa::baseline);
  for (size_t i = 0; i < s.size(); ++i) EXPECT_EQ(s[i], kAll[i]);  // avx512 implies avx2
  EXPECT_NE(cpu_flags_description().find("sse2"), std::string::npos) << cpu_flags_description();
}

TEST(CpuIsa, UnsetEmptyOrAutoPicksTheWidest) {
  EXPECT_EQ(resolve_cpu_isa(nullptr, kAll), CpuIsa::avx512);
  EXPECT_EQ(resolve_cpu_isa("", kAll), CpuIsa::avx512);
  EXPECT_EQ(resolve_cpu_isa("auto", {CpuIsa::baseline, CpuIsa::avx2}), CpuIsa::avx2);
  EXPECT_EQ(resolve_cpu_isa(nullptr, {CpuIsa::baseline}), CpuIsa::baseline);
  EXPECT_EQ(resolve_cpu_isa(nullptr), supported_cpu_isas().back());
}

TEST(CpuIsa, ForcedValueIsTaken) {
  for (CpuIsa isa : kAll) EXPECT_EQ(resolve_cpu_isa(cpu_isa_name(isa), kAll), isa);
}

TEST(CpuIsa, UnknownValueNamesVariableValueAndChoices) {
  EXPECT_MINIDL_ERROR(resolve_cpu_isa("AVX512", {CpuIsa::baseline, CpuIsa::avx2}),
                      "MINIDL_CPU_ISA=AVX512", "not an instruction set",
                      "known are auto, baseline, avx2, avx512",
                      "this CPU supports baseline, avx2)");
  EXPECT_MINIDL_ERROR(resolve_cpu_isa("sse4", kAll), "MINIDL_CPU_ISA=sse4");
}

TEST(CpuIsa, UnsupportedValueNamesWhatTheCpuHas) {
  EXPECT_MINIDL_ERROR(resolve_cpu_isa("avx512", {CpuIsa::baseline, CpuIsa::avx2}),
                      "MINIDL_CPU_ISA=avx512", "this CPU lacks", "it supports baseline, avx2",
                      "(flags: ");
  EXPECT_MINIDL_ERROR(resolve_cpu_isa("avx2", {CpuIsa::baseline}), "MINIDL_CPU_ISA=avx2",
                      "it supports baseline (flags: ");
}

// Restores the process-wide choice after a test changes it.
struct IsaRestore {
  CpuIsa saved = cpu_isa();
  ~IsaRestore() { set_cpu_isa(saved); }
};

TEST(CpuIsa, SetCpuIsaTakesEverySupportedOneAndRefusesOthers) {
  IsaRestore restore;
  for (CpuIsa isa : supported_cpu_isas()) {
    set_cpu_isa(isa);
    EXPECT_EQ(cpu_isa(), isa);
    EXPECT_EQ(cpu_isa_summary().rfind(cpu_isa_name(isa), 0), 0u) << cpu_isa_summary();
    EXPECT_NE(cpu_isa_summary().find("set by the program"), std::string::npos);
  }
  for (CpuIsa isa : kAll)
    if (!cpu_supports(isa))
      EXPECT_MINIDL_ERROR(set_cpu_isa(isa), "cannot run", cpu_isa_name(isa), "it supports");
}

}  // namespace
}  // namespace minidl
