// Files made to break the readers (issue 12): every case is an error naming the file and the field,
// never undefined behaviour, a crash, or an allocation sized by a number that wrapped around.
#include <gtest/gtest.h>

#include <string>

#include "core/json_input.h"
#include "core/npy.h"
#include "core/safetensors.h"
#include "core/text.h"
#include "tests/testing.h"

namespace minidl {
namespace {

constexpr int64_t kTwoPow62 = int64_t(1) << 62;

TEST(Shape, ProductsAreChecked) {
  int64_t out = -1;
  EXPECT_TRUE(checked_mul(int64_t(1) << 31, int64_t(1) << 31, out));
  EXPECT_EQ(out, int64_t(1) << 62);
  EXPECT_FALSE(checked_mul(kTwoPow62, 2, out));
  EXPECT_EQ(out, int64_t(1) << 62);  // untouched
  // (2^62 + 2) x 784 wrapped to a small positive number before: im2col then overran the buffer.
  EXPECT_MINIDL_ERROR(shape_numel({kTwoPow62 + 2, 1, 28, 28}), "[4611686018427387906, 1, 28, 28]",
                      "overflows");
  EXPECT_MINIDL_ERROR(contiguous_strides({kTwoPow62 + 2, 1, 28, 28}), "overflow 64 bits");
  int64_t bytes = 0;
  EXPECT_TRUE(shape_nbytes({2, 3}, 4, bytes));
  EXPECT_EQ(bytes, 24);
  EXPECT_FALSE(shape_nbytes({int64_t(1) << 61}, 8, bytes));  // 2^64 bytes: wrapped to 0 before
  EXPECT_FALSE(shape_nbytes({-4, 28}, 1, bytes));
  EXPECT_MINIDL_ERROR(Tensor::empty({int64_t(1) << 61}, DType::f64), "overflows");
}

std::string npy(const std::string& dict, size_t data_bytes = 0) {
  std::string header = dict + "\n";
  std::string out("\x93NUMPY\x01\x00", 8);
  out += static_cast<char>(header.size() & 0xff);
  out += static_cast<char>(header.size() >> 8);
  return out + header + std::string(data_bytes, '\0');
}

Tensor parse_npy_text(const std::string& bytes) {
  return parse_npy(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), "x.npy");
}

std::string npy_shape(const std::string& shape, size_t data_bytes = 0) {
  return npy("{'descr': '<f4', 'fortran_order': False, 'shape': " + shape + ", }", data_bytes);
}

TEST(Npy, ShapeWhoseByteSizeOverflows) {
  EXPECT_MINIDL_ERROR(parse_npy_text(npy_shape("(4611686018427387906, 1, 28, 28)", 1568)), "x.npy",
                      "'shape' [4611686018427387906, 1, 28, 28]", "overflows");
  EXPECT_MINIDL_ERROR(parse_npy_text(npy_shape("(4611686018427387904,)", 64)), "x.npy",
                      "overflows");  // 2^62 elements of 4 bytes: 2^64 bytes
}

TEST(Npy, LongHeaderWithoutClosingQuote) {  // std::regex recursed 78,580 frames deep on this
  EXPECT_MINIDL_ERROR(parse_npy_text(npy("{'descr': '<f4" + std::string(40000, 'a'))), "x.npy",
                      "header length 40015", "over 10000");
  EXPECT_MINIDL_ERROR(parse_npy_text(npy("{'descr': '<f4" + std::string(9000, 'a'))), "x.npy",
                      "never closed");
}

TEST(Npy, NegativeOrOverlongShapeEntries) {
  Tensor ok = parse_npy_text(npy_shape("(2, 3)", 24));
  EXPECT_EQ(ok.shape(), Shape({2, 3}));
  EXPECT_MINIDL_ERROR(parse_npy_text(npy_shape("(-4, 28, 28)", 12544)), "x.npy",
                      "shape entry 0 is negative (-4)");
  EXPECT_MINIDL_ERROR(parse_npy_text(npy_shape("(2, 12345678901234567890)", 64)), "x.npy",
                      "shape entry 1 '12345678901234567890' is not a size");
  EXPECT_MINIDL_ERROR(parse_npy_text(npy_shape("(2, " + std::string(300, '9') + ")")), "x.npy",
                      "shape entry 1", "...' is not a size");
  EXPECT_MINIDL_ERROR(parse_npy_text(npy_shape("(1, 1, 1, 1, 1, 1, 1, 1, 1)", 4)), "x.npy",
                      "more than 8 dimensions");
  EXPECT_MINIDL_ERROR(parse_npy_text(npy_shape("(2, 3x)", 24)), "shape entry 1 '3x'");
}

TEST(Npy, HeaderIsReadAsExactlyThePythonDict) {
  // What NumPy and Python 2's NumPy wrote: double quotes, no trailing comma, 3L.
  Tensor t = parse_npy_text(
      npy("{\"descr\": \"<i4\", \"shape\": (3L, 1L), \"fortran_order\": False}", 12));
  EXPECT_EQ(t.shape(), Shape({3, 1}));
  EXPECT_EQ(parse_npy_text(npy_shape("()", 4)).dim(), 0);
  auto bad = [](const std::string& dict, const char* what) {
    EXPECT_MINIDL_ERROR(parse_npy_text(npy(dict, 64)), "x.npy", ".npy header, byte offset", what);
  };
  bad("{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (2,)}", "twice");
  bad("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'x': 1}", "unknown key 'x'");
  bad("{'descr': '<f4', 'shape': (2,)}", "no 'fortran_order'");
  bad("{'descr': '<f4', 'fortran_order': 0, 'shape': (2,)}", "True or False");
  bad("{'descr': '<f4', 'fortran_order': False, 'shape': (2,)} extra", "after the closing brace");
  bad("{'descr': '<f4', 'fortran_order': False, 'shape': [2]}", "expected '('");
  bad("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2,)}", "in quotes");
}

Tensor parse_st(const std::string& json, size_t data_bytes = 8, Metadata* metadata = nullptr) {
  std::string f(8, '\0');
  for (int i = 0; i < 8; ++i) f[i] = static_cast<char>((json.size() >> (8 * i)) & 0xff);
  f += json + std::string(data_bytes, '\0');
  TensorMap m = parse_safetensors(reinterpret_cast<const uint8_t*>(f.data()), f.size(),
                                  "w.safetensors", metadata);
  return m.empty() ? Tensor() : m.begin()->second;
}

std::string st_entry(const std::string& shape, const std::string& offsets = "[0,8]") {
  return R"({"w":{"dtype":"F32","shape":)" + shape + R"(,"data_offsets":)" + offsets + "}}";
}

TEST(Safetensors, ShapesAndOffsetsMustBeSizes) {
  EXPECT_EQ(parse_st(st_entry("[2]")).shape(), Shape({2}));
  // 31e30 went through nlohmann's get<int64_t>: an out-of-range float conversion (UB).
  EXPECT_MINIDL_ERROR(parse_st(st_entry("[2,31e30]")), "w.safetensors", "tensor 'w'",
                      "shape entry 1 (3.1e+31) is not a size");
  EXPECT_MINIDL_ERROR(parse_st(st_entry("[-2]")), "tensor 'w'", "shape entry 0 (-2)");
  EXPECT_MINIDL_ERROR(parse_st(st_entry("[2.5]")), "tensor 'w'", "shape entry 0 (2.5)");
  EXPECT_MINIDL_ERROR(parse_st(st_entry("[4611686018427387904, 4]")), "tensor 'w'", "overflows");
  EXPECT_MINIDL_ERROR(parse_st(st_entry("[1,1,1,1,1,1,1,1,1]")), "'shape' must be a list");
  EXPECT_MINIDL_ERROR(parse_st(st_entry("[2]", "[0,-8]")), "tensor 'w'", "'data_offsets' must be");
  EXPECT_MINIDL_ERROR(parse_st(st_entry("[2]", "[0,1e300]")), "'data_offsets' must be");
  EXPECT_MINIDL_ERROR(parse_st(st_entry("[2]", "[8,0]")), "data_offsets [8, 0] out of");
  EXPECT_MINIDL_ERROR(parse_st(R"({"w":{"shape":[2],"data_offsets":[0,8]}})"), "tensor 'w'",
                      "'dtype' must be a string, got nothing");
  EXPECT_MINIDL_ERROR(parse_st(R"({"w":[1]})"), "tensor 'w' is not a JSON object");
}

TEST(Safetensors, HeaderJsonIsBounded) {
  EXPECT_MINIDL_ERROR(parse_st(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                               R"("w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})"),
                      "w.safetensors", "key 'w' appears twice");
  Metadata meta;
  std::string deep = std::string(100000, '[') + std::string(100000, ']');
  EXPECT_MINIDL_ERROR(parse_st(R"({"__metadata__":{"x":)" + deep + "}}", 0, &meta), "w.safetensors",
                      "nested more than 64 levels");
}

