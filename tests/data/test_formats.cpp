// Files written in the real formats (IDX raw and gz, CIFAR-10/100 binary, JPEG and PNG from
// stb_image_write) read back exactly.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "data/cifar.h"
#include "data/gzip.h"
#include "data/idx.h"
#include "data/image_folder.h"
#include "data/image_io.h"
#include "tests/data/data_testing.h"
#include "tests/testing.h"

namespace minidl {
namespace {

using testing::bytes_of;
using testing::random_u8;
using testing::TempDir;

void write_raw(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::ofstream f(path, std::ios::binary);
  f.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

// An IDX file built byte by byte, independently of write_idx_file.
std::vector<uint8_t> idx_bytes(uint8_t dims, const std::vector<uint32_t>& sizes,
                               const std::vector<uint8_t>& data) {
  std::vector<uint8_t> b = {0, 0, 0x08, dims};
  for (uint32_t s : sizes)
    for (int k = 3; k >= 0; --k) b.push_back(static_cast<uint8_t>(s >> (8 * k)));
  b.insert(b.end(), data.begin(), data.end());
  return b;
}

TEST(Idx, ParsesHandBuiltBytes) {
  std::vector<uint8_t> pix(2 * 3 * 4);
  for (size_t i = 0; i < pix.size(); ++i) pix[i] = static_cast<uint8_t>(7 * i + 1);
  std::vector<uint8_t> file = idx_bytes(3, {2, 3, 4}, pix);
  Tensor t = parse_idx(file.data(), file.size(), "hand");
  EXPECT_EQ(t.shape(), Shape({2, 3, 4}));
  EXPECT_EQ(bytes_of(t), pix);
  EXPECT_EQ(t.at<uint8_t>({1, 2, 3}), pix[23]);
}

TEST(Idx, RawAndGzDatasetsReadBackExactly) {
  TempDir dir;
  Tensor images = random_u8({5, 28, 28}, 1);
  std::vector<uint8_t> labels = {3, 0, 9, 1, 4};
  for (bool gz : {false, true}) {
    std::string ext = gz ? ".gz" : "";
    // images through the library writer, labels byte by byte (gzip for .gz)
    write_idx_file(dir / ("train-images-idx3-ubyte" + ext), images);
    std::vector<uint8_t> lab = idx_bytes(1, {5}, labels);
    write_file_atomic(dir / ("train-labels-idx1-ubyte" + ext),
                      gz ? gzip(lab.data(), lab.size()) : lab);
    auto ds = load_mnist_folder(dir.str(), Split::train, "mnist");
    EXPECT_EQ(ds->name(), "mnist/train");
    ASSERT_EQ(ds->size(), 5);
    EXPECT_EQ(ds->image_shape(), Shape({1, 28, 28}));
    EXPECT_EQ(bytes_of(ds->images()), bytes_of(images));
    for (int i = 0; i < 5; ++i) EXPECT_EQ(ds->label(i), labels[i]);
    EXPECT_EQ(bytes_of(ds->get(2).image), bytes_of(images.narrow(0, 2, 1)));
    if (!gz) {  // the raw file wins over the .gz: remove it for the next round
      std::filesystem::remove(dir / "train-images-idx3-ubyte");
      std::filesystem::remove(dir / "train-labels-idx1-ubyte");
    }
  }
  // the .gz really is gzip: magic 1f 8b, and it is not the raw bytes
  std::vector<uint8_t> gz = read_file(dir / "train-images-idx3-ubyte.gz");
  ASSERT_GE(gz.size(), 2u);
  EXPECT_EQ(gz[0], 0x1f);
  EXPECT_EQ(gz[1], 0x8b);
}

TEST(Idx, MultiMemberGzip) {
  std::vector<uint8_t> a = {1, 2, 3}, b = {4, 5};
  std::vector<uint8_t> ga = gzip(a.data(), a.size()), gb = gzip(b.data(), b.size());
  ga.insert(ga.end(), gb.begin(), gb.end());
  EXPECT_EQ(gunzip(ga.data(), ga.size(), "two"), std::vector<uint8_t>({1, 2, 3, 4, 5}));
}

// CIFAR records built byte by byte: label byte(s), then 1024 R, 1024 G, 1024 B.
std::vector<uint8_t> cifar_bytes(const Tensor& images, const std::vector<int>& fine,
                                 const std::vector<int>& coarse) {
  std::vector<uint8_t> px = bytes_of(images), out;
  for (size_t i = 0; i < fine.size(); ++i) {
    if (!coarse.empty()) out.push_back(static_cast<uint8_t>(coarse[i]));
    out.push_back(static_cast<uint8_t>(fine[i]));
    out.insert(out.end(), px.begin() + i * 3072, px.begin() + (i + 1) * 3072);
  }
  return out;
}

TEST(Cifar, Cifar10BatchesReadBackExactly) {
  TempDir dir;
  std::string folder = dir / "cifar-10-batches-bin";
  std::filesystem::create_directories(folder);
  const int per = 3;
  Tensor all = random_u8({5 * per, 3, 32, 32}, 2);
  std::vector<int> labels;
  for (int i = 0; i < 5 * per; ++i) labels.push_back((i * 7) % 10);
  for (int b = 0; b < 5; ++b) {
    std::vector<int> lb(labels.begin() + b * per, labels.begin() + (b + 1) * per);
    write_raw(folder + "/data_batch_" + std::to_string(b + 1) + ".bin",
              cifar_bytes(all.narrow(0, b * per, per), lb, {}));
  }
  Tensor test = random_u8({2, 3, 32, 32}, 3);
  write_cifar_file(folder + "/test_batch.bin", CifarKind::cifar10, test,
                   Tensor::from_vector<int64_t>({9, 0}, {2}));
  CifarOptions opt;
  opt.records_per_batch = per;
  auto train = load_cifar10(dir.str(), Split::train, opt);  // the parent folder is accepted
  ASSERT_EQ(train->size(), 5 * per);
  EXPECT_EQ(bytes_of(train->images()), bytes_of(all));
  for (int i = 0; i < 5 * per; ++i) EXPECT_EQ(train->label(i), labels[i]);
  // pixel (c=1 green, y=2, x=5) of record 4 sits at byte 1 + 1024 + 2*32 + 5 of that record
  std::vector<uint8_t> raw = read_file(folder + "/data_batch_2.bin");
  EXPECT_EQ(train->get(4).image.at<uint8_t>({1, 2, 5}), raw[3073 * 1 + 1 + 1024 + 2 * 32 + 5]);
  opt.records_per_batch = 2;
  auto t = load_cifar10(folder, Split::test, opt);
  ASSERT_EQ(t->size(), 2);
  EXPECT_EQ(bytes_of(t->images()), bytes_of(test));
  EXPECT_EQ(t->label(0), 9);
  EXPECT_EQ(t->num_classes(), 10);
}

TEST(Cifar, Cifar100FineAndCoarse) {
  TempDir dir;
  Tensor train = random_u8({10, 3, 32, 32}, 4), test = random_u8({2, 3, 32, 32}, 5);
  std::vector<int> fine, coarse;
  for (int i = 0; i < 10; ++i) fine.push_back(i * 11 % 100), coarse.push_back(i * 3 % 20);
  write_raw(dir / "train.bin", cifar_bytes(train, fine, coarse));
  write_raw(dir / "test.bin", cifar_bytes(test, {99, 0}, {19, 0}));
  CifarOptions opt;
  opt.records_per_batch = 2;  // train.bin holds 5x, test.bin 1x
  auto f = load_cifar100(dir.str(), Split::train, opt);
  EXPECT_EQ(bytes_of(f->images()), bytes_of(train));
  EXPECT_EQ(f->num_classes(), 100);
  for (int i = 0; i < 10; ++i) EXPECT_EQ(f->label(i), fine[i]);
  opt.labels = Cifar100Labels::coarse;
  auto c = load_cifar100(dir.str(), Split::train, opt);
  EXPECT_EQ(c->num_classes(), 20);
  for (int i = 0; i < 10; ++i) EXPECT_EQ(c->label(i), coarse[i]);
  auto t = load_cifar100(dir.str(), Split::test, opt);
  EXPECT_EQ(t->label(0), 19);
  EXPECT_EQ(bytes_of(t->images()), bytes_of(test));
}

// A smooth RGB image (JPEG keeps smooth content within a few levels at quality 100).
Tensor smooth_rgb(int64_t h, int64_t w, int shift) {
  std::vector<uint8_t> v(static_cast<size_t>(3 * h * w));
  for (int64_t c = 0; c < 3; ++c)
    for (int64_t y = 0; y < h; ++y)
      for (int64_t x = 0; x < w; ++x)
        v[(c * h + y) * w + x] = static_cast<uint8_t>((40 * c + 3 * y + 2 * x + shift) % 200 + 20);
  return Tensor::from_vector(v, {3, h, w});
}

TEST(ImageFolder, PngAndJpegReadBack) {
  TempDir dir;
  // classes in torchvision order: "B" < "a" < "b" (byte order), nested files included
  for (const char* c : {"b", "a", "B"}) std::filesystem::create_directories(dir / c);
  std::filesystem::create_directories(dir / "a/sub");
  Tensor rgb = random_u8({3, 7, 9}, 6), rgba = random_u8({4, 5, 6}, 7),
         gray = random_u8({1, 4, 3}, 8);
  Tensor smooth = smooth_rgb(16, 24, 5);
  write_file_atomic(dir / "B/x.png", encode_png(rgb));
  write_file_atomic(dir / "a/2.PNG", encode_png(rgba));
  write_file_atomic(dir / "a/1.png", encode_png(gray));
  write_file_atomic(dir / "a/sub/0.jpeg", encode_jpeg(smooth, 100));
  write_file_atomic(dir / "a/notes.txt", std::string("hi"));  // not an image: ignored
  write_file_atomic(dir / "b/y.jpg", encode_jpeg(smooth, 100));
  ImageFolderDataset ds(dir.str());
  EXPECT_EQ(ds.classes(), std::vector<std::string>({"B", "a", "b"}));
  ASSERT_EQ(ds.size(), 5);
  EXPECT_EQ(ds.image_shape(), Shape({3, -1, -1}));
  // order: B/x.png; a/1.png, a/2.PNG (directory a), a/sub/0.jpeg; b/y.jpg
  EXPECT_EQ(std::filesystem::path(ds.path(1)).filename(), "1.png");
  EXPECT_EQ(std::filesystem::path(ds.path(3)).filename(), "0.jpeg");
  std::vector<int64_t> labels;
  for (int i = 0; i < 5; ++i) labels.push_back(ds.label(i));
  EXPECT_EQ(labels, std::vector<int64_t>({0, 1, 1, 1, 2}));
  EXPECT_EQ(bytes_of(ds.get(0).image), bytes_of(rgb));                   // PNG: exact
  EXPECT_EQ(bytes_of(ds.get(2).image), bytes_of(rgba.narrow(0, 0, 3)));  // alpha dropped
  Tensor g3 = ds.get(1).image;                                           // gray -> RGB
  ASSERT_EQ(g3.shape(), Shape({3, 4, 3}));
  for (int c = 0; c < 3; ++c) EXPECT_EQ(bytes_of(g3.narrow(0, c, 1)), bytes_of(gray));
  Tensor j = ds.get(4).image;  // JPEG at quality 100: within a few levels
  ASSERT_EQ(j.shape(), Shape({3, 16, 24}));
  EXPECT_TRUE(testing::all_close(j.to(DType::f32), smooth.to(DType::f32), 6, 0));
}

}  // namespace
}  // namespace minidl
