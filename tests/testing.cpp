#include "tests/testing.h"

#include <cmath>
#include <limits>
#include <random>
#include <sstream>

namespace minidl::testing {

Tensor random_tensor(const Shape& shape, uint32_t seed, float lo, float hi) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(static_cast<size_t>(shape_numel(shape)));
  for (float& x : v) x = dist(rng);
  return Tensor::from_vector(v, shape);
}

Tensor tensor_with_specials(const Shape& shape, uint32_t seed, const Tensor* cancel) {
  Tensor t = random_tensor(shape, seed);
  float* p = t.data<float>();
  const float inf = std::numeric_limits<float>::infinity();
  const float specials[] = {0.f, -0.f, inf, -inf, std::numeric_limits<float>::quiet_NaN(), 1e-38f};
  for (int64_t i = 0; i < t.numel(); i += 97) p[i] = specials[(i / 97) % 6];
  if (cancel)
    for (int64_t i = 5; i < t.numel(); i += 101) p[i] = -cancel->data<float>()[i];
  return t;
}

::testing::AssertionResult all_close(const Tensor& actual, const Tensor& ref, double atol,
                                     double rtol) {
  if (actual.shape() != ref.shape())
    return ::testing::AssertionFailure()
           << "shapes differ: " << shape_str(actual.shape()) << " vs " << shape_str(ref.shape());
  std::vector<float> a = actual.to_vector<float>(), r = ref.to_vector<float>();
  int64_t bad = 0, worst = -1;
  double worst_excess = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    double diff = std::fabs(static_cast<double>(a[i]) - r[i]);
    double tol = atol + rtol * std::fabs(static_cast<double>(r[i]));
    bool nan_ok = std::isnan(a[i]) && std::isnan(r[i]);
    if (!(diff <= tol) && !nan_ok) {
      ++bad;
      if (worst < 0 || diff - tol > worst_excess || std::isnan(diff)) {
        worst = static_cast<int64_t>(i);
        worst_excess = diff - tol;
      }
    }
  }
  if (bad == 0) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << bad << " of " << a.size() << " elements differ (atol " << atol << ", rtol " << rtol
         << "); worst at flat index " << worst << ": " << a[worst] << " vs reference " << r[worst];
}

bool has_gpu() {
  return cuda_device_count() > 0;
}

namespace {

std::vector<std::vector<uint8_t>> bytes_of_all(const std::vector<Tensor>& ts) {
  std::vector<std::vector<uint8_t>> out;
  for (const Tensor& t : ts) {
    Tensor c = t.to(Device::cpu()).contiguous();
    const uint8_t* p = static_cast<const uint8_t*>(c.data_ptr());
    out.emplace_back(p, p + c.nbytes());
  }
  return out;
}

}  // namespace

::testing::AssertionResult same_bits_on_every_isa(const std::function<std::vector<Tensor>()>& run) {
  const CpuIsa saved = cpu_isa();
  struct Restore {
    CpuIsa isa;
    ~Restore() { set_cpu_isa(isa); }
  } restore{saved};
  set_cpu_isa(CpuIsa::baseline);
  const std::vector<Tensor> ref_tensors = run();
  const auto ref = bytes_of_all(ref_tensors);
  for (CpuIsa isa : supported_cpu_isas()) {
    if (isa == CpuIsa::baseline) continue;
    set_cpu_isa(isa);
    const auto got = bytes_of_all(run());
    if (got.size() != ref.size())
      return ::testing::AssertionFailure() << cpu_isa_name(isa) << " returned " << got.size()
                                           << " tensors, baseline " << ref.size();
    for (size_t t = 0; t < ref.size(); ++t) {
      if (got[t] == ref[t]) continue;
      size_t at = 0;
      while (at < ref[t].size() && at < got[t].size() && got[t][at] == ref[t][at]) ++at;
      return ::testing::AssertionFailure()
             << "tensor " << t << " " << shape_str(ref_tensors[t].shape()) << " "
             << dtype_name(ref_tensors[t].dtype()) << ": " << cpu_isa_name(isa)
             << " differs from baseline first at byte " << at << " (element "
             << at / dtype_size(ref_tensors[t].dtype()) << ")";
    }
  }
  return ::testing::AssertionSuccess();
}

}  // namespace minidl::testing
