// Data pipeline benchmark: decoded + augmented images/s for an ImageFolder of JPEGs (224x224
// random-resized crops + flip + normalise, 2 workers) beside torchvision's ImageFolder +
// DataLoader with the same transforms in the same run, and batches/s for CIFAR-format data.
//
//   build/release/tools/minidl_bench_data [--jpeg-dir /tmp/minidl_bench_jpeg] [--images 400]
//       [--batch 64] [--workers 2] [--batches 24] [--rounds 3] [--no-torch]
//       [--python /usr/bin/python3] [--script tools/bench/torchvision_data.py]
//       [--cifar-dir /tmp/minidl_bench_cifar]
//
// The JPEG folder (10 classes, 500x375 images with varied content, written with stb_image_write)
// and the synthetic CIFAR-10 binary files are generated once and reused. minidl and torchvision
// run alternately for --rounds rounds; the figures are medians. Each measurement takes one
// warm-up batch, then times --batches batches (the loaders run on across epochs).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "core/context.h"
#include "core/text.h"
#include "data/cifar.h"
#include "data/gzip.h"
#include "data/image_folder.h"
#include "data/image_io.h"
#include "data/loader.h"
#include "data/synthetic.h"

using namespace minidl;
namespace fs = std::filesystem;

namespace {

struct Args {
  std::string jpeg_dir = "/tmp/minidl_bench_jpeg", cifar_dir = "/tmp/minidl_bench_cifar";
  std::string python = "/usr/bin/python3";
  std::string script;  // torchvision_data.py: under $MINIDL_SOURCE_DIR, else the current folder
  int images = 400, batch = 64, workers = 2, batches = 24, rounds = 3;
  bool torch = true;
};

// A flag's value as a positive integer; anything else stops the program with a message.
int int_value(const std::string& text) {
  int64_t v = 0;
  MINIDL_CHECK(parse_int(text, v) && v > 0 && v < (int64_t(1) << 30),
               "expected a positive integer, got '", text, "'");
  return static_cast<int>(v);
}

double now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

// A 500x375 picture: two-colour gradient, a few sinusoidal ripples, rectangles and ellipses,
// light noise; every image different, so JPEG sizes and decode costs vary like photographs.
Tensor make_picture(std::mt19937& rng) {
  const int64_t h = 375, w = 500;
  std::uniform_real_distribution<float> u(0.f, 1.f);
  std::vector<uint8_t> px(static_cast<size_t>(3 * h * w));
  float c0[3], c1[3], fx = 2 + 20 * u(rng), fy = 2 + 20 * u(rng), amp = 40 * u(rng);
  for (int c = 0; c < 3; ++c) c0[c] = 255 * u(rng), c1[c] = 255 * u(rng);
  for (int64_t y = 0; y < h; ++y)
    for (int64_t x = 0; x < w; ++x) {
      float t = (x + y) / float(h + w);
      float ripple = amp * std::sin(fx * x / w * 6.283f) * std::cos(fy * y / h * 6.283f);
      for (int c = 0; c < 3; ++c) {
        float v = c0[c] * (1 - t) + c1[c] * t + ripple + 12 * (u(rng) - 0.5f);
        px[(c * h + y) * w + x] = static_cast<uint8_t>(std::clamp(v, 0.f, 255.f));
      }
    }
  int shapes = 3 + static_cast<int>(8 * u(rng));
  for (int s = 0; s < shapes; ++s) {
    int64_t cy = static_cast<int64_t>(h * u(rng)), cx = static_cast<int64_t>(w * u(rng));
    int64_t ry = 10 + static_cast<int64_t>(80 * u(rng)),
            rx = 10 + static_cast<int64_t>(120 * u(rng));
    bool ellipse = u(rng) < 0.5f;
    uint8_t col[3] = {uint8_t(255 * u(rng)), uint8_t(255 * u(rng)), uint8_t(255 * u(rng))};
    for (int64_t y = std::max<int64_t>(0, cy - ry); y < std::min(h, cy + ry); ++y)
      for (int64_t x = std::max<int64_t>(0, cx - rx); x < std::min(w, cx + rx); ++x) {
        float dy = float(y - cy) / ry, dx = float(x - cx) / rx;
        if (ellipse && dx * dx + dy * dy > 1) continue;
        for (int c = 0; c < 3; ++c) px[(c * h + y) * w + x] = col[c];
      }
  }
  return Tensor::from_vector(px, {3, h, w});
}

void make_jpeg_folder(const Args& a) {
  fs::path marker = fs::path(a.jpeg_dir) / ".complete";
  std::string want = std::to_string(a.images);
  if (fs::exists(marker)) {
    std::vector<uint8_t> m = read_file(marker.string());
    if (std::string(m.begin(), m.end()) == want) return;
  }
  std::printf("writing %d JPEGs (500x375) into %s ...\n", a.images, a.jpeg_dir.c_str());
  fs::remove_all(a.jpeg_dir);
  std::mt19937 rng(1234);
  for (int i = 0; i < a.images; ++i) {
    fs::path dir = fs::path(a.jpeg_dir) / ("class_" + std::to_string(i % 10));
    fs::create_directories(dir);
    char name[32];
    std::snprintf(name, sizeof(name), "img_%05d.jpg", i);
    write_file_atomic((dir / name).string(), encode_jpeg(make_picture(rng), 90));
  }
  write_file_atomic(marker.string(), std::vector<uint8_t>(want.begin(), want.end()));
}

// Rate of `batches` batches after one warm-up batch: images/s (or batches/s when per_batch).
double time_loader(Loader& loader, int batches, bool per_batch) {
  Device dev = loader.options().device;
  loader.next();
  synchronize(dev);
  int64_t images = 0;
  double t0 = now();
  for (int i = 0; i < batches; ++i) images += loader.next().images.size(0);
  synchronize(dev);
  double s = now() - t0;
  return per_batch ? batches / s : images / s;
}

double minidl_imagefolder(const Args& a) {
  auto ds = std::make_shared<ImageFolderDataset>(a.jpeg_dir);
  Transform t = Transform().random_resized_crop(224, 224).random_flip().normalize(
      {0.485f, 0.456f, 0.406f}, {0.229f, 0.224f, 0.225f});
  LoaderOptions opt;
  opt.batch_size = a.batch, opt.workers = a.workers, opt.seed = static_cast<uint64_t>(now());
  Loader loader(ds, t, opt);
  return time_loader(loader, a.batches, false);
}

double torchvision_imagefolder(const Args& a) {
  std::string cmd = a.python + " " + a.script + " --root " + a.jpeg_dir + " --batch " +
                    std::to_string(a.batch) + " --workers " + std::to_string(a.workers) +
                    " --batches " + std::to_string(a.batches) + " 2>&1";
  std::FILE* p = popen(cmd.c_str(), "r");
  if (!p) return -1;
  char line[512];
  double rate = -1;
  while (std::fgets(line, sizeof(line), p)) {
    if (std::sscanf(line, "torchvision images/s: %lf", &rate) == 1) continue;
    std::fputs(line, stdout);  // anything unexpected (an import error) is shown
  }
  pclose(p);
  return rate;
}

void make_cifar_files(const Args& a) {
  fs::path dir = fs::path(a.cifar_dir) / "cifar-10-batches-bin";
  if (fs::exists(dir / "test_batch.bin")) return;
  std::printf("writing synthetic CIFAR-10 binary files into %s ...\n", dir.c_str());
  fs::create_directories(dir);
  for (int b = 0; b <= 5; ++b) {
    auto part = materialize(SyntheticDataset(10000, {3, 32, 32}, 10, 100 + b));
    std::string name = b == 0 ? "test_batch.bin" : "data_batch_" + std::to_string(b) + ".bin";
    write_cifar_file((dir / name).string(), CifarKind::cifar10, part->images(), part->labels());
  }
}

void cifar_rates(const Args& a) {
  auto train = load_cifar10(a.cifar_dir, Split::train);
  Transform t = Transform().pad_random_crop(32, 32, 4).random_flip().normalize(
      {0.4914f, 0.4822f, 0.4465f}, {0.2470f, 0.2435f, 0.2616f});
  std::printf(
      "\n== CIFAR-10 binary (%lld train images), batch 128, pad 4 + crop 32 + flip + normalise\n",
      static_cast<long long>(train->size()));
  std::vector<std::pair<Device, bool>> runs = {{Device::cpu(), false}, {Device::cpu(), true}};
  if (cuda_device_count() > 0)
    runs.insert(runs.end(), {{Device::cuda(0), false}, {Device::cuda(0), true}});
  for (auto [dev, resident] : runs) {
    LoaderOptions opt;
    opt.batch_size = 128, opt.workers = a.workers, opt.device = dev, opt.resident = resident;
    std::vector<double> r;
    for (int round = 0; round < a.rounds; ++round) {
      Loader loader(train, t, opt);
      r.push_back(time_loader(loader, 200, true));
    }
    std::printf("  %-6s %-28s %9.1f batches/s  (%.0f images/s)\n", dev.str().c_str(),
                resident ? "resident (augment_batch)"
                         : ("workers (" + std::to_string(a.workers) + ")").c_str(),
                median(r), median(r) * 128);
  }
}

}  // namespace

