#include "core/npy.h"

#include <cstring>
#include <numeric>
#include <string_view>

#include "core/file_io.h"
#include "core/text.h"

namespace minidl {

namespace {

struct Descr {
  const char* text;
  DType dtype;
};
const Descr kDescrs[] = {{"<f8", DType::f64}, {"<f4", DType::f32}, {"<f2", DType::f16},
                         {"<i8", DType::i64}, {"<i4", DType::i32}, {"|u1", DType::u8},
                         {"|b1", DType::u8},  {"<u1", DType::u8}};

// NumPy refuses headers longer than this unless told otherwise (numpy.lib.format's
// max_header_size: ast.literal_eval of a long one is unsafe); minidl keeps the same limit.
constexpr size_t kMaxNpyHeader = 10000;

struct NpyHeader {
  std::string descr;
  bool fortran = false;
  Shape shape;
};

// The header is a Python dict literal, {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }
// padded with blanks. This reads exactly that -- the three keys once each, a string, True/False and
// a tuple of sizes -- in one forward pass with no backtracking; anything else is an error naming
// the file and the byte offset in the file.
class NpyHeaderScanner {
 public:
  NpyHeaderScanner(std::string_view text, size_t file_offset, const std::string& source)
      : s_(text), base_(file_offset), source_(source) {}

  NpyHeader parse() {
    NpyHeader h;
    bool seen[3] = {false, false, false};
    expect('{');
    while (!eat('}')) {
      std::string key(quoted("a key"));
      int k = key == "descr" ? 0 : key == "fortran_order" ? 1 : key == "shape" ? 2 : -1;
      if (k < 0) fail("unknown key '", key, "' (a .npy header holds descr, fortran_order, shape)");
      if (seen[k]) fail("key '", key, "' appears twice");
      seen[k] = true;
      expect(':');
      if (k == 0) h.descr = quoted("'descr' (a dtype string such as '<f4')");
      if (k == 1) h.fortran = boolean();
      if (k == 2) h.shape = tuple();
      if (!eat(',')) {
        expect('}');
        break;
      }
    }
    skip_blanks();
    if (at_ != s_.size()) fail("text after the closing brace");
    const char* names[3] = {"descr", "fortran_order", "shape"};
    for (int k = 0; k < 3; ++k)
      if (!seen[k]) fail("no '", names[k], "' in the header");
    return h;
  }

 private:
  std::string_view s_;
  size_t at_ = 0, base_;
  const std::string& source_;

