#include "data/sampler.h"

#include <algorithm>
#include <utility>

#include "core/error.h"
#include "kernels/augment.h"

namespace minidl {

std::vector<int64_t> seeded_permutation(int64_t n, uint64_t seed, int64_t epoch, uint32_t block) {
  MINIDL_CHECK(n >= 0, "seeded_permutation: negative size ", n);
  // (64-bit key, index): sorting pairs makes ties (probability ~n^2 / 2^65) resolve by index.
  std::vector<std::pair<uint64_t, int64_t>> keyed(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    Philox4 r = augment_draws(seed, static_cast<uint64_t>(epoch), static_cast<uint64_t>(i), block);
    keyed[i] = {(static_cast<uint64_t>(r.v[0]) << 32) | r.v[1], i};
  }
  std::sort(keyed.begin(), keyed.end());
  std::vector<int64_t> perm(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) perm[i] = keyed[i].second;
  return perm;
}

DistributedSampler::DistributedSampler(int64_t dataset_size, SamplerOptions options)
    : n_(dataset_size), opt_(options) {
  MINIDL_CHECK(opt_.world_size >= 1 && opt_.rank >= 0 && opt_.rank < opt_.world_size,
               "DistributedSampler: rank ", opt_.rank, " of world size ", opt_.world_size);
  MINIDL_CHECK(n_ >= 0, "DistributedSampler: dataset size ", n_);
  MINIDL_CHECK(samples_per_rank() > 0, "DistributedSampler: ", n_, " samples give rank ", opt_.rank,
               " of ", opt_.world_size, " nothing");
}

int64_t DistributedSampler::samples_per_rank() const {
  const int64_t w = opt_.world_size;
  switch (opt_.shard_mode) {
    case ShardMode::pad:
      return (n_ + w - 1) / w;
    case ShardMode::drop:
      return n_ / w;
    case ShardMode::split:
      return n_ / w + (opt_.rank < n_ % w ? 1 : 0);
  }
  return 0;
}

std::vector<int64_t> DistributedSampler::epoch_indices(int64_t epoch) const {
  std::vector<int64_t> order;
  if (opt_.shuffle) {
    order = seeded_permutation(n_, opt_.seed, epoch);
  } else {
    order.resize(static_cast<size_t>(n_));
    for (int64_t i = 0; i < n_; ++i) order[i] = i;
  }
  const int64_t w = opt_.world_size, per_rank = samples_per_rank();
  std::vector<int64_t> mine(static_cast<size_t>(per_rank));
  for (int64_t k = 0; k < per_rank; ++k)
    mine[k] = order[(opt_.rank + k * w) % n_];  // wraps only in pad mode, past the end
  return mine;
}

}  // namespace minidl
