// Philox4x32-10 against the known-answer vectors published with Random123 (tests/kat_vectors).
#include <gtest/gtest.h>

#include "core/philox.h"

namespace minidl {
namespace {

struct Kat {
  Philox4 ctr;
  uint32_t key0, key1;
  Philox4 expect;
};

TEST(Philox, Random123KnownAnswers) {
  const Kat kats[] = {
      {{{0, 0, 0, 0}}, 0, 0, {{0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}}},
      {{{0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff}},
       0xffffffff,
       0xffffffff,
       {{0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}}},
      {{{0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344}},
       0xa4093822,
       0x299f31d0,
       {{0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}}},
  };
  for (const Kat& k : kats) {
    Philox4 out = philox4x32_10(k.ctr, k.key0, k.key1);
    for (int i = 0; i < 4; ++i) EXPECT_EQ(out.v[i], k.expect.v[i]) << "word " << i;
  }
}

TEST(Philox, SeedAndCounterConvention) {
  // philox_block(seed, counter) = philox4x32_10((lo(counter), hi(counter), 0, 0), lo(seed),
  // hi(seed))
  Philox4 a = philox_block(0xa4093822299f31d0ull, 0x0000000100000002ull);
  Philox4 b = philox4x32_10(Philox4{{2, 1, 0, 0}}, 0x299f31d0u, 0xa4093822u);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(a.v[i], b.v[i]);
}

TEST(Philox, UnitFloatRange) {
  EXPECT_EQ(uint_to_unit_float(0), 0.0f);
  EXPECT_LT(uint_to_unit_float(0xffffffffu), 1.0f);
  EXPECT_EQ(uint_to_unit_float(0x80000000u), 0.5f);
}

TEST(Philox, GeneratorReservesCounters) {
  Generator g(7);
  EXPECT_EQ(g.reserve(10), 0u);
  EXPECT_EQ(g.reserve(5), 10u);
  EXPECT_EQ(g.offset(), 15u);
  EXPECT_EQ(g.seed(), 7u);
}

}  // namespace
}  // namespace minidl
