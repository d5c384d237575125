// step_log_record's contract: the cursor's slot gets the loss (f32 converted exactly, or f64), the
// count of rank-0 rows (ignored rows, rank -1, are no hits) and the skip flag, no other slot
// changes, and the cursor advances by one; an undefined flag reads as applied; a cursor outside
// the log writes nothing and still advances; the argument errors name the argument.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "core/fill.h"
#include "kernels/step_log.h"
#include "tests/testing.h"

namespace minidl {
namespace {

TEST(StepLog, WritesOneSlotAndNothingElse) {
  Tensor log = Tensor::full({4, kStepLogFields}, -7.0, DType::f64);
  Tensor ranks = Tensor::from_vector(std::vector<int64_t>{0, 3, 0, -1, 1, 0, 2}, {7});
  Tensor loss = Tensor::from_vector(std::vector<float>{0.1f}, {1});
  Tensor flag = Tensor::from_vector(std::vector<int32_t>{1}, {1});
  Tensor cursor = Tensor::full({1}, 2, DType::i64);
  step_log_record(loss, ranks, flag, log, cursor);
  EXPECT_EQ(cursor.item<int64_t>(), 3);
  std::vector<double> v = log.to_vector<double>();
  EXPECT_EQ(v[6], static_cast<double>(0.1f)) << "the f32 loss, converted exactly";
  EXPECT_EQ(v[7], 3.0) << "three rows of rank 0";
  EXPECT_EQ(v[8], 1.0) << "the step was skipped";
  for (int i = 0; i < 12; ++i)
    if (i < 6 || i > 8) EXPECT_EQ(v[i], -7.0) << i;

  // f64 loss, the flag clear, and an undefined flag: an applied step.
  Tensor loss64 = Tensor::from_vector(std::vector<double>{NAN}, {1});
  fill(cursor, 0);
  step_log_record(loss64, ranks.narrow(0, 1, 4), Tensor::zeros({1}, DType::i32), log, cursor);
  fill(cursor, 3);
  step_log_record(loss64, ranks, Tensor(), log, cursor);
  EXPECT_EQ(cursor.item<int64_t>(), 4);
  v = log.to_vector<double>();
  EXPECT_TRUE(std::isnan(v[0]));
  EXPECT_EQ(v[1], 1.0);
  EXPECT_EQ(v[2], 0.0);
  EXPECT_EQ(v[10], 3.0);
  EXPECT_EQ(v[11], 0.0);

  // Past the end (and a negative cursor): nothing written, the cursor still counts.
  const std::vector<double> before = log.to_vector<double>();
  step_log_record(loss, ranks, flag, log, cursor);
  EXPECT_EQ(cursor.item<int64_t>(), 5);
  fill(cursor, -1);
  step_log_record(loss, ranks, flag, log, cursor);
  EXPECT_EQ(cursor.item<int64_t>(), 0);
  const std::vector<double> after = log.to_vector<double>();  // bits: row 0 holds a NaN
  EXPECT_EQ(std::memcmp(after.data(), before.data(), before.size() * sizeof(double)), 0);
}

// Records in a row fill the log's rows in order: what the training loop (and a replayed CUDA
// graph, whose launch arguments cannot change) relies on.
TEST(StepLog, TheCursorWalksTheRows) {
  Tensor log = Tensor::zeros({3, kStepLogFields}, DType::f64);
  Tensor cursor = Tensor::zeros({1}, DType::i64);
  Tensor ranks = Tensor::zeros({2}, DType::i64);
  for (int k = 0; k < 3; ++k)
    step_log_record(Tensor::full({1}, 10.0 + k), ranks, Tensor(), log, cursor);
  EXPECT_EQ(cursor.item<int64_t>(), 3);
  const std::vector<double> v = log.to_vector<double>();
  for (int k = 0; k < 3; ++k) EXPECT_EQ(v[k * kStepLogFields], 10.0 + k) << k;
}

TEST(StepLog, NamesTheWrongArgument) {
  Tensor log = Tensor::zeros({2, kStepLogFields}, DType::f64);
  Tensor ranks = Tensor::zeros({5}, DType::i64);
  Tensor loss = Tensor::zeros({1});
  Tensor c = Tensor::zeros({1}, DType::i64);
  EXPECT_MINIDL_ERROR(step_log_record(loss, ranks, Tensor(), log, Tensor::zeros({1})),
                      "cursor [1] f32", "one i64");
  EXPECT_MINIDL_ERROR(step_log_record(loss, ranks, Tensor(), log, Tensor::zeros({2}, DType::i64)),
                      "cursor [2]");
  EXPECT_MINIDL_ERROR(step_log_record(loss, ranks, Tensor(), log, Tensor()), "cursor");
  EXPECT_MINIDL_ERROR(step_log_record(Tensor::zeros({2}), ranks, Tensor(), log, c), "loss [2]");
  EXPECT_MINIDL_ERROR(step_log_record(loss, Tensor::zeros({5}), Tensor(), log, c), "ranks [5] f32");
  EXPECT_MINIDL_ERROR(step_log_record(loss, ranks, Tensor(), Tensor::zeros({2, 3}), c),
                      "log [2, 3] f32");
  EXPECT_MINIDL_ERROR(step_log_record(loss, ranks, Tensor::zeros({1}), log, c), "flag");
}

}  // namespace
}  // namespace minidl
