// Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC'11): a
// counter-based generator. Output = f(counter, key) with no state, so the CPU and any CUDA thread
// draw the same numbers for the same (seed, offset) (DESIGN.md §2). Checked against Random123's
// kat_vectors.
//
// minidl's convention: key = the 64-bit seed; counter = (64-bit index, 0, 0). The fills in
// kernels/random.h say which counter and which of the four outputs each element uses.
#pragma once

#include <cstdint>

#include "core/macros.h"

namespace minidl {

struct Philox4 {
  uint32_t v[4];
};

MINIDL_HD void philox_mulhilo(uint32_t a, uint32_t b, uint32_t& hi, uint32_t& lo) {
  uint64_t p = static_cast<uint64_t>(a) * b;
  hi = static_cast<uint32_t>(p >> 32);
  lo = static_cast<uint32_t>(p);
}

// One Philox4x32 block with 10 rounds.
MINIDL_HD Philox4 philox4x32_10(Philox4 ctr, uint32_t key0, uint32_t key1) {
  constexpr uint32_t kMul0 = 0xD2511F53u, kMul1 = 0xCD9E8D57u;
  constexpr uint32_t kWeyl0 = 0x9E3779B9u, kWeyl1 = 0xBB67AE85u;
  for (int round = 0; round < 10; ++round) {
    if (round > 0) {  // the key schedule bumps the key before every round but the first
      key0 += kWeyl0;
      key1 += kWeyl1;
    }
    uint32_t hi0, lo0, hi1, lo1;
    philox_mulhilo(kMul0, ctr.v[0], hi0, lo0);
    philox_mulhilo(kMul1, ctr.v[2], hi1, lo1);
    ctr = Philox4{{hi1 ^ ctr.v[1] ^ key0, lo1, hi0 ^ ctr.v[3] ^ key1, lo0}};
  }
  return ctr;
}

// The block for (seed, counter index) in minidl's convention.
MINIDL_HD Philox4 philox_block(uint64_t seed, uint64_t counter) {
  Philox4 c{{static_cast<uint32_t>(counter), static_cast<uint32_t>(counter >> 32), 0u, 0u}};
  return philox4x32_10(c, static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32));
}

// A 32-bit draw to a float in [0, 1): its top 24 bits times 2^-24 (exact, so identical everywhere).
MINIDL_HD float uint_to_unit_float(uint32_t x) {
  return static_cast<float>(x >> 8) * (1.0f / 16777216.0f);
}

// A seed plus a running counter offset: every draw of n numbers reserves n counters, so a sequence
// of fills is reproducible and the generator state is two integers (saved with checkpoints).
class Generator {
 public:
  explicit Generator(uint64_t seed = 0, uint64_t offset = 0) : seed_(seed), offset_(offset) {}
  uint64_t seed() const { return seed_; }
  uint64_t offset() const { return offset_; }
  // Returns the current offset and moves past `n` counters.
  uint64_t reserve(uint64_t n) {
    uint64_t o = offset_;
    offset_ += n;
    return o;
  }

 private:
  uint64_t seed_, offset_;
};

}  // namespace minidl
