// step_log_record's CUDA twin against the CPU twin, bit for bit: batch sizes around the block's
// 256 threads and beyond, f32 and f64 losses, the flag set, clear and undefined, a cursor in the
// middle of the log and one past its end; the cursor advances on both. Skipped without a GPU.
#include <gtest/gtest.h>

#include "kernels/step_log.h"
#include "tests/testing.h"

namespace minidl {
namespace {

TEST(CudaTwin, StepLogRecordEqualsTheCpuTwin) {
  MINIDL_SKIP_WITHOUT_GPU();
  const Device gpu = Device::cuda(0);
  for (int64_t n : {1, 255, 256, 257, 10007})
    for (DType loss_type : {DType::f32, DType::f64})
      for (int flag_state : {-1, 0, 1}) {
        SCOPED_TRACE(::testing::Message() << "n " << n << " " << dtype_name(loss_type) << " flag "
                                          << flag_state);
        std::vector<int64_t> r(n);
        for (int64_t i = 0; i < n; ++i) r[i] = (i * 7919 + n) % 5 - 1;  // -1 .. 3
        Tensor ranks = Tensor::from_vector(r, {n});
        Tensor loss = Tensor::full({1}, 2.3456789, loss_type);
        Tensor flag = flag_state < 0 ? Tensor() : Tensor::full({1}, flag_state, DType::i32);
        for (int64_t slot : {3, 5}) {
          Tensor want = Tensor::full({5, kStepLogFields}, -1.0, DType::f64);
          Tensor want_cursor = Tensor::full({1}, slot, DType::i64);
          step_log_record(loss, ranks, flag, want, want_cursor);
          Tensor got = Tensor::full({5, kStepLogFields}, -1.0, DType::f64, gpu);
          Tensor got_cursor = Tensor::full({1}, slot, DType::i64, gpu);
          step_log_record(loss.to(gpu), ranks.to(gpu), flag.defined() ? flag.to(gpu) : Tensor(),
                          got, got_cursor);
          EXPECT_EQ(got.to(Device::cpu()).to_vector<double>(), want.to_vector<double>());
          EXPECT_EQ(got_cursor.item<int64_t>(), slot + 1);
        }
      }
}

}  // namespace
}  // namespace minidl
