// oneDNN convolution primitives, cached per shape and direction (see conv_onednn.h for the
// contract).
//
// A Plan is one primitive with its operands. Each operand has minidl's layout (plain NCHW or NHWC,
// w as OIHW) and the layout the primitive chose (format_tag::any, so oneDNN takes its fastest
// blocked layout); where they differ the operand owns a buffer and a reorder. Outputs that minidl
// accumulates (dw) go through the buffer and a reorder with a sum post-op: dst = dst + result, one
// rounding.
#include "kernels/cpu/conv_onednn.h"

#include "core/parallel.h"
#include "kernels/cpu/conv_avx2.h"

#if MINIDL_WITH_ONEDNN
#include <omp.h>

#include <algorithm>
#include <array>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <oneapi/dnnl/dnnl.hpp>
#include <unordered_map>
#include <vector>
#endif

namespace minidl {
namespace cpu {
namespace conv_onednn {

#if !MINIDL_WITH_ONEDNN

bool built() {
  return false;
}
int64_t cache_size() {
  return 0;
}
static void unavailable() {
  MINIDL_CHECK(false, "conv2d: this minidl was built without oneDNN");
}
void forward(const float*, const float*, const float*, float*, const ConvGeometry&) {
  unavailable();
}
void backward_data(const float*, const float*, float*, const ConvGeometry&) {
  unavailable();
}
void backward_weights(const float*, const float*, float*, float*, const ConvGeometry&) {
  unavailable();
}

#else

namespace {
using dnnl::memory;
using Tag = memory::format_tag;
using Dims = memory::dims;

dnnl::engine& engine() {
  static dnnl::engine e(dnnl::engine::kind::cpu, 0);
  return e;
}

// A per-thread buffer for one role (0..3), grown as needed and kept for the next call: the chunks
// of one call run concurrently on minidl's threads, each with its own buffers.
float* scratch(int role, size_t bytes) {
  thread_local std::vector<float> buffers[4];
  auto& b = buffers[role];
  if (b.size() * sizeof(float) < bytes) b.resize((bytes + sizeof(float) - 1) / sizeof(float));
  return b.data();
}

// One tensor of a primitive: minidl's layout (`user`) and the primitive's (`prim`), and the reorder
// between them when they differ.
struct Operand {
  memory::desc user, prim;
  dnnl::primitive reorder;  // user -> prim (inputs) or prim -> user (outputs)
  int role = 0;             // which per-thread buffer holds the prim-layout copy

