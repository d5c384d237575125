// Element-wise ops: add, sub, mul with per-channel broadcasting, axpy, scale, ReLU forward and
// backward. f32 (training) and f64 (gradient checks); add, sub, mul and ReLU also take bf16 and f16
// activations (docs/precision.md): each value is widened to f32, the element math runs in f32 and
// the result is rounded once (PyTorch's bf16 add). Tensors must be dense (contiguous, or all
// channels-last alike) and of one dtype; outputs may alias inputs.
#pragma once

#include "core/dispatch.h"

namespace minidl {

// ---- element math (shared by both twins) ----

enum class BinaryOp { add, sub, mul };

template <typename T>
MINIDL_HD T binary_element(BinaryOp op, T a, T b) {
  switch (op) {
    case BinaryOp::add:
      return a + b;
    case BinaryOp::sub:
      return a - b;
    case BinaryOp::mul:
      return a * b;
  }
  return T(0);
}

template <typename T>
MINIDL_HD T relu_forward_element(T x) {
  return x > T(0) ? x : T(0);
}
// Uses the output y (y > 0 exactly where x > 0), so the input need not be kept.
template <typename T>
MINIDL_HD T relu_backward_element(T y, T dy) {
  return y > T(0) ? dy : T(0);
}

// How the second operand b reaches element i of a: a's own shape, one value per channel (dim 1 of
// [N, C, ...]; `inner` elements per channel run, 1 for channels-last), or a single value.
struct Broadcast {
  enum Mode { same, per_channel, scalar } mode = same;
  int64_t channels = 1;
  int64_t inner = 1;
};

MINIDL_HD int64_t broadcast_index(const Broadcast& bc, int64_t i) {
  if (bc.mode == Broadcast::same) return i;
  if (bc.mode == Broadcast::scalar) return 0;
  return (i / bc.inner) % bc.channels;
}

// ---- twins ----

namespace cpu {
void binary(BinaryOp op, const Tensor& a, const Tensor& b, const Tensor& out, Broadcast bc,
            Stream s);
void axpy(double alpha, const Tensor& x, const Tensor& y, Stream s);
void scale(double alpha, const Tensor& x, const Tensor& out, Stream s);
void relu_forward(const Tensor& x, const Tensor& y, Stream s);
void relu_backward(const Tensor& y, const Tensor& dy, const Tensor& dx, Stream s);
}  // namespace cpu
namespace cuda {
void binary(BinaryOp op, const Tensor& a, const Tensor& b, const Tensor& out, Broadcast bc,
            Stream s);
void axpy(double alpha, const Tensor& x, const Tensor& y, Stream s);
void scale(double alpha, const Tensor& x, const Tensor& out, Stream s);
void relu_forward(const Tensor& x, const Tensor& y, Stream s);
void relu_backward(const Tensor& y, const Tensor& dy, const Tensor& dx, Stream s);
}  // namespace cuda

// ---- the ops ----

// Checks that every tensor has like's dtype (f32, f64, bf16 or f16: the twins name the ones they
// take), shape, device and dense layout.
void check_elementwise(const char* op, const Tensor& like,
                       const std::vector<const Tensor*>& others);
// Decides how b broadcasts against a; throws naming both shapes if it cannot.
Broadcast broadcast_for(const char* op, const Tensor& a, const Tensor& b);

// out = a (op) b. b: a's shape, [C] with C = a.size(1), or one element.
inline void binary(const char* name, BinaryOp op, const Tensor& a, const Tensor& b,
                   const Tensor& out) {
  check_elementwise(name, a, {&out});
  Broadcast bc = broadcast_for(name, a, b);
  MINIDL_DISPATCH(a.device(), binary, op, a, b, out, bc);
}
inline void add(const Tensor& a, const Tensor& b, const Tensor& out) {
  binary("add", BinaryOp::add, a, b, out);
}
inline void sub(const Tensor& a, const Tensor& b, const Tensor& out) {
  binary("sub", BinaryOp::sub, a, b, out);
}
inline void mul(const Tensor& a, const Tensor& b, const Tensor& out) {
  binary("mul", BinaryOp::mul, a, b, out);
}

// y += alpha * x
inline void axpy(double alpha, const Tensor& x, const Tensor& y) {
  check_elementwise("axpy", y, {&x});
  MINIDL_DISPATCH(y.device(), axpy, alpha, x, y);
}

// out = alpha * x
inline void scale(double alpha, const Tensor& x, const Tensor& out) {
  check_elementwise("scale", x, {&out});
  MINIDL_DISPATCH(x.device(), scale, alpha, x, out);
}

// y = max(x, 0)
inline void relu_forward(const Tensor& x, const Tensor& y) {
  check_elementwise("relu_forward", x, {&y});
  MINIDL_DISPATCH(x.device(), relu_forward, x, y);
}

// dx = dy where y > 0, else 0 (y: the forward output)
inline void relu_backward(const Tensor& y, const Tensor& dy, const Tensor& dx) {
  check_elementwise("relu_backward", y, {&dy, &dx});
  MINIDL_DISPATCH(y.device(), relu_backward, y, dy, dx);
}

}  // namespace minidl
