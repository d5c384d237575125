// CUDA convolution on cuDNN (legacy v7 API, still shipped by cuDNN 9): forward, backward-data,
// backward-filter and backward-bias. Each direction's algorithm is chosen once per shape (dtype,
// layout, sizes, TF32 and benchmark settings, device) by cudnnGet*Algorithm_v7's heuristics, or
// timed with cudnnFind*AlgorithmEx when set_conv_benchmark(true), and cached; the
// workspace is a Tensor from the stream-ordered caching allocator, freed right after the launch.
// f32 (TF32 tensor cores unless set_conv_allow_tf32(false)), f64, and bf16 / f16 tensors with f32
// compute on tensor cores (mixed precision, kernels/conv.h).
#include <cudnn.h>

#include <algorithm>
#include <map>
#include <mutex>
#include <sstream>
#include <string>

#include "core/context.h"
#include "core/copy.h"
#include "kernels/conv.h"

namespace minidl {
namespace cuda {
namespace {

constexpr size_t kMaxWorkspace = size_t(1) << 30;  // algorithms needing more are skipped

// The tensors' element type; a 16-bit convolution runs with 16-bit x, w, y and f32 compute (cuDNN's
// PSEUDO_BFLOAT16 / PSEUDO_HALF configurations: f32 accumulation, one rounding of each result).
cudnnDataType_t cudnn_dtype(DType t) {
  switch (t) {
    case DType::f64:
      return CUDNN_DATA_DOUBLE;
    case DType::bf16:
      return CUDNN_DATA_BFLOAT16;
    case DType::f16:
      return CUDNN_DATA_HALF;
    default:
      return CUDNN_DATA_FLOAT;
  }
}
cudnnDataType_t compute_dtype(DType t) {
  return t == DType::f64 ? CUDNN_DATA_DOUBLE : CUDNN_DATA_FLOAT;
}

// RAII descriptors (destructors log instead of throwing).
struct TensorDesc {
  cudnnTensorDescriptor_t d = nullptr;
  TensorDesc() { MINIDL_CUDNN_CHECK(cudnnCreateTensorDescriptor(&d)); }
  ~TensorDesc() {
    if (d) cudnnDestroyTensorDescriptor(d);
  }
  // [n, c, h, w] with the given layout's strides.
  void set(DType t, int64_t n, int64_t c, int64_t h, int64_t w, bool channels_last) {
    int sn = static_cast<int>(c * h * w), sc = channels_last ? 1 : static_cast<int>(h * w),
        sh = static_cast<int>(channels_last ? w * c : w),
        sw = channels_last ? static_cast<int>(c) : 1;
    MINIDL_CUDNN_CHECK(cudnnSetTensor4dDescriptorEx(d, cudnn_dtype(t), static_cast<int>(n),
                                                    static_cast<int>(c), static_cast<int>(h),
                                                    static_cast<int>(w), sn, sc, sh, sw));
  }
};

struct FilterDesc {
  cudnnFilterDescriptor_t d = nullptr;
  FilterDesc() { MINIDL_CUDNN_CHECK(cudnnCreateFilterDescriptor(&d)); }
  ~FilterDesc() {
    if (d) cudnnDestroyFilterDescriptor(d);
  }
};

struct ConvDesc {
  cudnnConvolutionDescriptor_t d = nullptr;
  ConvDesc() { MINIDL_CUDNN_CHECK(cudnnCreateConvolutionDescriptor(&d)); }
  ~ConvDesc() {
    if (d) cudnnDestroyConvolutionDescriptor(d);
  }
};

// The descriptors of one call.
struct Descs {
  TensorDesc x, y, bias;
  FilterDesc w;
  ConvDesc conv;
  cudnnMathType_t math;  // what the descriptor allows before an algorithm narrows it
  Descs(const ConvGeometry& g, DType t) {
    check_cudnn_geometry(g);  // the static_casts below cannot wrap
    x.set(t, g.N, g.C, g.H, g.W, g.channels_last);
    y.set(t, g.N, g.O, g.OH, g.OW, g.channels_last);
    bias.set(t, 1, g.O, 1, 1, false);
    MINIDL_CUDNN_CHECK(cudnnSetFilter4dDescriptor(
        w.d, cudnn_dtype(t), g.channels_last ? CUDNN_TENSOR_NHWC : CUDNN_TENSOR_NCHW,
        static_cast<int>(g.O), static_cast<int>(g.C), static_cast<int>(g.KH),
        static_cast<int>(g.KW)));
    MINIDL_CUDNN_CHECK(cudnnSetConvolution2dDescriptor(
        conv.d, static_cast<int>(g.PH), static_cast<int>(g.PW), static_cast<int>(g.SH),
        static_cast<int>(g.SW), static_cast<int>(g.DH), static_cast<int>(g.DW),
        CUDNN_CROSS_CORRELATION, compute_dtype(t)));
    if (is_16bit_float(t))  // tensor cores: what 16 bits are for
      math = CUDNN_TENSOR_OP_MATH;
    else
      math = (t == DType::f32 && !conv_allow_tf32()) ? CUDNN_FMA_MATH : CUDNN_DEFAULT_MATH;
    MINIDL_CUDNN_CHECK(cudnnSetConvolutionMathType(conv.d, math));
  }
};

// The chosen algorithm of each direction (-1: not chosen yet) with its math type and workspace.
struct Choice {
  int algo = -1;
  cudnnMathType_t math = CUDNN_DEFAULT_MATH;
  size_t workspace = 0;
};
struct Algorithms {
  Choice fwd, bwd_data, bwd_filter;
};

std::mutex g_cache_mutex;
std::map<std::string, Algorithms> g_cache;

std::string cache_key(const ConvGeometry& g, DType t, Device d) {
  std::ostringstream k;
  k << d.index << '|' << dtype_name(t) << '|' << g.channels_last << '|' << conv_allow_tf32()
    << conv_benchmark() << conv_deterministic() << '|' << g.N << ',' << g.C << ',' << g.H << ','
    << g.W << '|' << g.O << ',' << g.KH << ',' << g.KW << '|' << g.SH << ',' << g.SW << ',' << g.PH
    << ',' << g.PW << ',' << g.DH << ',' << g.DW;
  return k.str();
}

// Takes the first heuristic result that ran, fits the workspace limit and respects the TF32 and
// determinism settings.
template <typename Perf>
Choice pick(const Perf* perf, int count, const Descs& d, const char* what, const ConvGeometry& g) {
  for (int i = 0; i < count; ++i) {
    if (perf[i].status != CUDNN_STATUS_SUCCESS || perf[i].memory > kMaxWorkspace) continue;
    if (conv_deterministic() && perf[i].determinism != CUDNN_DETERMINISTIC) continue;
    if (d.math == CUDNN_FMA_MATH && perf[i].mathType == CUDNN_TENSOR_OP_MATH) continue;
    // never let f32/f64 data be converted down to half precision
    if (perf[i].mathType == CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION) continue;
    Choice c;
    c.algo = static_cast<int>(perf[i].algo);
    c.math = d.math == CUDNN_FMA_MATH ? CUDNN_FMA_MATH : perf[i].mathType;
    c.workspace = perf[i].memory;
    return c;
  }
  MINIDL_FAIL("conv2d (cuDNN): no ", what, conv_deterministic() ? " deterministic" : "",
              " algorithm for x [", g.N, ", ", g.C, ", ", g.H, ", ", g.W, "], w [", g.O, ", ", g.C,
              ", ", g.KH, ", ", g.KW, "]");
}

// The cached algorithm of one direction, chosen by `choose` on first use (outside the lock: the
// heuristic query may be slow; two threads choosing at once store the same answer).
template <typename F>
Choice cached_choice(const std::string& key, Choice Algorithms::*dir, F choose) {
  {
    std::lock_guard<std::mutex> lock(g_cache_mutex);
    auto it = g_cache.find(key);
    if (it != g_cache.end() && (it->second.*dir).algo >= 0) return it->second.*dir;
  }
  Choice c = choose();
  std::lock_guard<std::mutex> lock(g_cache_mutex);
  g_cache[key].*dir = c;
  return c;
}

// The largest workspace among the heuristic candidates that fit kMaxWorkspace: what a timed search
// is given.
template <typename Perf>
size_t search_workspace(const Perf* perf, int n) {
  size_t bytes = 0;
  for (int i = 0; i < n; ++i)
    if (perf[i].status == CUDNN_STATUS_SUCCESS && perf[i].memory <= kMaxWorkspace)
      bytes = std::max(bytes, perf[i].memory);
  return bytes;
}

void* workspace_ptr(Tensor& ws, size_t bytes, Device device) {
  if (bytes == 0) return nullptr;
  ws = Tensor::empty({static_cast<int64_t>(bytes)}, DType::u8, device);
  return ws.data_ptr();
}

// One direction's algorithm: cuDNN's heuristic ranking (`rank`), re-ranked by timing each candidate
// (`time`) when set_conv_benchmark(true), then the first usable one. The three directions differ
// only in their perf struct, its count and these two calls.
template <typename Perf, int kCount, typename Rank, typename Time>
Choice choose(const Descs& d, const ConvGeometry& g, Device device, const char* what, Rank rank,
              Time time) {
  // The descriptor still carries the math type the previous direction's choice set (e.g. tensor
  // ops for backward-filter): each query starts from what the settings allow.
  MINIDL_CUDNN_CHECK(cudnnSetConvolutionMathType(d.conv.d, d.math));
  Perf perf[kCount];
  int n = 0;
  MINIDL_CUDNN_CHECK(rank(kCount, &n, perf));
  if (conv_benchmark()) {
    Tensor ws;
    const size_t bytes = search_workspace(perf, n);
    MINIDL_CUDNN_CHECK(time(kCount, &n, perf, workspace_ptr(ws, bytes, device), bytes));
  }
  return pick(perf, n, d, what, g);
}

// cuDNN's scaling factors are host values of the compute type: double for f64, float otherwise.
struct Scalars {
  float f0 = 0.f, f1 = 1.f;
  double d0 = 0.0, d1 = 1.0;
  bool dbl;
  explicit Scalars(DType t) : dbl(t == DType::f64) {}
  const void* zero() const { return dbl ? static_cast<const void*>(&d0) : &f0; }
  const void* one() const { return dbl ? static_cast<const void*>(&d1) : &f1; }
};

// The filter in the layout cuDNN is told (NHWC filters for channels-last activations).
Tensor filter_for(const Tensor& w, const ConvGeometry& g) {
  return g.channels_last ? w.contiguous(MemoryFormat::channels_last) : w;
}

}  // namespace

int64_t conv_algorithm_cache_size() {
  std::lock_guard<std::mutex> lock(g_cache_mutex);
  return static_cast<int64_t>(g_cache.size());
}

void conv2d_forward(const Tensor& x, const Tensor& w, const Tensor& b, const Tensor& y,
                    const ConvGeometry& g, Stream s) {
  cudnnHandle_t h = cudnn_handle(s);
  Descs d(g, x.dtype());
  std::string key = cache_key(g, x.dtype(), x.device());
  Tensor wf = filter_for(w, g), ws;
  Choice c = cached_choice(key, &Algorithms::fwd, [&] {
    using Perf = cudnnConvolutionFwdAlgoPerf_t;
    return choose<Perf, CUDNN_CONVOLUTION_FWD_ALGO_COUNT>(
        d, g, x.device(), "forward",
        [&](int max, int* n, Perf* perf) {
          return cudnnGetConvolutionForwardAlgorithm_v7(h, d.x.d, d.w.d, d.conv.d, d.y.d, max, n,
                                                        perf);
        },
        [&](int max, int* n, Perf* perf, void* wsp, size_t bytes) {  // y is overwritten later
          return cudnnFindConvolutionForwardAlgorithmEx(h, d.x.d, x.data_ptr(), d.w.d,
                                                        wf.data_ptr(), d.conv.d, d.y.d,
                                                        y.data_ptr(), max, n, perf, wsp, bytes);
        });
  });
  MINIDL_CUDNN_CHECK(cudnnSetConvolutionMathType(d.conv.d, c.math));
  Scalars k(x.dtype());
  void* wsp = workspace_ptr(ws, c.workspace, x.device());
  MINIDL_CUDNN_CHECK(cudnnConvolutionForward(h, k.one(), d.x.d, x.data_ptr(), d.w.d, wf.data_ptr(),
                                             d.conv.d,
                                             static_cast<cudnnConvolutionFwdAlgo_t>(c.algo), wsp,
                                             c.workspace, k.zero(), d.y.d, y.data_ptr()));
  if (b.defined())
    MINIDL_CUDNN_CHECK(
        cudnnAddTensor(h, k.one(), d.bias.d, b.data_ptr(), k.one(), d.y.d, y.data_ptr()));
}

void conv2d_backward(const Tensor& x, const Tensor& w, const Tensor& dy, const Tensor& dx,
                     const Tensor& dw, const Tensor& db, const ConvGeometry& g, Stream s) {
  cudnnHandle_t h = cudnn_handle(s);
  Descs d(g, x.dtype());
  std::string key = cache_key(g, x.dtype(), x.device());
  Scalars k(x.dtype());
  if (db.defined())  // db += sum of dy over N, OH, OW
    MINIDL_CUDNN_CHECK(cudnnConvolutionBackwardBias(h, k.one(), d.y.d, dy.data_ptr(), k.one(),
                                                    d.bias.d, db.data_ptr()));
  if (dw.defined()) {
    Choice c = cached_choice(key, &Algorithms::bwd_filter, [&] {
      // the timed search writes its result: give it a scratch filter, not the accumulated dw
      Tensor scratch =
          Tensor::empty(w.shape(), w.dtype(), w.device(),
                        g.channels_last ? MemoryFormat::channels_last : MemoryFormat::contiguous);
      using Perf = cudnnConvolutionBwdFilterAlgoPerf_t;
      return choose<Perf, CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT>(
          d, g, x.device(), "backward-filter",
          [&](int max, int* n, Perf* perf) {
            return cudnnGetConvolutionBackwardFilterAlgorithm_v7(h, d.x.d, d.y.d, d.conv.d, d.w.d,
                                                                 max, n, perf);
          },
          [&](int max, int* n, Perf* perf, void* wsp, size_t bytes) {
            return cudnnFindConvolutionBackwardFilterAlgorithmEx(
                h, d.x.d, x.data_ptr(), d.y.d, dy.data_ptr(), d.conv.d, d.w.d, scratch.data_ptr(),
                max, n, perf, wsp, bytes);
          });
    });
    MINIDL_CUDNN_CHECK(cudnnSetConvolutionMathType(d.conv.d, c.math));
    Tensor ws;
    void* wsp = workspace_ptr(ws, c.workspace, x.device());
    // dw += the sums (beta = 1: cuDNN adds in the compute type and rounds once). NHWC filters
    // accumulate in an NHWC copy of dw, copied back.
    Tensor target = filter_for(dw, g);
    MINIDL_CUDNN_CHECK(cudnnConvolutionBackwardFilter(
        h, k.one(), d.x.d, x.data_ptr(), d.y.d, dy.data_ptr(), d.conv.d,
        static_cast<cudnnConvolutionBwdFilterAlgo_t>(c.algo), wsp, c.workspace, k.one(), d.w.d,
        target.data_ptr()));
    if (target.data_ptr() != dw.data_ptr()) Tensor(dw).copy_(target);
  }
  if (dx.defined()) {
    Tensor wf = filter_for(w, g), ws;
    Choice c = cached_choice(key, &Algorithms::bwd_data, [&] {
      using Perf = cudnnConvolutionBwdDataAlgoPerf_t;
      return choose<Perf, CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT>(
          d, g, x.device(), "backward-data",
          [&](int max, int* n, Perf* perf) {
            return cudnnGetConvolutionBackwardDataAlgorithm_v7(h, d.w.d, d.y.d, d.conv.d, d.x.d,
                                                               max, n, perf);
          },
          [&](int max, int* n, Perf* perf, void* wsp, size_t bytes) {  // dx is overwritten later
            return cudnnFindConvolutionBackwardDataAlgorithmEx(
                h, d.w.d, wf.data_ptr(), d.y.d, dy.data_ptr(), d.conv.d, d.x.d, dx.data_ptr(), max,
                n, perf, wsp, bytes);
          });
    });
    MINIDL_CUDNN_CHECK(cudnnSetConvolutionMathType(d.conv.d, c.math));
    void* wsp = workspace_ptr(ws, c.workspace, x.device());
    MINIDL_CUDNN_CHECK(
        cudnnConvolutionBackwardData(h, k.one(), d.w.d, wf.data_ptr(), d.y.d, dy.data_ptr(),
                                     d.conv.d, static_cast<cudnnConvolutionBwdDataAlgo_t>(c.algo),
                                     wsp, c.workspace, k.zero(), d.x.d, dx.data_ptr()));
  }
}

}  // namespace cuda
}  // namespace minidl
