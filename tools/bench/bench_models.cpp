// Training-step benchmark of whole models: images per second of one SGD iteration (zero_grad,
// forward, softmax cross-entropy, backward, fused SGD step) at batch 128 on synthetic data, for
// lenet (1x28x28), resnet20 (1x28x28) and resnet56 (3x32x32) by default; also resnet50
// (torchvision's, 3x224x224, 1000 classes) and wrn28_10 (3x32x32), the GPU machine's rows
// (tools/gpu_check.sh). tools/bench/torch_models.py times the same networks in PyTorch;
// tools/bench/compare_models.py runs both alternately and prints the ratio.
//
//   build/release/tools/minidl_bench_models [--models lenet,resnet20,resnet56] [--batch 128]
//       [--threads N] [--device cpu|cuda] [--runs 10] [--min-time 2] [--warmup 3] [--profile]
//       [--memory-format contiguous|channels_last] [--precision f32|bf16|f16] [--cuda-graph]
//
// Each run times `iters` iterations (1 on the CPU, 10 on a GPU, ended by a synchronize) after
// `warmup` untimed ones; at least `runs` runs and `min-time` seconds of them (so that a short
// network gets enough runs for a stable median); img/s is batch / the median seconds per
// iteration. The optimiser is
// PyTorch's SGD (torch form, momentum 0.9, weight decay 5e-4); the first layer computes no input
// gradient (set_input_grad(false)), as PyTorch skips it for an input that needs no grad. The step's
// skip flag is not read (every step counts as applied: nothing here is non-finite), so the host
// never waits inside the timed iterations. --precision: the convolutions' and GEMMs' (docs/
// precision.md); --cuda-graph: the step captured and replayed (optim/step_graph.h).
//
// --profile adds a per-layer breakdown: every leaf module's forward and backward, timed in place
// on (a copy of) the input it sees in the network (the fastest of a few forward/backward pairs),
// summed per distinct layer ("Conv2d(16,32,k3,s2) 128x16x28x28 -> 128x32x14x14") and per layer
// type, beside the loss, the zero_grad and the SGD step; a Residual block's own work (add, ReLU)
// is the whole block timed the same way less its layers. torch_models.py --profile prints the
// same lines.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/context.h"
#include "core/cpu_isa.h"
#include "core/parallel.h"
#include "core/text.h"
#include "kernels/conv.h"
#include "kernels/precision.h"
#include "kernels/random.h"
#include "layers/layers.h"
#include "models/registry.h"
#include "optim/sgd.h"
#include "optim/step_graph.h"

using namespace minidl;

namespace {

struct NetSpec {
  const char* name;
  int64_t channels, size;  // input [batch, channels, size, size]
  int64_t classes;
};
const NetSpec kNets[] = {{"lenet", 1, 28, 10},
                         {"resnet20", 1, 28, 10},
                         {"resnet56", 3, 32, 10},
                         {"resnet50", 3, 224, 1000},
                         {"wrn28_10", 3, 32, 10}};

struct Options {
  std::vector<std::string> models = {"lenet", "resnet20", "resnet56"};
  int64_t batch = 128;
  int threads = 0;  // 0: the library's default (MINIDL_NUM_THREADS, else every core)
  Device device = Device::cpu();
  int runs = 10, warmup = 3, iters = 0;  // iters 0: 1 on the CPU, 10 on a GPU
  int min_time = 2;                      // seconds of timed runs, at least
  bool profile = false;
  MemoryFormat memory_format = MemoryFormat::contiguous;  // the model's and the batch's layout
  std::string precision = "f32";
  bool cuda_graph = false;
};

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// The fastest of `reps` calls of fn after one warm-up call, each ended by a synchronize: for the
// per-layer profile, where the least disturbed call is the best estimate of a layer's own cost.
double time_calls(const std::function<void()>& fn, Device dev, int reps) {
  fn();
  synchronize(dev);
  std::vector<double> t;
  for (int i = 0; i < reps; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    fn();
    synchronize(dev);
    t.push_back(seconds_since(t0));
  }
  return *std::min_element(t.begin(), t.end());
}

std::string dims(const Shape& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) out += (i ? "x" : "") + std::to_string(s[i]);
  return out;
}

// One network with its synthetic batch, loss and optimiser: the training step being timed.
struct Trainer {
  std::shared_ptr<Module> net;
  Tensor x, labels;
  SoftmaxCrossEntropy loss_fn;
  std::unique_ptr<Sgd> opt;
  std::unique_ptr<StepGraph> graph;  // --cuda-graph
  Tensor last_loss;

