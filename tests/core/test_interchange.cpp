// safetensors and .npy: round trips, files written by Python's safetensors and NumPy, malformed
// input.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "core/file_io.h"
#include "core/npy.h"
#include "core/safetensors.h"
#include "tests/testing.h"

namespace minidl {
namespace {

namespace fs = std::filesystem;

struct TempDir {
  fs::path path;
  TempDir() {
    path = fs::temp_directory_path() / ("minidl_test_" + std::to_string(::getpid()) + "_" +
                                        std::to_string(reinterpret_cast<uintptr_t>(this)));
    fs::create_directories(path);
  }
  ~TempDir() { fs::remove_all(path); }
  std::string file(const std::string& name) const { return (path / name).string(); }
};

bool python_has(const std::string& modules) {
  return std::system(("/usr/bin/python3 -c 'import " + modules + "' >/dev/null 2>&1").c_str()) == 0;
}

TEST(Safetensors, RoundTripEveryDtypeAndMetadata) {
  TempDir dir;
  TensorMap in;
  in["a.weight"] = testing::random_tensor({3, 4}, 1);
  in["b"] = testing::random_tensor({5}, 2).to(DType::f64);
  in["c.half"] = testing::random_tensor({2, 2}, 3).to(DType::f16);
  in["d.bf"] = testing::random_tensor({7}, 4).to(DType::bf16);
  in["e.idx"] = Tensor::from_vector<int64_t>({1, -2, 3}, {3});
  in["f.i32"] = Tensor::from_vector<int32_t>({7}, {1});
  in["g.u8"] = Tensor::from_vector<uint8_t>({0, 255}, {2});
  in["h.strided"] = testing::random_tensor({4, 3}, 5).permute({1, 0});  // written contiguous
  save_safetensors(dir.file("x.safetensors"), in, {{"format", "pt"}, {"minidl", "1"}});
  Metadata meta;
  TensorMap out = load_safetensors(dir.file("x.safetensors"), &meta);
  ASSERT_EQ(out.size(), in.size());
  for (auto& [name, t] : in) {
    ASSERT_TRUE(out.count(name)) << name;
    EXPECT_EQ(out[name].dtype(), t.dtype()) << name;
    EXPECT_TRUE(testing::all_close(out[name].to(DType::f64), t.to(DType::f64), 0, 0)) << name;
  }
  EXPECT_EQ(meta["format"], "pt");
  EXPECT_EQ(meta["minidl"], "1");
}

TEST(Safetensors, BadFilesNameTheProblem) {
  std::string good = serialize_safetensors({{"w", testing::random_tensor({2, 3}, 1)}});
  auto parse = [](const std::string& bytes) {
    return parse_safetensors(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(),
                             "f.safetensors");
  };
  EXPECT_MINIDL_ERROR(parse(good.substr(0, 5)), "f.safetensors", "truncated");
  EXPECT_MINIDL_ERROR(parse(good.substr(0, good.size() - 4)), "f.safetensors", "'w'",
                      "data_offsets");
  std::string bad_len = good;
  bad_len[0] = '\xff';
  bad_len[3] = '\x7f';
  EXPECT_MINIDL_ERROR(parse(bad_len), "f.safetensors", "header length", "runs past");
  std::string bad_json = good;
  bad_json[8] = '[';
  EXPECT_MINIDL_ERROR(parse(bad_json), "f.safetensors", "header");
  EXPECT_MINIDL_ERROR(load_safetensors("/nonexistent/x.safetensors"), "/nonexistent/x.safetensors");
}

TEST(Safetensors, InteroperatesWithPythonSafetensors) {
  if (!python_has("safetensors, torch"))
    GTEST_SKIP() << "/usr/bin/python3 lacks safetensors or torch";
  TempDir dir;
  std::string py = dir.file("w.safetensors"), ours = dir.file("ours.safetensors");
  std::string script =
      "import torch\n"
      "from safetensors.torch import save_file, load_file\n"
      "g = torch.Generator().manual_seed(0)\n"
      "save_file({'conv.weight': torch.arange(24, dtype=torch.float32).reshape(2,3,4) / 7,\n"
      "           'bn.num_batches_tracked': torch.tensor(5, dtype=torch.int64),\n"
      "           'half': torch.tensor([1.5, -2.25], dtype=torch.bfloat16)}, '" +
      py +
      "', {'k': 'v'})\n"
      "t = load_file('" +
      ours +
      "')\n"
      "assert torch.equal(t['x'], torch.arange(6, dtype=torch.float32).reshape(2, 3) * 0.5), "
      "t['x']\n"
      "assert t['y'].dtype == torch.float16 and t['y'].tolist() == [0.25, -8.0]\n";
  save_safetensors(ours, {{"x", Tensor::from_vector<float>({0, 0.5, 1, 1.5, 2, 2.5}, {2, 3})},
                          {"y", Tensor::from_vector<float>({0.25, -8}, {2}).to(DType::f16)}});
  std::ofstream(dir.file("s.py")) << script;
  ASSERT_EQ(std::system(("/usr/bin/python3 " + dir.file("s.py")).c_str()), 0)
      << "python side failed";
  Metadata meta;
  TensorMap t = load_safetensors(py, &meta);
  EXPECT_EQ(t.at("conv.weight").shape(), (Shape{2, 3, 4}));
  EXPECT_FLOAT_EQ(t.at("conv.weight").at<float>({1, 2, 3}), 23.f / 7);
  EXPECT_EQ(t.at("bn.num_batches_tracked").dim(), 0);
  EXPECT_EQ(t.at("bn.num_batches_tracked").item<int64_t>(), 5);
  EXPECT_EQ(t.at("half").dtype(), DType::bf16);
  EXPECT_EQ(t.at("half").to_vector<float>(), (std::vector<float>{1.5f, -2.25f}));
  EXPECT_EQ(meta["k"], "v");
}

TEST(Npy, RoundTripAndShapes) {
  TempDir dir;
  for (Shape s : {Shape{}, Shape{5}, Shape{2, 3}, Shape{2, 1, 4}}) {
    Tensor t = testing::random_tensor(s, 7);
    save_npy(dir.file("a.npy"), t);
    Tensor back = load_npy(dir.file("a.npy"));
    EXPECT_EQ(back.shape(), s);
    EXPECT_TRUE(testing::all_close(back, t, 0, 0));
  }
  Tensor ints = Tensor::from_vector<int64_t>({4, 5, 6}, {3});
  save_npy(dir.file("i.npy"), ints);
  EXPECT_EQ(load_npy(dir.file("i.npy")).to_vector<int64_t>(), (std::vector<int64_t>{4, 5, 6}));
  std::string bytes = serialize_npy(testing::random_tensor({3}, 1));
  EXPECT_EQ(bytes.size() % 64, 12u);  // header padded so the data starts 64-byte aligned
}

TEST(Npy, InteroperatesWithNumpy) {
  if (!python_has("numpy")) GTEST_SKIP() << "/usr/bin/python3 lacks numpy";
  TempDir dir;
  save_npy(dir.file("ours.npy"), Tensor::from_vector<float>({1, 2, 3, 4, 5, 6}, {2, 3}));
  std::string script =
      "import numpy as np\n"
      "a = np.load('" +
      dir.file("ours.npy") +
      "')\n"
      "assert a.shape == (2, 3) and a.dtype == np.float32 and a[1, 2] == 6\n"
      "np.save('" +
      dir.file("c.npy") +
      "', np.arange(12, dtype=np.float64).reshape(3, 4))\n"
      "np.save('" +
      dir.file("f.npy") +
      "', np.asfortranarray(np.arange(6, dtype=np.int32).reshape(2, 3)))\n"
      "np.save('" +
      dir.file("u.npy") + "', np.array([[1, 2]], dtype=np.uint8))\n";
  std::ofstream(dir.file("s.py")) << script;
  ASSERT_EQ(std::system(("/usr/bin/python3 " + dir.file("s.py")).c_str()), 0);
  Tensor c = load_npy(dir.file("c.npy"));
  EXPECT_EQ(c.dtype(), DType::f64);
  EXPECT_EQ(c.at<double>({2, 1}), 9.0);
  Tensor f = load_npy(dir.file("f.npy"));  // Fortran order comes back in C order
  EXPECT_EQ(f.to_vector<int32_t>(), (std::vector<int32_t>{0, 1, 2, 3, 4, 5}));
  EXPECT_EQ(load_npy(dir.file("u.npy")).shape(), (Shape{1, 2}));
}

TEST(Npy, BadFiles) {
  std::string good = serialize_npy(testing::random_tensor({4}, 1));
  auto parse = [](const std::string& b) {
    return parse_npy(reinterpret_cast<const uint8_t*>(b.data()), b.size(), "x.npy");
  };
  EXPECT_MINIDL_ERROR(parse("hello world"), "x.npy", "bad magic");
  EXPECT_MINIDL_ERROR(parse(good.substr(0, good.size() - 1)), "x.npy", "truncated data", "[4]");
  std::string big_endian = good;
  big_endian.replace(big_endian.find("<f4"), 3, ">f4");
  EXPECT_MINIDL_ERROR(parse(big_endian), "x.npy", ">f4");
}

TEST(FileIo, AtomicWriteReplacesWholeFile) {
  TempDir dir;
  std::string p = dir.file("f.txt");
  write_file_atomic(p, std::string("first"));
  write_file_atomic(p, std::string("second"));
  std::vector<uint8_t> b = read_file(p);
  EXPECT_EQ(std::string(b.begin(), b.end()), "second");
  int files = 0;
  for (auto& e : fs::directory_iterator(dir.path)) files += e.is_regular_file();
  EXPECT_EQ(files, 1);  // no temporary left behind
  EXPECT_MINIDL_ERROR(write_file_atomic(dir.file("no/such/dir/f"), std::string("x")),
                      "no/such/dir/f");
}

}  // namespace
}  // namespace minidl