TEST(Text, Utf8IsCheckedStrictly) {
  EXPECT_TRUE(is_utf8("plain, \xc3\xa9t\xc3\xa9, \xe2\x82\xac, \xf0\x9f\x98\x80"));
  size_t at = 0;
  EXPECT_FALSE(is_utf8("ab\xff", &at));
  EXPECT_EQ(at, 2u);
  EXPECT_FALSE(is_utf8("\xc0\xaf"));          // overlong '/'
  EXPECT_FALSE(is_utf8("\xed\xa0\x80"));      // a surrogate
  EXPECT_FALSE(is_utf8("\xf4\x90\x80\x80"));  // past U+10FFFF
  EXPECT_FALSE(is_utf8("\xe2\x82"));          // cut short
  EXPECT_FALSE(is_utf8("\x80"));              // a continuation byte alone
}

TEST(JsonInput, DepthAndRepeatedKeys) {
  EXPECT_EQ(parse_json_input(R"({"a": [1, {"b": 2}], "c": {"a": 3}})", "t")["c"]["a"], 3);
  EXPECT_MINIDL_ERROR(parse_json_input(R"({"a": {"b": 1, "b": 2}})", "t.json"), "t.json",
                      "key 'b' appears twice");
  EXPECT_MINIDL_ERROR(parse_json_input(std::string(65, '[') + std::string(65, ']'), "t.json"),
                      "nested more than 64");
  EXPECT_NO_THROW(parse_json_input(std::string(64, '[') + std::string(64, ']'), "t.json"));
  EXPECT_MINIDL_ERROR(parse_json_input("{\"a\": 1} x", "t.json"), "t.json", "malformed JSON");
}

}  // namespace
}  // namespace minidl