  Trainer(const NetSpec& spec, const Options& o) {
    ModelArgs args{spec.channels, spec.size, spec.classes, {}};
    net = make_model(spec.name, args);
    net->set_memory_format(o.memory_format);
    net->set_compute_precision(parse_precision(o.precision));
    net->to(o.device);
    net->train();
    net->set_input_grad(false);
    x = Tensor::empty({o.batch, spec.channels, spec.size, spec.size}, DType::f32, o.device);
    uniform_(x, -1.f, 1.f, /*seed=*/7, /*offset=*/0);
    x = x.contiguous(o.memory_format);  // as the loader hands it out
    std::vector<int64_t> l(static_cast<size_t>(o.batch));
    for (size_t i = 0; i < l.size(); ++i) l[i] = static_cast<int64_t>((i * 7 + 3) % spec.classes);
    labels = Tensor::from_vector(l, {o.batch}).to(o.device);
    opt = std::make_unique<Sgd>(*net, SgdOptions{SgdForm::torch, /*nesterov=*/false,
                                                 /*weight_decay=*/5e-4});
    if (o.cuda_graph) graph = std::make_unique<StepGraph>(o.device);
  }

  void step() {
    auto before = [&] { opt->write_live_scalars(/*lr=*/0.01, /*momentum=*/0.9); };
    auto body = [&](const Tensor& images, const Tensor& y) {
      net->zero_grad();
      Tensor logits = net->forward(images);
      last_loss = loss_fn.forward(logits, y);
      net->backward(loss_fn.backward());
      opt->launch_live_step();
    };
    if (graph) {
      graph->run(x, labels, before, body);
    } else {
      before();
      body(x, labels);
    }
    opt->record_outcome(true);
  }
  double loss() const { return last_loss.item<double>(); }
};

// ---- per-layer profile ----

struct Call {
  Module* m;
  Tensor x;  // a copy of the input: holding a layer's own output would stop it reusing its buffer
  Shape y_shape;
  size_t first = 0, end = 0;  // for a Residual block: its layers' range in the leaf list
  MemoryFormat y_format = MemoryFormat::contiguous;  // dy comes in the output's layout
};

// Runs the forward as the containers do, recording each leaf module and each Residual block with
// its input. A block's main path and shortcut are walked separately; its real forward then gives
// the output (add + ReLU) for the layers that follow.
Tensor capture(Module& m, const Tensor& x, std::vector<Call>& leaves, std::vector<Call>& blocks) {
  if (m.children().empty()) {
    Tensor y = m.forward(x);
    leaves.push_back({&m, x.clone(), y.shape(), 0, 0, y.memory_format()});
    return y;
  }
  MINIDL_CHECK(dynamic_cast<Sequential*>(&m) && !dynamic_cast<ChannelConcat*>(&m),
               "bench_models --profile: cannot walk ", m.where(), " (", m.type_name(), ")");
  if (auto* r = dynamic_cast<Residual*>(&m)) {
    const size_t first = leaves.size();
    Tensor h = x;
    for (auto& child : m.children())
      if (child.second.get() != r->shortcut()) h = capture(*child.second, h, leaves, blocks);
    if (r->shortcut()) capture(*r->shortcut(), x, leaves, blocks);
    Tensor y = m.forward(x);
    blocks.push_back({&m, x.clone(), y.shape(), first, leaves.size(), y.memory_format()});
    return y;
  }
  Tensor h = x;
  for (auto& child : m.children()) h = capture(*child.second, h, leaves, blocks);
  return h;
}

// "Conv2d(16,32,k3,s2) 128x16x28x28 -> 128x32x14x14": the same key torch_models.py prints.
std::string layer_key(const Call& c) {
  std::string type = c.m->type_name();
  if (auto* conv = dynamic_cast<Conv2d*>(c.m)) {
    const Conv2dOptions& o = conv->options();
    type += "(" + std::to_string(o.in_) + "," + std::to_string(o.out_) + ",k" +
            std::to_string(o.kh_) + ",s" + std::to_string(o.p_.stride_h) + ")";
  }
  return type + " " + dims(c.x.shape()) + " -> " + dims(c.y_shape);
}

struct Cost {
  int count = 0;
  double fwd = 0, bwd = 0;  // seconds, summed over the layers of this key
  void add(double f, double b) { count += 1, fwd += f, bwd += b; }
};

// Forward and backward of one call, alternating as in training (a layer reuses its output buffer
// only once its backward has released the cache): the fastest of `reps` pairs after a warm-up.
Cost time_pair(const Call& c, Device dev, int reps) {
  // dy only needs the output's shape: the backward kernels' cost does not depend on its values.
  Tensor dy = Tensor::empty(c.y_shape, DType::f32, dev);
  uniform_(dy, -1.f, 1.f, 11, 0);
  dy = dy.contiguous(c.y_format);
  Cost best{1, 1e30, 1e30};
  for (int i = 0; i <= reps; ++i) {
    synchronize(dev);
    auto t0 = std::chrono::steady_clock::now();
    c.m->forward(c.x);
    synchronize(dev);
    auto t1 = std::chrono::steady_clock::now();
    c.m->backward(dy);
    synchronize(dev);
    if (i == 0) continue;
    best.fwd = std::min(best.fwd, std::chrono::duration<double>(t1 - t0).count());
    best.bwd = std::min(best.bwd, seconds_since(t1));
  }
  return best;
}

