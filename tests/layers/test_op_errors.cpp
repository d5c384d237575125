// The layer op families' argument checks: each error names the op and the offending shapes.
#include <gtest/gtest.h>

#include "kernels/batchnorm.h"
#include "kernels/conv.h"
#include "kernels/dropout.h"
#include "kernels/lrn.h"
#include "kernels/pool.h"
#include "kernels/softmax_xent.h"
#include "kernels/subsample_pad_channels.h"
#include "tests/testing.h"

namespace minidl {
namespace {

TEST(OpErrors, Convolution) {
  Tensor x = Tensor::zeros({2, 3, 8, 8}), w = Tensor::zeros({4, 3, 3, 3});
  ConvParams p;
  EXPECT_MINIDL_ERROR(
      conv2d_forward(x, Tensor::zeros({4, 2, 3, 3}), Tensor(), Tensor::zeros({2, 4, 6, 6}), p),
      "conv2d_forward", "[4, 2, 3, 3]", "3");
  EXPECT_MINIDL_ERROR(conv2d_forward(x, w, Tensor(), Tensor::zeros({2, 4, 8, 8}), p),
                      "conv2d_forward", "y has shape [2, 4, 8, 8]", "[2, 4, 6, 6]");
  EXPECT_MINIDL_ERROR(conv2d_forward(x, w, Tensor::zeros({3}), Tensor::zeros({2, 4, 6, 6}), p),
                      "b has shape [3]");
  EXPECT_MINIDL_ERROR(conv2d_forward(x.to(DType::f64), w, Tensor(), Tensor::zeros({2, 4, 6, 6}), p),
                      "w", "dtype f32, expected f64");
  EXPECT_MINIDL_ERROR(conv2d_forward(x.contiguous(MemoryFormat::channels_last), w, Tensor(),
                                     Tensor::zeros({2, 4, 6, 6}), p),
                      "y [2, 4, 6, 6] must be laid out like x (channels-last)");
  EXPECT_MINIDL_ERROR(
      conv2d_backward(x, w, Tensor::zeros({2, 4, 5, 5}), Tensor(), Tensor(), Tensor(), p),
      "conv2d_backward", "dy has shape [2, 4, 5, 5]");
  p.stride_h = 0;
  EXPECT_MINIDL_ERROR(conv2d_forward(x, w, Tensor(), Tensor::zeros({2, 4, 6, 6}), p), "bad kernel");
}

TEST(OpErrors, BatchNormPoolLrnDropoutLoss) {
  Tensor x = Tensor::zeros({2, 3, 4, 4});
  Tensor c3 = Tensor::zeros({3});
  EXPECT_MINIDL_ERROR(batchnorm_forward_train(x, Tensor::zeros({4}), c3, Tensor::zeros(x.shape()),
                                              c3, c3, Tensor(), Tensor(), 0.1, 1e-5),
                      "batchnorm_forward_train", "gamma has shape [4]", "[3]");
  EXPECT_MINIDL_ERROR(batchnorm_forward_train(x, c3, c3, Tensor::zeros({2, 3, 4, 5}), c3, c3,
                                              Tensor(), Tensor(), 0.1, 1e-5),
                      "shape mismatch", "[2, 3, 4, 5]");
  EXPECT_MINIDL_ERROR(
      batchnorm_forward_eval(x, c3, c3, c3, Tensor(), Tensor::zeros(x.shape()), 1e-5),
      "running_var is an undefined tensor");
  PoolParams pp;
  pp.kernel_h = pp.kernel_w = 2;
  pp.stride_h = pp.stride_w = 2;
  // An undefined argmax is allowed in the forward (eval mode records none), not in the backward.
  EXPECT_MINIDL_ERROR(pool2d_forward(PoolKind::max, x, Tensor::zeros({2, 3, 2, 2}),
                                     Tensor::zeros({2, 3, 2, 3}, DType::i32), pp),
                      "max_pool2d_forward", "argmax has shape [2, 3, 2, 3]");
  EXPECT_MINIDL_ERROR(pool2d_backward(PoolKind::max, Tensor::zeros({2, 3, 2, 2}), Tensor(),
                                      Tensor::zeros(x.shape()), pp),
                      "max_pool2d_backward", "argmax is an undefined tensor");
  EXPECT_MINIDL_ERROR(pool2d_forward(PoolKind::avg, x, Tensor::zeros({2, 3, 3, 3}), Tensor(), pp),
                      "avg_pool2d_forward", "y has shape [2, 3, 3, 3]", "[2, 3, 2, 2]");
  EXPECT_MINIDL_ERROR(global_avg_pool_forward(Tensor::zeros({2, 3}), Tensor::zeros({2, 3, 1, 1})),
                      "global_avg_pool_forward", "4-d");
  LrnParams lp;
  lp.size = 2;
  EXPECT_MINIDL_ERROR(lrn_forward(x, Tensor::zeros(x.shape()), Tensor::zeros(x.shape()), lp),
                      "lrn_forward", "odd");
  EXPECT_MINIDL_ERROR(dropout_forward(x, Tensor::zeros(x.shape()), 1.5f, 1, 0), "dropout",
                      "outside [0, 1]");
  EXPECT_MINIDL_ERROR(subsample_pad_channels_forward(x, Tensor::zeros({2, 2, 2, 2}), 2, 0),
                      "subsample_pad_channels_forward", "does not fit");
  Tensor z = Tensor::zeros({4, 5}), labels = Tensor::zeros({3}, DType::i64);
  EXPECT_MINIDL_ERROR(softmax_xent_forward(z, labels, Tensor::zeros({4, 5}), Tensor::zeros({4}),
                                           Tensor::zeros({4}, DType::i64), 0.0),
                      "softmax_xent_forward", "labels has shape [3]", "[4]");
}

}  // namespace
}  // namespace minidl