int main(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    std::string s = argv[i];
    auto val = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "%s needs a value\n", s.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (s == "--jpeg-dir")
      a.jpeg_dir = val();
    else if (s == "--cifar-dir")
      a.cifar_dir = val();
    else if (s == "--python")
      a.python = val();
    else if (s == "--script")
      a.script = val();
    else if (s == "--images")
      a.images = int_value(val());
    else if (s == "--batch")
      a.batch = int_value(val());
    else if (s == "--workers")
      a.workers = int_value(val());
    else if (s == "--batches")
      a.batches = int_value(val());
    else if (s == "--rounds")
      a.rounds = int_value(val());
    else if (s == "--no-torch")
      a.torch = false;
    else {
      std::fprintf(stderr, "unknown argument %s (see the comment at the top of bench_data.cpp)\n",
                   s.c_str());
      return 2;
    }
  }
  if (a.script.empty()) {
    const char* src = std::getenv("MINIDL_SOURCE_DIR");
    a.script = (fs::path(src ? src : ".") / "tools/bench/torchvision_data.py").string();
  }
  if (a.torch && !fs::exists(a.script)) {
    std::fprintf(
        stderr, "%s not found: run from the source tree, set MINIDL_SOURCE_DIR, or pass --script\n",
        a.script.c_str());
    return 2;
  }
  try {
    make_jpeg_folder(a);
    std::printf(
        "== ImageFolder of %d JPEGs (500x375): RandomResizedCrop 224 + flip + normalise, "
        "batch %d, %d workers, %d timed batches, median of %d rounds\n",
        a.images, a.batch, a.workers, a.batches, a.rounds);
    std::vector<double> ours, theirs;
    for (int r = 0; r < a.rounds; ++r) {
      ours.push_back(minidl_imagefolder(a));
      if (a.torch) theirs.push_back(torchvision_imagefolder(a));
      std::printf("  round %d: minidl %.1f images/s", r + 1, ours.back());
      if (a.torch) std::printf(", torchvision %.1f images/s", theirs.back());
      std::printf("\n");
    }
    double m = median(ours);
    std::printf("  minidl      %8.1f images/s\n", m);
    if (a.torch) {
      double t = median(theirs);
      if (t > 0) {
        std::printf("  torchvision %8.1f images/s\n", t);
        // Each round pairs two back-to-back runs, so the median of the per-round ratios is the
        // figure least moved by load from other processes.
        std::vector<double> ratios;
        for (size_t r = 0; r < ours.size(); ++r) ratios.push_back(ours[r] / theirs[r]);
        std::printf(
            "  ratio minidl / torchvision: %.2f (median of per-round ratios; of medians %.2f)\n",
            median(ratios), m / t);
      } else {
        std::printf("  torchvision: no figure (is %s with torchvision installed?)\n",
                    a.python.c_str());
      }
    }
    make_cifar_files(a);
    cifar_rates(a);
  } catch (const Error& e) {
    std::fprintf(stderr, "minidl_bench_data: %s\n", e.what());
    return 1;
  }
  return 0;
}
