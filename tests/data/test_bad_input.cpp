// Bad input: each case is an error naming the file and, where it applies, the byte offset or the
// record; parsers never read past their buffer (checked against a guard page).
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include "data/cifar.h"
#include "data/gzip.h"
#include "data/idx.h"
#include "data/image_folder.h"
#include "data/image_io.h"
#include "data/loader.h"
#include "tests/data/data_testing.h"
#include "tests/testing.h"

namespace minidl {
namespace {

using testing::random_u8;
using testing::TempDir;
namespace fs = std::filesystem;

std::vector<uint8_t> idx_file(const Tensor& t) {
  TempDir d;
  write_idx_file(d / "x", t);
  return read_file(d / "x");
}

void put(const std::string& path, const std::vector<uint8_t>& bytes) {
  write_file_atomic(path, bytes);
}

// ---- missing ----

TEST(BadInput, MissingDirectory) {
  EXPECT_MINIDL_ERROR(load_mnist_folder("/nonexistent/minidl", Split::train), "/nonexistent/minidl",
                      "not found");
  EXPECT_MINIDL_ERROR(load_cifar10("/nonexistent/minidl", Split::train), "/nonexistent/minidl",
                      "not found");
  EXPECT_MINIDL_ERROR(ImageFolderDataset("/nonexistent/minidl"), "/nonexistent/minidl",
                      "not found");
}

TEST(BadInput, MissingFile) {
  TempDir dir;
  write_idx_file(dir / "train-images-idx3-ubyte", random_u8({2, 28, 28}, 1));
  EXPECT_MINIDL_ERROR(load_mnist_folder(dir.str(), Split::train), "train-labels-idx1-ubyte",
                      "found");
  CifarOptions opt;
  opt.records_per_batch = 1;
  for (int b : {1, 2, 4, 5})  // data_batch_3.bin is missing
    write_cifar_file(dir / ("data_batch_" + std::to_string(b) + ".bin"), CifarKind::cifar10,
                     random_u8({1, 3, 32, 32}, b), Tensor::from_vector<int64_t>({1}, {1}));
  EXPECT_MINIDL_ERROR(load_cifar10(dir.str(), Split::train, opt), "data_batch_3.bin",
                      "no such file");
}

// ---- IDX ----

TEST(BadInput, TruncatedIdx) {
  TempDir dir;
  std::vector<uint8_t> f = idx_file(random_u8({3, 4, 5}, 2));
  f.resize(f.size() - 7);  // 60 data bytes from offset 16; the data now ends at offset 69
  put(dir / "images", f);
  EXPECT_MINIDL_ERROR(read_idx_file(dir / "images"), dir / "images", "truncated", "byte offset 16",
                      "byte offset 69");
  f.resize(10);  // inside the dimension sizes
  put(dir / "images", f);
  EXPECT_MINIDL_ERROR(read_idx_file(dir / "images"), dir / "images", "truncated IDX header");
  // a .gz cut short: the gzip error names the compressed offset
  std::vector<uint8_t> gz = gzip(f.data(), f.size());
  gz.resize(gz.size() / 2);
  put(dir / "images.gz", gz);
  EXPECT_MINIDL_ERROR(read_idx_file(dir / "images.gz"), dir / "images.gz", "truncated", "offset");
}

TEST(BadInput, WrongMagic) {
  TempDir dir;
  std::vector<uint8_t> f = idx_file(random_u8({2, 4, 4}, 3));
  f[2] = 0x09;  // element type 0x09 (i8)
  put(dir / "a", f);
  EXPECT_MINIDL_ERROR(read_idx_file(dir / "a"), dir / "a", "element type 0x9", "byte offset 2");
  f[0] = 0x1f, f[1] = 0x8c;  // not an IDX file at all
  put(dir / "b", f);
  EXPECT_MINIDL_ERROR(read_idx_file(dir / "b"), dir / "b", "wrong magic number 0x1f8c0903",
                      "byte offset 0");
  // gzip data without the .gz name, and a raw file named .gz
  put(dir / "d", gzip(f.data(), f.size()));
  EXPECT_MINIDL_ERROR(read_idx_file(dir / "d"), dir / "d", "wrong magic number",
                      "name the file .gz");
  // a raw file named .gz is not gzip
  put(dir / "c.gz", idx_file(random_u8({2, 4, 4}, 3)));
  EXPECT_MINIDL_ERROR(read_idx_file(dir / "c.gz"), dir / "c.gz", "gzip data corrupt");
}

TEST(BadInput, IdxLabelOutOfRangeAndCountMismatch) {
  TempDir dir;
  write_idx_file(dir / "img", random_u8({4, 28, 28}, 4));
  write_idx_file(dir / "lab", Tensor::from_vector<uint8_t>({1, 2, 10, 3}, {4}));
  EXPECT_MINIDL_ERROR(load_idx_dataset(dir / "img", dir / "lab", 10, "t"), dir / "lab",
                      "label 10 of record 2", "byte offset 10", "[0, 10)");
  write_idx_file(dir / "lab3", Tensor::from_vector<uint8_t>({1, 2, 3}, {3}));
  EXPECT_MINIDL_ERROR(load_idx_dataset(dir / "img", dir / "lab3", 10, "t"), "4 images", "3 labels");
  // images and labels swapped
  EXPECT_MINIDL_ERROR(load_idx_dataset(dir / "lab", dir / "img", 10, "t"), dir / "lab",
                      "3 dimensions");
}

TEST(BadInput, IdxSizesWhoseProductOverflows) {
  // A 20-byte header: four sizes of 65536, whose product 2^64 wraps to 0 in 64-bit arithmetic.
  std::vector<uint8_t> f = {0, 0, 8, 4, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0};
  EXPECT_MINIDL_ERROR(parse_idx(f.data(), f.size(), "big-idx"), "big-idx",
                      "[65536, 65536, 65536, 65536]", "byte offsets 4..19",
                      "multiply to more than 2^63 bytes");
  f.resize(16);  // three of them fit: 2^48 bytes, which the file does not hold
  f[3] = 3;
  EXPECT_MINIDL_ERROR(parse_idx(f.data(), f.size(), "big-idx"), "big-idx", "truncated",
                      "281474976710656 bytes");
}

// ---- CIFAR ----

TEST(BadInput, TruncatedCifar) {
  TempDir dir;
  write_cifar_file(dir / "test_batch.bin", CifarKind::cifar10, random_u8({3, 3, 32, 32}, 5),
                   Tensor::from_vector<int64_t>({1, 2, 3}, {3}));
  std::vector<uint8_t> f = read_file(dir / "test_batch.bin");
  f.resize(f.size() - 100);
  put(dir / "test_batch.bin", f);
  CifarOptions opt;
  opt.records_per_batch = 3;
  EXPECT_MINIDL_ERROR(load_cifar10(dir.str(), Split::test, opt), "test_batch.bin", "truncated",
                      "record 2 at byte offset 6146");
  // whole records, but fewer than the format's count (real files hold 10000)
  f.resize(2 * 3073);
  put(dir / "test_batch.bin", f);
  EXPECT_MINIDL_ERROR(load_cifar10(dir.str(), Split::test), "test_batch.bin", "2 records",
                      "expected 10000");
}

TEST(BadInput, CifarLabelOutOfRange) {
  TempDir dir;
  std::vector<uint8_t> f(3 * 3073, 0);
  f[2 * 3073] = 10;  // record 2's label
  put(dir / "test_batch.bin", f);
  CifarOptions opt;
  opt.records_per_batch = 0;
  EXPECT_MINIDL_ERROR(load_cifar10(dir.str(), Split::test, opt), "test_batch.bin", "label 10",
                      "record 2", "byte offset 6146");
  std::vector<uint8_t> g(2 * 3074, 0);
  g[3074 + 1] = 100;  // record 1's fine label
  put(dir / "test.bin", g);
  EXPECT_MINIDL_ERROR(load_cifar100(dir.str(), Split::test, opt), "test.bin", "fine label 100",
                      "record 1", "byte offset 3075");
}

TEST(BadInput, CifarRecordCountsThatOverflow) {
  TempDir dir;
  for (const char* f : {"train.bin", "test.bin"})
    write_cifar_file(dir / f, CifarKind::cifar100, random_u8({1, 3, 32, 32}, 5),
                     Tensor::from_vector<int64_t>({5}, {1}),
                     Tensor::from_vector<int64_t>({2}, {1}));
  CifarOptions opt;
  opt.records_per_batch = INT64_MAX / 3;  // train.bin holds 5x: overflows
  EXPECT_MINIDL_ERROR(load_cifar100(dir.str(), Split::train, opt), "records_per_batch",
                      "too large");
  opt.records_per_batch = INT64_MAX / 3000;  // x 3074 bytes per record overflows
  EXPECT_MINIDL_ERROR(load_cifar100(dir.str(), Split::test, opt), "test.bin",
                      "not a count of CIFAR records");
}

// ---- ImageFolder ----

TEST(BadInput, EmptyClassFolder) {
  TempDir dir;
  fs::create_directories(dir / "cat");
  fs::create_directories(dir / "dog");
  write_file_atomic(dir / "cat/1.png", encode_png(random_u8({3, 4, 4}, 6)));
  write_file_atomic(dir / "dog/readme.txt", std::string("x"));
  EXPECT_MINIDL_ERROR(ImageFolderDataset(dir.str()), dir / "dog", "no image files");
  TempDir empty;
  EXPECT_MINIDL_ERROR(ImageFolderDataset(empty.str()), "no class folders");
}

// A folder with one good image and the bad kinds.
void bad_folder(const TempDir& dir) {
  fs::create_directories(dir / "c");
  write_file_atomic(dir / "c/0_good.png", encode_png(random_u8({3, 8, 8}, 7)));
  write_file_atomic(dir / "c/1_garbage.jpg", std::string("not an img"));
  std::vector<uint8_t> png = encode_png(random_u8({3, 32, 32}, 8));
  png.resize(png.size() / 2);
  write_file_atomic(dir / "c/2_truncated.png", png);
  std::vector<uint8_t> jpg = encode_jpeg(random_u8({3, 32, 32}, 9), 90);
  jpg.resize(jpg.size() - 20);
  write_file_atomic(dir / "c/3_truncated.jpg", jpg);
  fs::create_symlink(dir / "nowhere.png", dir / "c/4_unreadable.png");
}

TEST(BadInput, CorruptAndUnreadableImages) {
  TempDir dir;
  bad_folder(dir);
  ImageFolderDataset ds(dir.str());
  ASSERT_EQ(ds.size(), 5);
  EXPECT_EQ(ds.get(0).image.shape(), Shape({3, 8, 8}));
  EXPECT_MINIDL_ERROR(ds.get(1), "1_garbage.jpg", "cannot decode image");
  EXPECT_MINIDL_ERROR(ds.get(2), "2_truncated.png", "truncated PNG");
  EXPECT_MINIDL_ERROR(ds.get(3), "3_truncated.jpg", "truncated JPEG");
  EXPECT_MINIDL_ERROR(ds.get(4), "4_unreadable.png", "no such file");
}

TEST(BadInput, CorruptImageReachesTheLoaderConsumer) {
  TempDir dir;
  bad_folder(dir);
  auto ds = std::make_shared<ImageFolderDataset>(dir.str());
  LoaderOptions opt;
  opt.batch_size = 1, opt.shuffle = false, opt.workers = 2;
  Loader loader(ds, Transform().center_crop(8, 8), opt);
  EXPECT_EQ(loader.next().images.shape(), Shape({1, 3, 8, 8}));
  EXPECT_MINIDL_ERROR(loader.next(), "1_garbage.jpg");
  EXPECT_EQ(loader.position(), (LoaderPosition{0, 1}));  // stays on the failing batch
  EXPECT_MINIDL_ERROR(loader.next(), "1_garbage.jpg");
}

TEST(BadInput, SkipAndCountBadImages) {
  TempDir dir;
  bad_folder(dir);
  for (bool full : {true, false}) {
    ImageFolderOptions opt;
    opt.skip_bad_images = true, opt.full_check = full;
    ImageFolderDataset ds(dir.str(), opt);
    if (full) {
      ASSERT_EQ(ds.size(), 1);
      ASSERT_EQ(ds.skipped().size(), 4u);
      EXPECT_NE(ds.skipped()[2].path.find("3_truncated.jpg"), std::string::npos);
      EXPECT_NE(ds.skipped()[3].reason.find("no such file"), std::string::npos);
    } else {  // a header check cannot see truncated pixel data
      EXPECT_EQ(ds.size() + static_cast<int64_t>(ds.skipped().size()), 5);
      EXPECT_GE(ds.skipped().size(), 2u);
    }
    EXPECT_NE(ds.skipped()[0].path.find("1_garbage.jpg"), std::string::npos);
    EXPECT_EQ(ds.get(0).image.shape(), Shape({3, 8, 8}));
  }
}

// ---- never past the buffer ----

// Copies bytes to the end of a page followed by an inaccessible page: a read past the end faults.
class GuardedBuffer {
 public:
  explicit GuardedBuffer(const std::vector<uint8_t>& bytes) {
    page_ = static_cast<size_t>(sysconf(_SC_PAGESIZE));
    pages_ = (bytes.size() + page_ - 1) / page_ + 1;
    base_ = static_cast<uint8_t*>(
        mmap(nullptr, pages_ * page_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    mprotect(base_ + (pages_ - 1) * page_, page_, PROT_NONE);
    data_ = base_ + (pages_ - 1) * page_ - bytes.size();
    if (!bytes.empty()) std::memcpy(data_, bytes.data(), bytes.size());
  }
  ~GuardedBuffer() { munmap(base_, pages_ * page_); }
  const uint8_t* data() const { return data_; }

 private:
  size_t page_, pages_;
  uint8_t *base_, *data_;
};

// Every proper prefix of a valid file must throw minidl::Error, reading only the prefix; with
// `or_same`, a prefix may instead give exactly the whole file's result (a format whose last bytes
// hold no data).
template <typename Parse>
void every_prefix_throws(const std::vector<uint8_t>& file, Parse parse, const char* what,
                         bool or_same = false) {
  GuardedBuffer whole(file);
  std::vector<uint8_t> want = testing::bytes_of(parse(whole.data(), file.size()));
  int same = 0;
  for (size_t n = 0; n < file.size(); ++n) {
    GuardedBuffer buf(std::vector<uint8_t>(file.begin(), file.begin() + n));
    try {
      Tensor got = parse(buf.data(), n);
      EXPECT_TRUE(or_same && testing::bytes_of(got) == want)
          << what << ": a prefix of " << n << " bytes parsed to different data";
      ++same;
    } catch (const Error&) {
    }
  }
  EXPECT_LE(same, 16) << what;  // only the tail may be missing
}

TEST(BadInput, ParsersNeverReadPastTheBuffer) {
  every_prefix_throws(
      idx_file(random_u8({2, 3, 5}, 10)),
      [](const uint8_t* p, size_t n) { return parse_idx(p, n, "idx"); }, "idx");
  TempDir dir;
  write_cifar_file(dir / "c", CifarKind::cifar100, random_u8({1, 3, 32, 32}, 11),
                   Tensor::from_vector<int64_t>({5}, {1}), Tensor::from_vector<int64_t>({2}, {1}));
  std::vector<uint8_t> cifar = read_file(dir / "c");
  for (size_t n = 1; n < cifar.size(); n += 97) {  // partial records (n = 0 is an empty file)
    GuardedBuffer buf(std::vector<uint8_t>(cifar.begin(), cifar.begin() + n));
    EXPECT_MINIDL_ERROR(parse_cifar(buf.data(), n, CifarKind::cifar100, "c"), "truncated");
  }
  std::vector<uint8_t> raw(3000);
  for (size_t i = 0; i < raw.size(); ++i) raw[i] = static_cast<uint8_t>(i * i);
  every_prefix_throws(
      gzip(raw.data(), raw.size()),
      [](const uint8_t* p, size_t n) {
        std::vector<uint8_t> v = gunzip(p, n, "gz");
        return Tensor::from_vector(v, {static_cast<int64_t>(v.size())});
      },
      "gzip");
  auto decode = [](const uint8_t* p, size_t n) { return decode_image(p, n, "img"); };
  every_prefix_throws(encode_png(random_u8({3, 9, 7}, 12)), decode, "png", true);
  every_prefix_throws(encode_jpeg(random_u8({3, 9, 7}, 13), 80), decode, "jpeg");
}

}  // namespace
}  // namespace minidl
