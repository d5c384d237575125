// The real Fashion-MNIST from Debian's dataset-fashion-mnist (installed by tools/setup.sh).
#include <gtest/gtest.h>

#include <filesystem>

#include "data/idx.h"
#include "tests/testing.h"

namespace minidl {
namespace {

TEST(FashionMnist, RealFilesLoad) {
  if (!std::filesystem::is_directory(kFashionMnistDir))
    GTEST_SKIP() << kFashionMnistDir << " missing: run tools/setup.sh (dataset-fashion-mnist)";
  auto train = load_fashion_mnist(Split::train);
  auto test = load_fashion_mnist(Split::test);
  EXPECT_EQ(train->size(), 60000);
  EXPECT_EQ(test->size(), 10000);
  EXPECT_EQ(train->image_shape(), Shape({1, 28, 28}));
  EXPECT_EQ(train->num_classes(), 10);
  EXPECT_EQ(train->label(0), 9);  // ankle boot, as the dataset's README shows
  EXPECT_EQ(test->label(0), 9);
  EXPECT_EQ(train->name(), "fashion-mnist/train");
  // Every class appears 6000 times in train and 1000 times in test (the published balance).
  std::vector<int64_t> count_train(10, 0), count_test(10, 0);
  for (int64_t i = 0; i < train->size(); ++i) ++count_train[train->label(i)];
  for (int64_t i = 0; i < test->size(); ++i) ++count_test[test->label(i)];
  for (int c = 0; c < 10; ++c) {
    EXPECT_EQ(count_train[c], 6000) << c;
    EXPECT_EQ(count_test[c], 1000) << c;
  }
  // Pixel statistics against numpy's over the same files (mean 0.2860406, std 0.3530242).
  ChannelStats st = compute_channel_stats(*train);
  EXPECT_NEAR(st.mean[0], 0.2860406, 1e-6);
  EXPECT_NEAR(st.std[0], 0.3530242, 1e-6);
}

}  // namespace
}  // namespace minidl
