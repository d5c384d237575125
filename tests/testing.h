// Helpers shared by the test suites: seeded random tensors, the twin comparison (atol +
// rtol*|ref|), and the GPU skip that lets the same binaries run on machines without one.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/cpu_isa.h"
#include "core/device.h"
#include "core/tensor.h"

namespace minidl::testing {

// A CPU f32 tensor of uniform values in [lo, hi), from std::mt19937 seeded with `seed`.
Tensor random_tensor(const Shape& shape, uint32_t seed, float lo = -1.f, float hi = 1.f);

// random_tensor's values with special ones spread through them (every 97th element in turn: +0, -0,
// +inf, -inf, NaN, a subnormal-adjacent 1e-38); with `cancel` (same shape), every 101st element from
// the 6th is minus cancel's, so that their sums are exactly zero. For bit-for-bit twin tests.
Tensor tensor_with_specials(const Shape& shape, uint32_t seed, const Tensor* cancel = nullptr);

// Compares two tensors (any devices; f32 view) element by element with |a - ref| <= atol +
// rtol*|ref|; on failure reports how many elements differ and the worst one.
::testing::AssertionResult all_close(const Tensor& actual, const Tensor& ref, double atol = 1e-5,
                                     double rtol = 1e-5);

bool has_gpu();

// Runs `run` under the baseline CPU ISA, then under every wider one this CPU supports
// (core/cpu_isa.h), and checks that each returns tensors with the baseline's bytes (NaN payloads
// and the sign of zero included); restores the ISA afterwards. `run` must build its own outputs.
::testing::AssertionResult same_bits_on_every_isa(const std::function<std::vector<Tensor>()>& run);

}  // namespace minidl::testing

// First line of a test that compares ISA variants: skipped where only the baseline exists.
#define MINIDL_SKIP_WITHOUT_WIDER_ISA()                              \
  do {                                                               \
    if (::minidl::supported_cpu_isas().size() < 2)                   \
      GTEST_SKIP() << "this CPU runs only the baseline ISA (flags: " \
                   << ::minidl::cpu_flags_description() << ")";      \
  } while (0)

// First line of every CUDA test: without a GPU the test is skipped, not failed.
// The message, "no GPU (<why>)", carries cuda_unavailable_reason() into the test logs and the
// GPU check's report.
#define MINIDL_SKIP_WITHOUT_GPU()                                               \
  do {                                                                          \
    if (!::minidl::testing::has_gpu())                                          \
      GTEST_SKIP() << "no GPU (" << ::minidl::cuda_unavailable_reason() << ")"; \
  } while (0)

// Expects `stmt` to throw `type` whose message contains every listed fragment.
#define EXPECT_ERROR_MESSAGE(stmt, type, ...)                               \
  do {                                                                      \
    try {                                                                   \
      stmt;                                                                 \
      ADD_FAILURE() << "expected " #type " from " #stmt;                    \
    } catch (const type& e) {                                               \
      for (const std::string& frag : std::vector<std::string>{__VA_ARGS__}) \
        EXPECT_NE(std::string(e.what()).find(frag), std::string::npos)      \
            << "message '" << e.what() << "' lacks '" << frag << "'";       \
    }                                                                       \
  } while (0)

// Expects `stmt` to throw minidl::Error whose message contains every listed fragment.
#define EXPECT_MINIDL_ERROR(stmt, ...) EXPECT_ERROR_MESSAGE(stmt, ::minidl::Error, __VA_ARGS__)