void print_cost(const std::string& what, const Cost& c, double step) {
  std::printf("  layer %-58s x%-3d fwd %8.2f ms  bwd %8.2f ms  (%4.1f%%)\n", what.c_str(), c.count,
              c.fwd * 1e3, c.bwd * 1e3, 100.0 * (c.fwd + c.bwd) / step);
}

void profile(Trainer& t, const NetSpec& spec, const Options& o, double step_seconds) {
  const int reps = 5;
  std::vector<Call> leaves, blocks;
  capture(*t.net, t.x, leaves, blocks);
  std::vector<std::string> order;  // keys in network order
  std::map<std::string, Cost> by_layer, by_type;
  std::vector<Cost> leaf_cost;
  for (const Call& c : leaves) {
    const Cost cost = time_pair(c, o.device, reps);
    leaf_cost.push_back(cost);
    const std::string key = layer_key(c);
    if (!by_layer.count(key)) order.push_back(key);
    by_layer[key].add(cost.fwd, cost.bwd);
    by_type[c.m->type_name()].add(cost.fwd, cost.bwd);
  }
  // A block's own work (the add and the ReLU after it, the sum of the two branches' dx): the
  // whole block timed the same way, less its layers.
  Cost glue;
  for (const Call& b : blocks) {
    Cost whole = time_pair(b, o.device, reps);
    for (size_t i = b.first; i < b.end; ++i)
      whole.fwd -= leaf_cost[i].fwd, whole.bwd -= leaf_cost[i].bwd;
    glue.add(whole.fwd, whole.bwd);
  }
  t.net->zero_grad();
  Tensor logits = t.net->forward(t.x);
  Cost loss{1, time_calls([&] { t.loss_fn.forward(logits, t.labels); }, o.device, reps),
            time_calls([&] { t.loss_fn.backward(); }, o.device, reps)};
  Cost zero{1, time_calls([&] { t.net->zero_grad(); }, o.device, reps), 0};
  Cost sgd{1, 0, time_calls([&] { t.opt->step(0.0, 0.9); }, o.device, reps)};

  std::printf(
      "\nprofile %s (%s, batch %lld): fastest of %d forward/backward pairs per layer, in place\n",
      spec.name, o.device.str().c_str(), static_cast<long long>(o.batch), reps);
  for (const std::string& key : order) print_cost(key, by_layer[key], step_seconds);
  if (glue.count) by_type["Residual add + ReLU (block less its layers)"] = glue;
  by_type["SoftmaxCrossEntropy"] = loss;
  by_type["zero_grad"] = zero;
  by_type["SGD step"] = sgd;
  double parts = 0;
  for (auto& kv : by_type) {
    print_cost("type " + kv.first, kv.second, step_seconds);
    parts += kv.second.fwd + kv.second.bwd;
  }
  std::printf("  total of the parts %.2f ms; whole iteration %.2f ms; rest %.2f ms\n", parts * 1e3,
              step_seconds * 1e3, (step_seconds - parts) * 1e3);
}

// ---- main loop ----

void bench(const NetSpec& spec, const Options& o) {
  Trainer t(spec, o);
  const int iters = o.iters > 0 ? o.iters : (o.device.is_cuda() ? 10 : 1);
  for (int i = 0; i < o.warmup; ++i) t.step();
  synchronize(o.device);
  const double first_loss = t.loss();
  std::vector<double> per_iter;
  const auto start = std::chrono::steady_clock::now();
  while (static_cast<int>(per_iter.size()) < o.runs || seconds_since(start) < o.min_time) {
    auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < iters; ++i) t.step();
    synchronize(o.device);
    per_iter.push_back(seconds_since(t0) / iters);
  }
  const double s = median(per_iter);
  const double slowest = *std::max_element(per_iter.begin(), per_iter.end());
  const double fastest = *std::min_element(per_iter.begin(), per_iter.end());
  char input[32];
  std::snprintf(input, sizeof(input), "%lldx%lldx%lld", static_cast<long long>(spec.channels),
                static_cast<long long>(spec.size), static_cast<long long>(spec.size));
  // The loss on the fixed batch must fall (the step really trains), and the parameter count must
  // match torch_models.py's (the same network).
  std::printf(
      "  %-9s %-8s batch %lld: %9.1f img/s  (%.2f ms/iteration, median of %d runs of %d; "
      "range %.1f-%.1f img/s; %lld parameters; loss %.3f -> %.3f)\n",
      spec.name, input, static_cast<long long>(o.batch), o.batch / s, s * 1e3,
      static_cast<int>(per_iter.size()), iters, o.batch / slowest, o.batch / fastest,
      static_cast<long long>(t.net->parameter_count()), first_loss, t.loss());
  std::fflush(stdout);
  if (o.profile) profile(t, spec, o, s);
}

