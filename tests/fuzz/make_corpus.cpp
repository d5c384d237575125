// Writes the fuzz targets' seed corpus (small valid files of each format) and the regression inputs
// (the crash inputs of issue 12, as files), so that both can be regenerated and reviewed as code:
//   build/fuzz/tests/fuzz/minidl_fuzz_corpus tests/fuzz
// -> tests/fuzz/corpus/<target>/... and tests/fuzz/regressions/<target>/... (committed).
#include <zlib.h>

#include <cstdio>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "core/file_io.h"
#include "core/npy.h"
#include "core/safetensors.h"
#include "data/cifar.h"
#include "data/gzip.h"
#include "data/idx.h"
#include "data/image_io.h"
#include "optim/train_state.h"

namespace {

using namespace minidl;
namespace fs = std::filesystem;
using Bytes = std::vector<uint8_t>;

fs::path root;

void put(const std::string& dir, const std::string& name, const std::string& bytes) {
  fs::create_directories(root / dir);
  write_file_atomic((root / dir / name).string(), bytes);
}
void put(const std::string& dir, const std::string& name, const Bytes& bytes) {
  put(dir, name, std::string(bytes.begin(), bytes.end()));
}

Tensor pattern_u8(const Shape& shape) {  // deterministic pixels
  Tensor t = Tensor::empty(shape, DType::u8);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<uint8_t>()[i] = static_cast<uint8_t>(i * 37 + 11);
  return t;
}

std::string npy_with_header(const std::string& dict, size_t data_bytes) {
  std::string header = dict + "\n";
  std::string out("\x93NUMPY\x01\x00", 8);
  out += static_cast<char>(header.size() & 0xff);
  out += static_cast<char>(header.size() >> 8);
  return out + header + std::string(data_bytes, '\x01');
}

Bytes file_bytes(const std::function<void(const std::string&)>& write) {
  fs::path tmp = fs::temp_directory_path() / "minidl_fuzz_corpus.tmp";
  write(tmp.string());
  Bytes b = read_file(tmp.string());
  fs::remove(tmp);
  return b;
}

void npy() {
  put("corpus/npy", "f32_2x3.npy", serialize_npy(Tensor::full({2, 3}, 1.5, DType::f32)));
  put("corpus/npy", "i64_3.npy", serialize_npy(Tensor::from_vector<int64_t>({4, 5, 6}, {3})));
  put("corpus/npy", "u8_scalar.npy", serialize_npy(Tensor::full({}, 7, DType::u8)));
  put("corpus/npy", "f2_fortran.npy",
      npy_with_header("{'descr': '<f2', 'fortran_order': True, 'shape': (2, 2), }", 8));
  // Issue 12, item 1: a shape whose byte size overflows int64, with 1,568 data bytes.
  put("regressions/npy", "shape_overflow.npy",
      npy_with_header("{'descr': '<f4', 'fortran_order': False, 'shape': (4611686018427387906, "
                      "1, 28, 28), }",
                      1568));
  // Item 2: a ~40 KB header without its closing quote (std::regex recursed 78,580 frames deep).
  put("regressions/npy", "unclosed_quote_40k.npy",
      npy_with_header("{'descr': '<f4" + std::string(40000, 'a'), 0));
  // A negative size, once read as (4, 28, 28); a 20-digit size, once "error: stoll".
  put("regressions/npy", "negative_dim.npy",
      npy_with_header("{'descr': '<f4', 'fortran_order': False, 'shape': (-4, 28, 28), }", 12544));
  put("regressions/npy", "twenty_digit_dim.npy",
      npy_with_header(
          "{'descr': '<f4', 'fortran_order': False, 'shape': (12345678901234567890, 2), }", 64));
}

void safetensors() {
  TensorMap t;
  t["conv.weight"] = Tensor::full({2, 1, 3, 3}, 0.25, DType::f32);
  t["conv.bias"] = Tensor::full({2}, 1, DType::f64);
  t["bn.count"] = Tensor::from_vector<int64_t>({3}, {1});
  t["half"] = Tensor::full({2}, 2, DType::f16);
  put("corpus/safetensors", "mixed.safetensors", serialize_safetensors(t, {{"format", "pt"}}));
  put("corpus/safetensors", "empty.safetensors", serialize_safetensors({}));
  // Item 1: "shape":[2,31e30] -- an out-of-range float-to-integer conversion in nlohmann's get<>.
  std::string json = R"({"w":{"dtype":"F32","shape":[2,31e30],"data_offsets":[0,8]}})";
  std::string f(8, '\0');
  f[0] = static_cast<char>(json.size());
  put("regressions/safetensors", "float_dim.safetensors", f + json + std::string(8, '\0'));
}

void idx_and_cifar() {
  Bytes images = file_bytes([](const std::string& p) { write_idx_file(p, pattern_u8({2, 3, 3})); });
  Bytes labels = file_bytes([](const std::string& p) {
    write_idx_file(p, Tensor::from_vector<uint8_t>({1, 9}, {2}));
  });
  put("corpus/idx", "images_2x3x3", images);
  put("corpus/idx", "labels_2", labels);
  put("corpus/idx_gz", "images_2x3x3.gz", gzip(images.data(), images.size()));
  put("corpus/idx_gz", "labels_2.gz", gzip(labels.data(), labels.size()));
  // Item 1: a 20-byte header of four sizes 65536, whose product 2^64 wraps to 0 in int64.
  Bytes header = {0, 0, 8, 4};
  for (int d = 0; d < 4; ++d) header.insert(header.end(), {0, 1, 0, 0});
  put("regressions/idx", "dims_product_2pow64", header);
  put("regressions/idx_gz", "dims_product_2pow64.gz", gzip(header.data(), header.size()));
  Bytes c10 = file_bytes([](const std::string& p) {
    write_cifar_file(p, CifarKind::cifar10, pattern_u8({1, 3, 32, 32}),
                     Tensor::from_vector<int64_t>({3}, {1}));
  });
  Bytes c100 = file_bytes([](const std::string& p) {
    write_cifar_file(p, CifarKind::cifar100, pattern_u8({1, 3, 32, 32}),
                     Tensor::from_vector<int64_t>({42}, {1}),
                     Tensor::from_vector<int64_t>({7}, {1}));
  });
  put("corpus/cifar", "cifar10_1.bin", c10);
  put("corpus/cifar", "cifar100_1.bin", c100);
}

// The PNG with the last byte of its (single) IDAT chunk -- the zlib stream's Adler-32 -- changed,
// and the chunk's CRC left stale or recomputed.
Bytes png_bad_adler32(Bytes png, bool fix_crc) {
  size_t at = 8;
  for (;;) {
    uint32_t len = (png[at] << 24) | (png[at + 1] << 16) | (png[at + 2] << 8) | png[at + 3];
    if (std::string(png.begin() + at + 4, png.begin() + at + 8) == "IDAT") {
      png[at + 8 + len - 1] ^= 0x01;
      if (fix_crc) {
        uint32_t crc = static_cast<uint32_t>(crc32(0, png.data() + at + 4, len + 4));
        for (int i = 0; i < 4; ++i)
          png[at + 8 + len + i] = static_cast<uint8_t>(crc >> (24 - 8 * i));
      }
      return png;
    }
    at += 12 + len;
  }
}

void images() {
  Bytes rgb = encode_png(pattern_u8({3, 4, 4}));
  put("corpus/image", "rgb_4x4.png", rgb);
  put("corpus/image", "gray_3x2.png", encode_png(pattern_u8({1, 2, 3})));
  put("corpus/image", "rgba_2x2.png", encode_png(pattern_u8({4, 2, 2})));
  put("corpus/image", "rgb_8x8.jpg", encode_jpeg(pattern_u8({3, 8, 8})));
  put("corpus/image", "rgb_2x2.ppm", "P6\n2 2\n255\n" + std::string(12, '\x40'));
  put("corpus/image", "gray_2x2.pgm", "P5 2 2 255 " + std::string(4, '\x80'));
  // A 2x2 24-bit BMP: 14-byte file header, 40-byte info header, rows padded to 4 bytes.
  std::string bmp = std::string("BM") + std::string("\x46\0\0\0\0\0\0\0\x36\0\0\0", 12) +
                    std::string("\x28\0\0\0\x02\0\0\0\x02\0\0\0\x01\0\x18\0", 16) +
                    std::string(24, '\0') + std::string(16, '\x7f');
  put("corpus/image", "rgb_2x2.bmp", bmp);
  // Item 11: a PNG with a bad CRC and a bad zlib checksum, and one with only the checksum bad (its
  // CRC recomputed). stb decoded both.
  put("regressions/image", "bad_crc_and_adler32.png", png_bad_adler32(rgb, false));
  put("regressions/image", "bad_adler32.png", png_bad_adler32(rgb, true));
}

void state_json() {
  TrainState s;
  s.iteration = 120;
  s.skipped_steps = 1;
  s.smoothed.add(2.3);
  nlohmann::json state = {{"format", 2},
                          {"train_state", s.to_json()},
                          {"lr_schedule", "fixed:value=0.1"},
                          {"momentum_schedule", "fixed:value=0.9"},
                          {"config", {{"model", "lenet"}, {"batch_size", 64}}}};
  put("corpus/state_json", "state.json", state.dump(2) + "\n");
  put("corpus/state_json", "format1.json", R"({"iteration": 5})");
}

void configs_and_schedules() {
  put("corpus/config", "train.yaml",
      "model: resnet20\nbatch_size: 128\nepochs: 2\nseed: &s 7\nworkers: *s\n"
      "lr: {name: multistep, base: 0.1, gamma: 0.1, steps: [50%, 75%]}\n"
      "momentum: 0.9\nnormalize: {mean: [0.5], std: [0.25]}\nmodel_options: {depth: 20}\n");
  put("corpus/config", "train.json",
      R"({"model": "lenet", "dataset": "fashion-mnist", "lr": "fixed:value=0.01", "epochs": 1})");
  // Item 13: "billion laughs", 9 levels of 9 aliases (48 s and 8 GB before bad_alloc), a key
  // given twice, and an alias inside its own anchor.
  std::string laughs =
      "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n";
  for (char c = 'b'; c <= 'i'; ++c) {
    std::string prev(1, static_cast<char>(c - 1));
    laughs += std::string(1, c) + ": &" + c + " [";
    for (int k = 0; k < 9; ++k) laughs += (k ? ",*" : "*") + prev;
    laughs += "]\n";
  }
  put("regressions/config", "billion_laughs.yaml", laughs);
  put("regressions/config", "duplicate_key.yaml", "batch_size: 32\nepochs: 1\nbatch_size: 64\n");
  put("regressions/config", "self_alias.yaml", "a: &x [*x, *x]\n");
  put("corpus/schedule", "onecycle.txt", "onecycle-smith:base=0.08,max=0.8,ss=45%");
  put("corpus/schedule", "multistep.txt", "multistep:base=0.1,gamma=0.316,steps=50%;75%;87.5%");
  put("corpus/schedule", "points.json",
      R"({"name": "points", "points": [[0, 0.1], ["41ep", 1.0]]})");
  put("corpus/schedule", "number.json", "0.9");
  put("corpus/schedule", "momentum.txt", "cyclic-momentum-smith:max=0.95,min=0.85,ss=45%");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s TESTS_FUZZ_DIR\n", argv[0]);
    return 2;
  }
  root = argv[1];
  npy();
  safetensors();
  idx_and_cifar();
  images();
  state_json();
  configs_and_schedules();
  return 0;
}
