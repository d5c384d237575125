// Which samples form each batch: the per-epoch seeded shuffle, the distributed shard of a rank,
// and the batch cut. Every list is a pure function of (dataset size, seed, epoch, rank, world
// size, batch size), computed identically on every rank, so ranks agree without talking.
#pragma once

#include <cstdint>
#include <vector>

namespace minidl {

// A permutation of [0, n) for `epoch`: samples sorted by their Philox key (seed, epoch, index,
// `block`), ties broken by index. `block` defaults to the shuffle's draw block (kernels/augment.h).
std::vector<int64_t> seeded_permutation(int64_t n, uint64_t seed, int64_t epoch,
                                        uint32_t block = 0x80000000u);

// How a shard handles n not divisible by the world size w:
//   pad:  like torch.utils.data.DistributedSampler(drop_last=False): the epoch's order is extended
//         by wrapping around to ceil(n / w) * w entries, so a few samples appear twice per epoch;
//   drop: like DistributedSampler(drop_last=True): the order is cut to floor(n / w) * w entries,
//         so up to w - 1 samples are left out of that epoch (a different few each epoch).
//   split: the order as it is, each sample exactly once: ranks below n % w get one sample more
//          (for evaluation, whose totals are summed over the ranks: no sample counted twice or
//          left out; training needs equal counts, so that every rank takes the same steps).
// Either way rank r takes entries r, r + w, r + 2w, ...: disjoint positions, equal counts in pad
// and drop mode.
enum class ShardMode { pad, drop, split };

struct SamplerOptions {
  bool shuffle = true;
  uint64_t seed = 0;
  int rank = 0, world_size = 1;
  ShardMode shard_mode = ShardMode::pad;
};

class DistributedSampler {
 public:
  DistributedSampler(int64_t dataset_size, SamplerOptions options);
  int64_t dataset_size() const { return n_; }
  // Samples this rank sees per epoch (equal on every rank).
  int64_t samples_per_rank() const;
  // The dataset indices of this rank for `epoch`, in the order batches take them.
  std::vector<int64_t> epoch_indices(int64_t epoch) const;
  const SamplerOptions& options() const { return opt_; }

 private:
  int64_t n_;
  SamplerOptions opt_;
};

}  // namespace minidl