const NetSpec& find_net(const std::string& name) {
  for (const NetSpec& n : kNets)
    if (name == n.name) return n;
  std::string known;
  for (const NetSpec& n : kNets) known += (known.empty() ? "" : ", ") + std::string(n.name);
  MINIDL_FAIL("unknown model '", name, "' (known: ", known, ")");
}

std::vector<std::string> split_commas(const std::string& s) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= s.size()) {
    size_t end = s.find(',', start);
    if (end == std::string::npos) end = s.size();
    if (end > start) out.push_back(s.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::string {
      MINIDL_CHECK(i + 1 < argc, "flag ", a, " needs a value");
      return argv[++i];
    };
    auto number = [&]() -> int {
      const std::string v = value();
      int64_t n = -1;
      MINIDL_CHECK(parse_int(v, n) && n >= 0 && n < (int64_t(1) << 30), "flag ", a,
                   " needs a non-negative integer, got '", v, "'");
      return static_cast<int>(n);
    };
    if (a == "--models")
      o.models = split_commas(value());
    else if (a == "--batch")
      o.batch = number();
    else if (a == "--threads")
      o.threads = number();
    else if (a == "--device")
      o.device = parse_device(value());
    else if (a == "--runs")
      o.runs = number();
    else if (a == "--min-time")
      o.min_time = number();
    else if (a == "--warmup")
      o.warmup = number();
    else if (a == "--iters")
      o.iters = number();
    else if (a == "--profile")
      o.profile = true;
    else if (a == "--memory-format") {
      const std::string v = value();
      MINIDL_CHECK(v == "contiguous" || v == "channels_last", "--memory-format '", v,
                   "' is unknown; known: contiguous, channels_last");
      o.memory_format = v == "channels_last" ? MemoryFormat::channels_last : MemoryFormat::contiguous;
    } else if (a == "--precision") {
      o.precision = value();
      parse_precision(o.precision);  // throws, naming the known ones
    } else if (a == "--cuda-graph") {
      o.cuda_graph = true;
    } else {
      MINIDL_FAIL("unknown flag '", a,
                  "' (known: --models, --batch, --threads, --device, --runs, --min-time, --warmup, "
                  "--iters, --profile, --memory-format, --precision, --cuda-graph)");
    }
  }
  MINIDL_CHECK(!o.cuda_graph || (o.device.is_cuda() && !o.profile),
               "--cuda-graph needs --device cuda, and no --profile (which times layers alone)");
  MINIDL_CHECK(o.batch > 0 && o.runs > 0 && o.warmup >= 1 && o.iters >= 0,
               "--batch and --runs must be positive, --warmup at least 1");
  for (const std::string& m : o.models) find_net(m);
  return o;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  try {
    o = parse(argc, argv);
  } catch (const std::exception& e) {  // a usage error
    std::fprintf(stderr, "minidl_bench_models: %s\n", e.what());
    return 2;
  }
  try {
    if (o.threads > 0) set_num_threads(o.threads);
    MINIDL_CHECK(!o.device.is_cuda() || cuda_device_count() > 0, "no CUDA device for --device ",
                 o.device.str(), " (", MINIDL_WITH_CUDA ? "CUDA" : "CPU-only", " build)");
    std::printf("minidl model benchmark (%s build) on %s", MINIDL_WITH_CUDA ? "CUDA" : "CPU-only",
                o.device.str().c_str());
    if (!o.device.is_cuda()) std::printf(" (%d threads)", num_threads());
    std::printf(": zero_grad + forward + loss + backward + SGD step, synthetic data, %s, %s%s\n",
                o.memory_format == MemoryFormat::channels_last ? "channels_last" : "contiguous",
                o.precision.c_str(), o.cuda_graph ? ", CUDA graph" : "");
    std::printf("cpu isa: %s\n", cpu_isa_summary().c_str());
    if (!o.device.is_cuda())
      std::printf("cpu convolutions: %s (MINIDL_CPU_CONV=onednn|reference)\n",
                  cpu_conv_name(cpu_conv()));
    std::printf("fusion: BatchNorm2d + ReLU %s (MINIDL_FUSE=on|off)\n",
                fusion_enabled() ? "on" : "off");
    std::fflush(stdout);
    for (const std::string& m : o.models) bench(find_net(m), o);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "minidl_bench_models: %s\n", e.what());
    return 1;
  }
  return 0;
}