  template <typename... Args>
  [[noreturn]] void fail(const Args&... args) const {
    MINIDL_FAIL(source_, ": .npy header, byte offset ", base_ + at_, ": ", args...);
  }
  void skip_blanks() {
    while (at_ < s_.size() &&
           (s_[at_] == ' ' || s_[at_] == '\t' || s_[at_] == '\n' || s_[at_] == '\r'))
      ++at_;
  }
  bool eat(char c) {
    skip_blanks();
    if (at_ < s_.size() && s_[at_] == c) return ++at_, true;
    return false;
  }
  void expect(char c) {
    if (!eat(c)) fail("expected '", c, "'");
  }
  std::string_view word() {  // the run of characters up to the next delimiter
    skip_blanks();
    size_t b = at_;
    while (at_ < s_.size() && std::strchr(",:(){}'\" \t\r\n", s_[at_]) == nullptr) ++at_;
    return s_.substr(b, at_ - b);
  }
  std::string_view quoted(const char* what) {  // 'text' or "text" (no escapes in NumPy's keys)
    skip_blanks();
    char q = at_ < s_.size() ? s_[at_] : 0;
    if (q != '\'' && q != '"') fail("expected ", what, " in quotes");
    size_t close = s_.find(q, at_ + 1);
    if (close == std::string_view::npos) fail("a quoted string is never closed");
    std::string_view text = s_.substr(at_ + 1, close - at_ - 1);
    at_ = close + 1;
    return text;
  }
  bool boolean() {
    std::string_view w = word();
    if (w != "True" && w != "False")
      fail("'fortran_order' must be True or False, got '", w.substr(0, 40), "'");
    return w == "True";
  }
  Shape tuple() {  // "()", "(5,)", "(2, 3)"; Python 2 wrote "(2L, 3L)"
    expect('(');
    Shape shape;
    while (!eat(')')) {
      std::string_view w = word();
      if (!w.empty() && (w.back() == 'L' || w.back() == 'l')) w.remove_suffix(1);
      int64_t d = 0;
      if (w.size() > kMaxNumberText || !parse_int(w, d))
        fail("shape entry ", shape.size(), " '", w.substr(0, 40), w.size() > 40 ? "..." : "",
             "' is not a size (a whole number below 2^63)");
      if (d < 0) fail("shape entry ", shape.size(), " is negative (", d, ")");
      if (shape.size() == kMaxDims) fail("more than ", kMaxDims, " dimensions in 'shape'");
      shape.push_back(d);
      if (!eat(',')) {
        expect(')');
        break;
      }
    }
    return shape;
  }
};

DType npy_dtype(const std::string& descr, const std::string& source) {
  for (const Descr& d : kDescrs)
    if (descr == d.text) return d.dtype;
  MINIDL_FAIL(source, ": dtype '", descr.substr(0, 40),
              "' is not read by minidl (little-endian f8, f4, f2, i8, i4, u1, b1 are)");
}

}  // namespace

Tensor parse_npy(const uint8_t* data, size_t size, const std::string& source) {
  MINIDL_CHECK(size >= 10 && std::memcmp(data, "\x93NUMPY", 6) == 0, source,
               ": not a .npy file (bad magic at offset 0)");
  int major = data[6];
  MINIDL_CHECK(major >= 1 && major <= 3, source, ": unsupported .npy version ", major, ".",
               int(data[7]));
  size_t len_bytes = major == 1 ? 2 : 4;
  MINIDL_CHECK(size >= 8 + len_bytes, source, ": truncated .npy header");
  size_t header_len = 0;
  for (size_t i = 0; i < len_bytes; ++i) header_len |= static_cast<size_t>(data[8 + i]) << (8 * i);
  MINIDL_CHECK(header_len <= kMaxNpyHeader, source, ": header length ", header_len,
               " (byte offset 8) is over ", kMaxNpyHeader,
               " bytes, the most NumPy itself reads by default");
  size_t data_start = 8 + len_bytes + header_len;
  MINIDL_CHECK(data_start <= size, source, ": header of ", header_len,
               " bytes runs past the end of the ", size, "-byte file");
  std::string_view text(reinterpret_cast<const char*>(data + 8 + len_bytes), header_len);
  NpyHeader h = NpyHeaderScanner(text, 8 + len_bytes, source).parse();
  DType dtype = npy_dtype(h.descr, source);
  const Shape& shape = h.shape;

  int64_t nbytes = 0;
  MINIDL_CHECK(shape_nbytes(shape, dtype_size(dtype), nbytes), source, ": 'shape' ",
               shape_str(shape), " of '", h.descr, "' has a size in bytes that overflows 64 bits");
  MINIDL_CHECK(size - data_start >= static_cast<uint64_t>(nbytes), source,
               ": truncated data: shape ", shape_str(shape), " needs ", nbytes,
               " bytes from offset ", data_start, ", the file has ", size - data_start);
  if (!h.fortran) {
    Tensor t = Tensor::empty(shape, dtype);
    if (nbytes) std::memcpy(t.data_ptr(), data + data_start, nbytes);
    return t;
  }
  // Fortran order: the bytes are the reversed-shape array in C order; transpose them back.
  Shape reversed(shape.rbegin(), shape.rend());
  Tensor t = Tensor::empty(reversed, dtype);
  if (nbytes) std::memcpy(t.data_ptr(), data + data_start, nbytes);
  std::vector<int> perm(shape.size());
  std::iota(perm.rbegin(), perm.rend(), 0);
  return t.permute(perm).contiguous();
}

Tensor load_npy(const std::string& path) {
  std::vector<uint8_t> bytes = read_file(path);
  return parse_npy(bytes.data(), bytes.size(), path);
}

std::string serialize_npy(const Tensor& tensor) {
  Tensor t = tensor.to(Device::cpu());
  if (t.dtype() == DType::bf16) t = t.to(DType::f32);  // NumPy has no bfloat16
  t = t.contiguous();
  const char* descr = nullptr;
  for (const Descr& d : kDescrs)
    if (d.dtype == t.dtype() && !descr) descr = d.text;
  std::string shape = "(";  // Python tuple syntax: "()", "(5,)", "(2, 3)"
  for (int d = 0; d < t.dim(); ++d) shape += (d ? ", " : "") + std::to_string(t.size(d));
  shape += t.dim() == 1 ? ",)" : ")";
  std::string header =
      std::string("{'descr': '") + descr + "', 'fortran_order': False, 'shape': " + shape + ", }";
  size_t total = 10 + header.size() + 1;
  header.append((64 - total % 64) % 64, ' ');
  header += '\n';
  std::string out("\x93NUMPY\x01\x00", 8);
  out += static_cast<char>(header.size() & 0xff);
  out += static_cast<char>(header.size() >> 8);
  out += header;
  out.append(static_cast<const char*>(t.data_ptr()), t.nbytes());
  return out;
}

void save_npy(const std::string& path, const Tensor& t) {
  write_file_atomic(path, serialize_npy(t));
}

}  // namespace minidl
