// count_up's contract: one i64 goes up by one per call, from any value; anything but one i64 is an
// error naming it.
#include <gtest/gtest.h>

#include "kernels/counter.h"
#include "tests/testing.h"

namespace minidl {
namespace {

TEST(Counter, CountsUpByOne) {
  Tensor c = Tensor::full({}, 41, DType::i64);
  count_up(c);
  EXPECT_EQ(c.item<int64_t>(), 42);
  Tensor big = Tensor::full({1}, static_cast<double>(int64_t{1} << 40), DType::i64);
  for (int i = 0; i < 3; ++i) count_up(big);
  EXPECT_EQ(big.item<int64_t>(), (int64_t{1} << 40) + 3);
}

TEST(Counter, NamesTheWrongCounter) {
  EXPECT_MINIDL_ERROR(count_up(Tensor::zeros({})), "counter [] f32", "one i64");
  EXPECT_MINIDL_ERROR(count_up(Tensor::zeros({2}, DType::i64)), "counter [2] i64");
  EXPECT_MINIDL_ERROR(count_up(Tensor()), "counter undefined");
}

}  // namespace
}  // namespace minidl
