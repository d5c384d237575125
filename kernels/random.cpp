#include "kernels/random.h"

namespace minidl {

static void random_fill(const char* op, const Tensor& t, RandomSpec spec) {
  check_defined(op, t, "t");
  check_contiguous(op, t, "t");
  MINIDL_CHECK(
      t.dtype() == DType::f32 || (spec.kind == RandomKind::bernoulli && t.dtype() == DType::u8), op,
      ": t ", shape_str(t.shape()), " has dtype ", dtype_name(t.dtype()),
      spec.kind == RandomKind::bernoulli ? ", expected f32 or u8" : ", expected f32");
  MINIDL_DISPATCH(t.device(), random_fill, t, spec);
}

void uniform_(const Tensor& t, float lo, float hi, uint64_t seed, uint64_t offset) {
  MINIDL_CHECK(lo <= hi, "uniform_: lo ", lo, " > hi ", hi);
  random_fill("uniform_", t, {RandomKind::uniform, lo, hi, seed, offset});
}

void normal_(const Tensor& t, float mean, float std, uint64_t seed, uint64_t offset) {
  MINIDL_CHECK(std >= 0, "normal_: negative std ", std);
  random_fill("normal_", t, {RandomKind::normal, mean, std, seed, offset});
}

void bernoulli_(const Tensor& t, float p, uint64_t seed, uint64_t offset) {
  MINIDL_CHECK(p >= 0 && p <= 1, "bernoulli_: probability ", p, " outside [0, 1]");
  random_fill("bernoulli_", t, {RandomKind::bernoulli, p, 0.f, seed, offset});
}

void uniform_(const Tensor& t, float lo, float hi, Generator& gen) {
  uniform_(t, lo, hi, gen.seed(), gen.reserve(uniform_counters(t.numel())));
}
void normal_(const Tensor& t, float mean, float std, Generator& gen) {
  normal_(t, mean, std, gen.seed(), gen.reserve(normal_counters(t.numel())));
}
void bernoulli_(const Tensor& t, float p, Generator& gen) {
  bernoulli_(t, p, gen.seed(), gen.reserve(uniform_counters(t.numel())));
}

}  // namespace minidl