  bool differs() const { return user != prim; }
  void init(const memory::desc& u, const memory::desc& p, bool input, int r) {
    user = u, prim = p, role = r;
    if (!differs()) return;
    reorder = input ? dnnl::reorder(dnnl::reorder::primitive_desc(engine(), user, engine(), prim))
                    : dnnl::reorder(dnnl::reorder::primitive_desc(engine(), prim, engine(), user));
  }
  // The primitive's view of an input, reordered into a buffer when needed.
  memory input(const float* data, dnnl::stream& s) const {
    memory m(user, engine(), const_cast<float*>(data));
    if (!differs()) return m;
    memory b(prim, engine(), scratch(role, prim.get_size()));
    reorder.execute(s, {{DNNL_ARG_FROM, m}, {DNNL_ARG_TO, b}});
    return b;
  }
  // Where the primitive writes an output; `finish` moves it to `data` afterwards.
  memory output(float* data) const {
    return differs() ? memory(prim, engine(), scratch(role, prim.get_size()))
                     : memory(user, engine(), data);
  }
  void finish(const memory& written, float* data, dnnl::stream& s) const {
    if (!differs()) return;
    memory m(user, engine(), data);
    reorder.execute(s, {{DNNL_ARG_FROM, written}, {DNNL_ARG_TO, m}});
  }
};

enum class Direction { forward, backward_data, backward_weights };

// One cached primitive: out = f(a, b), plus the bias (forward: read; backward_weights: its
// gradient, written). Immutable once made, so the threads run it concurrently.
struct Plan {
  dnnl::primitive prim;
  Operand a, b, out;
  int a_arg = 0, b_arg = 0, out_arg = 0, bias_arg = 0;  // bias_arg 0: no bias
  memory::desc bias_md, scratchpad_md;
};

memory::desc activation(int64_t n, int64_t c, int64_t h, int64_t w, bool channels_last, Tag tag) {
  return memory::desc(Dims{n, c, h, w}, memory::data_type::f32,
                      tag == Tag::any ? Tag::any : (channels_last ? Tag::nhwc : Tag::nchw));
}

struct Descs {
  memory::desc src, wei, dst, bias;
  Dims strides, dilates, pad_l, pad_r;
};

// `tag`: Tag::any (the primitive's choice) or anything else for minidl's own layouts.
Descs descs(const ConvGeometry& g, Tag tag) {
  Descs d;
  d.src = activation(g.N, g.C, g.H, g.W, g.channels_last, tag);
  d.dst = activation(g.N, g.O, g.OH, g.OW, g.channels_last, tag);
  d.wei = memory::desc(Dims{g.O, g.C, g.KH, g.KW}, memory::data_type::f32,
                       tag == Tag::any ? Tag::any : Tag::oihw);
  d.bias = memory::desc(Dims{g.O}, memory::data_type::f32, Tag::x);
  d.strides = {g.SH, g.SW};
  d.dilates = {g.DH - 1, g.DW - 1};  // oneDNN counts the gaps
  d.pad_l = {g.PH, g.PW};
  // floor mode: the bottom/right padding actually read (may be less than PH, PW)
  d.pad_r = {(g.OH - 1) * g.SH + (g.KH - 1) * g.DH + 1 - g.H - g.PH,
             (g.OW - 1) * g.SW + (g.KW - 1) * g.DW + 1 - g.W - g.PW};
  return d;
}

dnnl::primitive_attr user_scratchpad() {
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);  // per-thread, from scratch()
  return attr;
}

dnnl::convolution_forward::primitive_desc forward_pd(const ConvGeometry& g, bool bias) {
  Descs d = descs(g, Tag::any);
  auto kind = dnnl::prop_kind::forward_training;
  auto alg = dnnl::algorithm::convolution_direct;
  using Desc = dnnl::convolution_forward::desc;
  Desc desc =
      bias ? Desc(kind, alg, d.src, d.wei, d.bias, d.dst, d.strides, d.dilates, d.pad_l, d.pad_r)
           : Desc(kind, alg, d.src, d.wei, d.dst, d.strides, d.dilates, d.pad_l, d.pad_r);
  return dnnl::convolution_forward::primitive_desc(desc, user_scratchpad(), engine());
}

void make_plan(Plan& p, const ConvGeometry& g, Direction dir, bool bias) {
  const Descs user = descs(g, Tag::undef), any = descs(g, Tag::any);
  auto alg = dnnl::algorithm::convolution_direct;
  p.bias_md = user.bias;
  switch (dir) {
    case Direction::forward: {
      auto pd = forward_pd(g, bias);
      p.prim = dnnl::convolution_forward(pd);
      p.a.init(user.src, pd.src_desc(), true, 0), p.a_arg = DNNL_ARG_SRC;
      p.b.init(user.wei, pd.weights_desc(), true, 1), p.b_arg = DNNL_ARG_WEIGHTS;
      p.out.init(user.dst, pd.dst_desc(), false, 2), p.out_arg = DNNL_ARG_DST;
      p.bias_arg = bias ? DNNL_ARG_BIAS : 0;
      p.scratchpad_md = pd.scratchpad_desc();
      break;
    }
    case Direction::backward_data: {
      dnnl::convolution_backward_data::desc desc(alg, any.src, any.wei, any.dst, any.strides,
                                                 any.dilates, any.pad_l, any.pad_r);
      dnnl::convolution_backward_data::primitive_desc pd(desc, user_scratchpad(), engine(),
                                                         forward_pd(g, false));
      p.prim = dnnl::convolution_backward_data(pd);
      p.a.init(user.dst, pd.diff_dst_desc(), true, 0), p.a_arg = DNNL_ARG_DIFF_DST;
      p.b.init(user.wei, pd.weights_desc(), true, 1), p.b_arg = DNNL_ARG_WEIGHTS;
      p.out.init(user.src, pd.diff_src_desc(), false, 2), p.out_arg = DNNL_ARG_DIFF_SRC;
      p.scratchpad_md = pd.scratchpad_desc();
      break;
    }
    case Direction::backward_weights: {
      using Desc = dnnl::convolution_backward_weights::desc;
      Desc desc = bias ? Desc(alg, any.src, any.wei, user.bias, any.dst, any.strides, any.dilates,
                              any.pad_l, any.pad_r)
                       : Desc(alg, any.src, any.wei, any.dst, any.strides, any.dilates, any.pad_l,
                              any.pad_r);
      dnnl::convolution_backward_weights::primitive_desc pd(desc, user_scratchpad(), engine(),
                                                            forward_pd(g, bias));
      p.prim = dnnl::convolution_backward_weights(pd);
      p.a.init(user.src, pd.src_desc(), true, 0), p.a_arg = DNNL_ARG_SRC;
      p.b.init(user.dst, pd.diff_dst_desc(), true, 1), p.b_arg = DNNL_ARG_DIFF_DST;
      p.out.init(user.wei, pd.diff_weights_desc(), false, 2), p.out_arg = DNNL_ARG_DIFF_WEIGHTS;
      p.bias_arg = bias ? DNNL_ARG_DIFF_BIAS : 0;
      p.scratchpad_md = pd.scratchpad_desc();
      break;
    }
  }
}

using Key = std::array<int64_t, 18>;
std::mutex g_cache_mutex;
std::map<Key, std::unique_ptr<Plan> > g_cache;

// The cached plan of one shape and direction, created on first use.
const Plan& plan(const ConvGeometry& g, Direction dir, bool bias) {
  Key key{g.N,  g.C,
          g.H,  g.W,
          g.O,  g.KH,
          g.KW, g.OH,
          g.OW, g.SH,
          g.SW, g.PH,
          g.PW, g.DH,
          g.DW, g.channels_last,
          bias, static_cast<int64_t>(dir)};
  std::lock_guard<std::mutex> lock(g_cache_mutex);
  auto& slot = g_cache[key];
  if (!slot) {
    auto p = std::make_unique<Plan>();
    try {
      make_plan(*p, g, dir, bias);
    } catch (const dnnl::error& e) {
      g_cache.erase(key);
      MINIDL_CHECK(false, "conv2d (oneDNN): cannot create the primitive for x [", g.N, ", ", g.C,
                   ", ", g.H, ", ", g.W, "], w [", g.O, ", ", g.C, ", ", g.KH, ", ", g.KW,
                   "]: ", e.what());
    }
    slot = std::move(p);
  }
  return *slot;
}

// Runs p on the calling thread: out = f(a, b); bias: the forward's bias or the bias gradient.
void execute(const Plan& p, const float* a, const float* b, float* out, float* bias) {
  try {
    dnnl::stream s(engine());
    memory written = p.out.output(out);
    std::unordered_map<int, memory> args{
        {p.a_arg, p.a.input(a, s)}, {p.b_arg, p.b.input(b, s)}, {p.out_arg, written}};
    if (p.bias_arg) args.emplace(p.bias_arg, memory(p.bias_md, engine(), bias));
    if (p.scratchpad_md.get_size() > 0)
      args.emplace(DNNL_ARG_SCRATCHPAD,
                   memory(p.scratchpad_md, engine(), scratch(3, p.scratchpad_md.get_size())));
    p.prim.execute(s, args);
    p.out.finish(written, out, s);
    s.wait();
  } catch (const dnnl::error& e) {
    MINIDL_CHECK(false, "conv2d (oneDNN): a primitive failed: ", e.what());
  }
}

// The batch in chunks of a fixed number of images, from the sizes alone (about kPositions output
// positions each): every chunk is one primitive call on one of minidl's threads, with oneDNN held
// to one OpenMP thread. The weight gradient keeps one partial per chunk, added in chunk order, so
// every result has the same bits for any thread count (docs/benchmarks.md: against oneDNN's own
// OpenMP threads over the whole batch).
//
// MINIDL_ONEDNN_THREADS=openmp (read once; for that comparison) instead runs the whole batch as one
// call on oneDNN's OpenMP threads, whose weight-gradient bits depend on the thread count.
constexpr int64_t kPositions = 2048;
bool openmp_threads() {
  static const bool on = [] {
    const char* v = std::getenv("MINIDL_ONEDNN_THREADS");
    if (!v || !*v || std::strcmp(v, "minidl") == 0) return false;
    MINIDL_CHECK(std::strcmp(v, "openmp") == 0, "MINIDL_ONEDNN_THREADS='", v,
                 "' is unknown; known: minidl (the default), openmp");
    return true;
  }();
  return on;
}
struct Chunks {
  int64_t images, count;
};
Chunks chunks(const ConvGeometry& g) {
  if (openmp_threads()) return {g.N, 1};
  // About N*P / kPositions chunks, rounded up to a multiple of 4 so that 1, 2 or 4 threads get equal
  // shares, then equal images per chunk (the last may have fewer).
  const int64_t P = g.OH * g.OW;
  int64_t count = (g.N * P + kPositions - 1) / kPositions;
  count = std::min(g.N, (count + 3) / 4 * 4);
  const int64_t images = (g.N + count - 1) / count;
  return {images, (g.N + images - 1) / images};
}

// fn(chunk index, the chunk's geometry, first image) for every chunk, over minidl's threads.
template <typename Fn>
void for_each_chunk(const ConvGeometry& g, Fn fn) {
  const Chunks c = chunks(g);
  if (openmp_threads()) {
    omp_set_num_threads(num_threads());
    fn(0, g, 0);
    return;
  }
  parallel_for(c.count, 1, [&](int64_t i0, int64_t i1) {
    omp_set_num_threads(1);  // this thread's oneDNN calls stay on it
    for (int64_t i = i0; i < i1; ++i) {
      ConvGeometry gc = g;
      gc.N = std::min(c.images, g.N - i * c.images);
      fn(i, gc, i * c.images);
    }
  });
}
}  // namespace

bool built() {
  return true;
}

int64_t cache_size() {
  std::lock_guard<std::mutex> lock(g_cache_mutex);
  return static_cast<int64_t>(g_cache.size());
}

void forward(const float* x, const float* w, const float* b, float* y, const ConvGeometry& g) {
  const int64_t in = g.C * g.H * g.W, out = g.O * g.OH * g.OW;
  for_each_chunk(g, [&](int64_t, const ConvGeometry& gc, int64_t n0) {
    execute(plan(gc, Direction::forward, b != nullptr), x + n0 * in, w, y + n0 * out,
            const_cast<float*>(b));
  });
}

void backward_data(const float* dy, const float* w, float* dx, const ConvGeometry& g) {
  const int64_t in = g.C * g.H * g.W, out = g.O * g.OH * g.OW;
  for_each_chunk(g, [&](int64_t, const ConvGeometry& gc, int64_t n0) {
    execute(plan(gc, Direction::backward_data, false), dy + n0 * out, w, dx + n0 * in, nullptr);
  });
}

void backward_weights(const float* x, const float* dy, float* dw, float* db,
                      const ConvGeometry& g) {
  const int64_t in = g.C * g.H * g.W, out = g.O * g.OH * g.OW, K = g.C * g.KH * g.KW;
  const int64_t count = chunks(g).count;
  // One partial dw [O, K] and db [O] per chunk (db only when wanted; dw always: oneDNN computes
  // it).
  std::vector<float> part_w(static_cast<size_t>(count * g.O * K));
  std::vector<float> part_b(db ? static_cast<size_t>(count * g.O) : 0);
  for_each_chunk(g, [&](int64_t i, const ConvGeometry& gc, int64_t n0) {
    execute(plan(gc, Direction::backward_weights, db != nullptr), x + n0 * in, dy + n0 * out,
            part_w.data() + i * g.O * K, db ? part_b.data() + i * g.O : nullptr);
  });
  if (dw) conv_avx2::add_partials(part_w.data(), count, g.O * K, dw);
  if (db) conv_avx2::add_partials(part_b.data(), count, g.O, db);
}

#endif  // MINIDL_WITH_ONEDNN

}  // namespace conv_onednn
}  // namespace cpu
}  // namespace minidl
