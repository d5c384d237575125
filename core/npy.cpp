#include "core/npy.h"

#include <cstring>
#include <numeric>
#include <regex>

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
  size_t data_start = 8 + len_bytes + header_len;
  MINIDL_CHECK(data_start <= size, source, ": header of ", header_len,
               " bytes runs past the end of the ", size, "-byte file");
  std::string header(reinterpret_cast<const char*>(data + 8 + len_bytes), header_len);

  std::smatch m;
  MINIDL_CHECK(std::regex_search(header, m, std::regex("'descr'\\s*:\\s*'([^']*)'")), source,
               ": no 'descr' in the header");
  std::string descr = m[1];
  DType dtype = DType::f32;
  bool known = false;
  for (const Descr& d : kDescrs)
    if (descr == d.text) dtype = d.dtype, known = true;
  MINIDL_CHECK(known, source, ": dtype '", descr,
               "' is not read by minidl (little-endian f8, f4, f2, i8, i4, u1, b1 are)");
  MINIDL_CHECK(std::regex_search(header, m, std::regex("'fortran_order'\\s*:\\s*(True|False)")),
               source, ": no 'fortran_order' in the header");
  bool fortran = m[1] == "True";
  MINIDL_CHECK(std::regex_search(header, m, std::regex("'shape'\\s*:\\s*\\(([^)]*)\\)")), source,
               ": no 'shape' in the header");
  Shape shape;
  std::string dims = m[1];
  for (const std::string& item : split(dims, ',')) {  // "(3, 4)", "(5,)", "()"
    if (item.empty()) continue;
    int64_t d = -1;
    MINIDL_CHECK(parse_int(item, d) && d >= 0, source, ": shape entry '", item.substr(0, 40),
                 "' is not a size");
    shape.push_back(d);
  }

  size_t nbytes = static_cast<size_t>(shape_numel(shape)) * dtype_size(dtype);
  MINIDL_CHECK(size - data_start >= nbytes, source, ": truncated data: shape ", shape_str(shape),
               " needs ", nbytes, " bytes from offset ", data_start, ", the file has ",
               size - data_start);
  if (!fortran) {
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
