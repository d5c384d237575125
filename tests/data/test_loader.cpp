// The loader: same seed => same batches whatever the thread count; every epoch a permutation;
// shards cover the set exactly once; a saved position resumes exactly; the resident path equals
// the worker path; splits, statistics and synthetic data.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <set>

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "data/gzip.h"
#include "data/loader.h"
#include "data/synthetic.h"
#include "kernels/augment.h"
#include "tests/data/data_testing.h"
#include "tests/testing.h"

namespace minidl {
namespace {

std::shared_ptr<TensorDataset> cifar_like(int64_t n, uint64_t seed = 1) {
  return materialize(SyntheticDataset(n, {3, 32, 32}, 10, seed, "cifar-like"));
}

Transform cifar_train() {
  return Transform().pad_random_crop(32, 32, 4).random_flip().normalize({0.4914f, 0.4822f, 0.4465f},
                                                                        {0.247f, 0.243f, 0.261f});
}

std::vector<Batch> take(Loader& l, int n) {
  std::vector<Batch> v;
  for (int i = 0; i < n; ++i) v.push_back(l.next());
  return v;
}

void expect_same(const Batch& a, const Batch& b, const std::string& what) {
  EXPECT_EQ(a.epoch, b.epoch) << what;
  EXPECT_EQ(a.index, b.index) << what;
  EXPECT_EQ(a.indices.to_vector<int64_t>(), b.indices.to_vector<int64_t>()) << what;
  EXPECT_EQ(a.labels.to_vector<int64_t>(), b.labels.to_vector<int64_t>()) << what;
  EXPECT_EQ(a.images.to_vector<float>(), b.images.to_vector<float>()) << what;  // bit for bit
}

TEST(Loader, SameSeedSameBatchesForAnyThreadCount) {
  auto ds = cifar_like(100);
  LoaderOptions opt;
  opt.batch_size = 16, opt.seed = 5, opt.workers = 0;
  Loader ref(ds, cifar_train(), opt);
  std::vector<Batch> want = take(ref, 16);  // 7 batches per epoch: more than two epochs
  for (int workers : {1, 3}) {
    for (int prefetch : {1, 5}) {
      opt.workers = workers, opt.prefetch = prefetch;
      Loader l(ds, cifar_train(), opt);
      std::vector<Batch> got = take(l, 16);
      for (int i = 0; i < 16; ++i) expect_same(got[i], want[i], "batch " + std::to_string(i));
    }
  }
  opt.seed = 6;
  Loader other(ds, cifar_train(), opt);
  EXPECT_NE(other.next().indices.to_vector<int64_t>(), want[0].indices.to_vector<int64_t>());
}

TEST(Loader, BatchesHoldTheTransformedSamples) {
  auto ds = cifar_like(40);
  LoaderOptions opt;
  opt.batch_size = 8, opt.seed = 3, opt.workers = 2;
  Loader l(ds, cifar_train(), opt);
  for (int k = 0; k < 7; ++k) {  // into the second epoch
    Batch b = l.next();
    ASSERT_EQ(b.images.shape(), Shape({8, 3, 32, 32}));
    std::vector<int64_t> idx = b.indices.to_vector<int64_t>();
    std::vector<float> imgs = b.images.to_vector<float>();
    for (int64_t j = 0; j < 8; ++j) {
      std::vector<float> one(3 * 32 * 32);
      cifar_train().apply(ds->get(idx[j]).image, 3, b.epoch, idx[j], one.data());
      EXPECT_TRUE(std::equal(one.begin(), one.end(), imgs.begin() + j * one.size()));
      EXPECT_EQ(b.labels.to_vector<int64_t>()[j], ds->label(idx[j]));
    }
  }
}

TEST(Loader, EveryEpochIsAPermutationAndDropLast) {
  auto ds = cifar_like(50);
  LoaderOptions opt;
  opt.batch_size = 16, opt.seed = 9;
  Loader l(ds, Transform(), opt);
  EXPECT_EQ(l.batches_per_epoch(), 4);  // 16 + 16 + 16 + 2
  std::vector<std::vector<int64_t>> orders(2);
  for (int k = 0; k < 8; ++k) {
    Batch b = l.next();
    EXPECT_EQ(b.images.size(0), b.index == 3 ? 2 : 16);
    for (int64_t i : b.indices.to_vector<int64_t>()) orders[b.epoch].push_back(i);
  }
  for (auto& o : orders) {
    std::vector<int64_t> sorted = o;
    std::sort(sorted.begin(), sorted.end());
    for (int64_t i = 0; i < 50; ++i) EXPECT_EQ(sorted[i], i);
  }
  EXPECT_NE(orders[0], orders[1]);  // reshuffled
  opt.drop_last = true;
  Loader d(ds, Transform(), opt);
  EXPECT_EQ(d.batches_per_epoch(), 3);
  EXPECT_EQ(d.samples_per_epoch(), 48);
  for (int k = 0; k < 6; ++k) EXPECT_EQ(d.next().images.size(0), 16);
  opt.shuffle = false, opt.drop_last = false;
  Loader s(ds, Transform(), opt);
  EXPECT_EQ(s.next().indices.to_vector<int64_t>()[5], 5);
}

TEST(Sampler, SplitModeTakesEverySampleOnce) {
  for (int64_t n : {12, 10, 7, 3}) {
    const int w = 3;
    std::vector<int64_t> all;
    for (int r = 0; r < w; ++r) {
      SamplerOptions o;
      o.seed = 4, o.rank = r, o.world_size = w, o.shard_mode = ShardMode::split;
      DistributedSampler s(n, o);
      std::vector<int64_t> mine = s.epoch_indices(2);
      EXPECT_EQ(static_cast<int64_t>(mine.size()), s.samples_per_rank());
      EXPECT_EQ(s.samples_per_rank(), n / w + (r < n % w ? 1 : 0)) << "n " << n << " rank " << r;
      all.insert(all.end(), mine.begin(), mine.end());
    }
    std::sort(all.begin(), all.end());
    ASSERT_EQ(static_cast<int64_t>(all.size()), n);
    for (int64_t i = 0; i < n; ++i) EXPECT_EQ(all[i], i) << "every sample exactly once, n " << n;
  }
  SamplerOptions o;
  o.rank = 2, o.world_size = 3, o.shard_mode = ShardMode::split;
  EXPECT_THROW(DistributedSampler(2, o), Error);  // rank 2 of 3 would get nothing
}

TEST(Sampler, ShardsCoverTheSetExactlyOnce) {
  for (int64_t n : {12, 10, 7}) {
    for (ShardMode mode : {ShardMode::pad, ShardMode::drop}) {
      const int w = 3;
      std::vector<int64_t> all;
      std::set<size_t> counts;
      for (int r = 0; r < w; ++r) {
        SamplerOptions o;
        o.seed = 4, o.rank = r, o.world_size = w, o.shard_mode = mode;
        std::vector<int64_t> mine = DistributedSampler(n, o).epoch_indices(2);
        counts.insert(mine.size());
        all.insert(all.end(), mine.begin(), mine.end());
      }
      EXPECT_EQ(counts.size(), 1u) << "equal counts, n " << n;
      std::set<int64_t> distinct(all.begin(), all.end());
      if (mode == ShardMode::pad) {
        EXPECT_EQ(static_cast<int64_t>(all.size()), (n + w - 1) / w * w);
        EXPECT_EQ(static_cast<int64_t>(distinct.size()), n) << "every sample, n " << n;
      } else {
        EXPECT_EQ(static_cast<int64_t>(all.size()), n / w * w);
        EXPECT_EQ(distinct.size(), all.size()) << "disjoint, n " << n;
      }
      if (n % w == 0) EXPECT_EQ(distinct.size(), all.size()) << "exactly once";
    }
  }
  // pad mode repeats the epoch order's first entries, like torch's DistributedSampler
  SamplerOptions o;
  o.seed = 4, o.world_size = 3;
  std::vector<int64_t> order = seeded_permutation(7, 4, 2);
  std::vector<int64_t> padded = order;
  padded.insert(padded.end(), order.begin(), order.begin() + 2);
  for (int r = 0; r < 3; ++r) {
    o.rank = r;
    std::vector<int64_t> mine = DistributedSampler(7, o).epoch_indices(2);
    for (size_t k = 0; k < mine.size(); ++k) EXPECT_EQ(mine[k], padded[r + 3 * k]);
  }
}

TEST(Loader, RanksSplitEachEpochDisjointly) {
  auto ds = cifar_like(64);
  for (int64_t epoch = 0; epoch < 2; ++epoch) {
    std::vector<int64_t> seen;
    for (int r = 0; r < 4; ++r) {
      LoaderOptions opt;
      opt.batch_size = 8, opt.seed = 2, opt.rank = r, opt.world_size = 4;
      Loader l(ds, cifar_train(), opt);
      l.set_position({epoch, 0});
      ASSERT_EQ(l.batches_per_epoch(), 2);
      for (int k = 0; k < 2; ++k)
        for (int64_t i : l.next().indices.to_vector<int64_t>()) seen.push_back(i);
    }
    std::sort(seen.begin(), seen.end());
    ASSERT_EQ(seen.size(), 64u);
    for (int64_t i = 0; i < 64; ++i) EXPECT_EQ(seen[i], i);
  }
}

TEST(Loader, SavedPositionResumesExactly) {
  auto ds = cifar_like(90);
  LoaderOptions opt;
  opt.batch_size = 20, opt.seed = 11, opt.workers = 3;  // 5 batches per epoch
  Loader whole(ds, cifar_train(), opt);
  std::vector<Batch> want = take(whole, 13);
  for (int k : {0, 3, 5, 7}) {
    Loader first(ds, cifar_train(), opt);
    take(first, k);
    LoaderPosition saved = first.position();
    EXPECT_EQ(saved, (LoaderPosition{k / 5, k % 5}));
    Loader resumed(ds, cifar_train(), opt);
    resumed.set_position(saved);
    for (int i = k; i < 13; ++i)
      expect_same(resumed.next(), want[i], "resumed at " + std::to_string(k));
  }
  // moving the position of a running loader drops what it prefetched
  Loader l(ds, cifar_train(), opt);
  take(l, 4);
  l.set_position({1, 2});
  expect_same(l.next(), want[7], "set_position");
  EXPECT_MINIDL_ERROR(l.set_position({0, 5}), "outside an epoch of 5 batches");
}

TEST(Loader, ResidentPathEqualsWorkerPath) {
  auto ds = cifar_like(70);
  LoaderOptions opt;
  opt.batch_size = 32, opt.seed = 21;
  Loader workers(ds, cifar_train(), opt);
  opt.resident = true;
  Loader resident(ds, cifar_train(), opt);
  for (int i = 0; i < 7; ++i) expect_same(resident.next(), workers.next(), std::to_string(i));
  // mnist-like: no crop, normalise only
  auto gray = materialize(SyntheticDataset(20, {1, 28, 28}, 10, 3));
  Transform t = Transform().normalize({0.286f}, {0.353f});
  opt.batch_size = 8;
  Loader a(gray, t, opt);
  opt.resident = false;
  Loader b(gray, t, opt);
  for (int i = 0; i < 4; ++i) expect_same(a.next(), b.next(), "gray " + std::to_string(i));
  opt.resident = true;
  EXPECT_MINIDL_ERROR(Loader(gray, Transform().random_resized_crop(8, 8), opt),
                      "only crops, flips and normalisation");
}

// memory_format channels_last: NHWC batches holding the same values, from the workers and the
// resident path (70 samples, batches of 32: the last one partial).
TEST(Loader, ChannelsLastBatchesHoldTheSameValues) {
  auto ds = cifar_like(70);
  LoaderOptions opt;
  opt.batch_size = 32, opt.seed = 21;
  Loader nchw(ds, cifar_train(), opt);
  opt.memory_format = MemoryFormat::channels_last;
  Loader workers(ds, cifar_train(), opt);
  opt.resident = true;
  Loader resident(ds, cifar_train(), opt);
  for (int i = 0; i < 5; ++i) {
    Batch want = nchw.next(), a = workers.next(), b = resident.next();
    EXPECT_TRUE(want.images.is_contiguous());
    EXPECT_EQ(a.images.memory_format(), MemoryFormat::channels_last) << i;
    EXPECT_EQ(b.images.memory_format(), MemoryFormat::channels_last) << i;
    expect_same(a, want, "workers " + std::to_string(i));
    expect_same(b, want, "resident " + std::to_string(i));
  }
}

TEST(AugmentBatch, ChecksItsArguments) {
  auto ds = cifar_like(4);
  CropFlipNormalize p = cifar_train().params({3, 32, 32}, 0, 0);
  Tensor idx = Tensor::from_vector<int64_t>({0, 4}, {2});
  Tensor out = Tensor::empty({2, 3, 32, 32}), lab = Tensor::empty({2}, DType::i64);
  EXPECT_MINIDL_ERROR(augment_batch(ds->images(), ds->labels(), idx, out, lab, p),
                      "index 4 at 1 out of range for 4 images");
  Tensor bad = Tensor::empty({2, 3, 30, 32});
  idx = Tensor::from_vector<int64_t>({0, 1}, {2});
  EXPECT_MINIDL_ERROR(augment_batch(ds->images(), ds->labels(), idx, bad, lab, p), "out_images");
}

TEST(Split, HoldoutIsSeededAndDisjoint) {
  HoldoutSplit a = holdout_split(1000, 100, 7), b = holdout_split(1000, 100, 7),
               c = holdout_split(1000, 100, 8);
  EXPECT_EQ(a.val, b.val);
  EXPECT_NE(a.val, c.val);
  ASSERT_EQ(a.val.size(), 100u);
  ASSERT_EQ(a.train.size(), 900u);
  std::vector<int64_t> all = a.train;
  all.insert(all.end(), a.val.begin(), a.val.end());
  std::sort(all.begin(), all.end());
  for (int64_t i = 0; i < 1000; ++i) EXPECT_EQ(all[i], i);
  EXPECT_EQ(holdout_split_fraction(1000, 0.1, 7).val, a.val);
  auto ds = cifar_like(50);
  SplitDatasets s = split_dataset(ds, 10, 3);
  EXPECT_EQ(s.val->size(), 10);
  EXPECT_EQ(s.train->size(), 40);
  EXPECT_EQ(s.val->name(), "cifar-like/val-split");
  auto* sub = dynamic_cast<const SubsetDataset*>(s.val.get());
  ASSERT_NE(sub, nullptr);
  EXPECT_EQ(s.val->label(3), ds->label(sub->indices()[3]));
}

TEST(Stats, ChannelStatsAndCache) {
  // channel 0 holds 0 and 255 (mean 0.5, std 0.5); channel 1 is 51 everywhere (0.2, 0)
  std::vector<uint8_t> px = {0, 255, 51, 51, 255, 0, 51, 51};  // [2 images, 2 channels, 1, 2]
  auto ds =
      std::make_shared<TensorDataset>(Tensor::from_vector(px, {2, 2, 1, 2}),
                                      Tensor::from_vector<int64_t>({0, 1}, {2}), 2, "stats-test");
  ChannelStats s = compute_channel_stats(*ds);
  EXPECT_NEAR(s.mean[0], 0.5, 1e-6);
  EXPECT_NEAR(s.std[0], 0.5, 1e-6);
  EXPECT_NEAR(s.mean[1], 0.2, 1e-6);
  EXPECT_NEAR(s.std[1], 0.0, 1e-6);
  testing::TempDir dir;
  // a cache file for this dataset is read, not recomputed
  std::string key = "# channel stats of stats-test 2 [2, 1, 2]\nmean 0.1 0.2\nstd 0.3 0.4\n";
  write_file_atomic(dir / "stats.txt", std::vector<uint8_t>(key.begin(), key.end()));
  ChannelStats c = cached_channel_stats(*ds, dir / "stats.txt");
  EXPECT_EQ(c.mean, std::vector<float>({0.1f, 0.2f}));
  EXPECT_EQ(c.std, std::vector<float>({0.3f, 0.4f}));
  // another dataset with no file: computed, then written for next time
  auto ds2 =
      std::make_shared<TensorDataset>(Tensor::from_vector(px, {2, 2, 1, 2}),
                                      Tensor::from_vector<int64_t>({0, 1}, {2}), 2, "stats-test-2");
  ChannelStats d = cached_channel_stats(*ds2, dir / "stats2.txt");
  EXPECT_NEAR(d.mean[0], 0.5, 1e-6);
  ASSERT_TRUE(std::filesystem::exists(dir / "stats2.txt"));
  EXPECT_EQ(cached_channel_stats(*ds2).mean, d.mean);  // from memory now
}

TEST(Synthetic, SeededAndMaterialized) {
  SyntheticDataset a(30, {3, 5, 6}, 7, 9), b(30, {3, 5, 6}, 7, 9), c(30, {3, 5, 6}, 7, 10);
  EXPECT_EQ(testing::bytes_of(a.get(4).image), testing::bytes_of(b.get(4).image));
  EXPECT_NE(testing::bytes_of(a.get(4).image), testing::bytes_of(c.get(4).image));
  EXPECT_NE(testing::bytes_of(a.get(4).image), testing::bytes_of(a.get(5).image));
  std::set<int64_t> labels;
  for (int64_t i = 0; i < 30; ++i) labels.insert(a.label(i));
  EXPECT_GE(labels.size(), 5u);
  EXPECT_LT(*labels.rbegin(), 7);
  auto m = materialize(a);
  EXPECT_EQ(testing::bytes_of(m->get(17).image), testing::bytes_of(a.get(17).image));
  EXPECT_EQ(m->label(17), a.label(17));
}

TEST(Loader, ArgumentErrors) {
  auto ds = cifar_like(10);
  LoaderOptions opt;
  opt.batch_size = 0;
  EXPECT_MINIDL_ERROR(Loader(ds, Transform(), opt), "batch_size 0");
  opt.batch_size = 16, opt.drop_last = true;
  EXPECT_MINIDL_ERROR(Loader(ds, Transform(), opt), "make no batch of 16");
  opt.drop_last = false, opt.rank = 2, opt.world_size = 2;
  EXPECT_MINIDL_ERROR(Loader(ds, Transform(), opt), "rank 2 of world size 2");
  opt.rank = 0, opt.world_size = 1, opt.device = Device::cuda(0);
  if (cuda_device_count() == 0) EXPECT_THROW(Loader(ds, Transform(), opt), Error);
  opt.device = Device::cpu(), opt.batch_size = INT64_MAX;  // no overflow counting batches
  EXPECT_EQ(Loader(ds, Transform(), opt).batches_per_epoch(), 1);
}

#if !defined(__SANITIZE_ADDRESS__)  // ASan reserves terabytes of address space: no limit fits
// Workers that cannot start (here: an address-space limit leaves no room for their stacks) are an
// error, not std::terminate from a joinable thread destroyed during the constructor's unwinding.
TEST(Loader, WorkersThatCannotStartAreAnError) {
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    rlimit limit{size_t(2) << 30, size_t(2) << 30};  // 2 GiB; each thread stack reserves 8 MiB
    ::setrlimit(RLIMIT_AS, &limit);
    LoaderOptions opt;
    opt.workers = 1000;
    try {
      Loader loader(cifar_like(10), Transform(), opt);
    } catch (const Error& e) {
      bool named = std::string(e.what()).find("cannot start loader worker") != std::string::npos;
      ::_exit(named ? 0 : 2);
    }
    ::_exit(3);  // every worker started: the limit did not bite
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status)) << "the child died of signal " << WTERMSIG(status);
  EXPECT_EQ(WEXITSTATUS(status), 0);
}
#endif

}  // namespace
}  // namespace minidl
