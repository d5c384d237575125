// step_log_record's contract: a slot gets the loss (f32 converted exactly, or f64), the count of
// rank-0 rows (ignored rows, rank -1, are no hits) and the skip flag, and no other slot changes;
// an undefined flag reads as applied; the argument errors name the argument.
#include <gtest/gtest.h>

#include <cmath>

#include "kernels/step_log.h"
#include "tests/testing.h"

namespace minidl {
namespace {

TEST(StepLog, WritesOneSlotAndNothingElse) {
  Tensor log = Tensor::full({4, kStepLogFields}, -7.0, DType::f64);
  Tensor ranks = Tensor::from_vector(std::vector<int64_t>{0, 3, 0, -1, 1, 0, 2}, {7});
  Tensor loss = Tensor::from_vector(std::vector<float>{0.1f}, {1});
  Tensor flag = Tensor::from_vector(std::vector<int32_t>{1}, {1});
  step_log_record(loss, ranks, flag, log, 2);
  std::vector<double> v = log.to_vector<double>();
  EXPECT_EQ(v[6], static_cast<double>(0.1f)) << "the f32 loss, converted exactly";
  EXPECT_EQ(v[7], 3.0) << "three rows of rank 0";
  EXPECT_EQ(v[8], 1.0) << "the step was skipped";
  for (int i = 0; i < 12; ++i)
    if (i < 6 || i > 8) EXPECT_EQ(v[i], -7.0) << i;

  // f64 loss, the flag clear, and an undefined flag: an applied step.
  Tensor loss64 = Tensor::from_vector(std::vector<double>{NAN}, {1});
  step_log_record(loss64, ranks.narrow(0, 1, 4), Tensor::zeros({1}, DType::i32), log, 0);
  step_log_record(loss64, ranks, Tensor(), log, 3);
  v = log.to_vector<double>();
  EXPECT_TRUE(std::isnan(v[0]));
  EXPECT_EQ(v[1], 1.0);
  EXPECT_EQ(v[2], 0.0);
  EXPECT_EQ(v[10], 3.0);
  EXPECT_EQ(v[11], 0.0);
}

TEST(StepLog, NamesTheWrongArgument) {
  Tensor log = Tensor::zeros({2, kStepLogFields}, DType::f64);
  Tensor ranks = Tensor::zeros({5}, DType::i64);
  Tensor loss = Tensor::zeros({1});
  EXPECT_MINIDL_ERROR(step_log_record(loss, ranks, Tensor(), log, 2), "slot 2", "2 rows");
  EXPECT_MINIDL_ERROR(step_log_record(loss, ranks, Tensor(), log, -1), "slot -1");
  EXPECT_MINIDL_ERROR(step_log_record(Tensor::zeros({2}), ranks, Tensor(), log, 0), "loss [2]");
  EXPECT_MINIDL_ERROR(step_log_record(loss, Tensor::zeros({5}), Tensor(), log, 0), "ranks [5] f32");
  EXPECT_MINIDL_ERROR(step_log_record(loss, ranks, Tensor(), Tensor::zeros({2, 3}), 0),
                      "log [2, 3] f32");
  EXPECT_MINIDL_ERROR(step_log_record(loss, ranks, Tensor::zeros({1}), log, 0), "flag");
}

}  // namespace
}  // namespace minidl
