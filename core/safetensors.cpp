#include "core/safetensors.h"

#include <nlohmann/json.hpp>

#include <cstring>

#include "core/file_io.h"
#include "core/json_input.h"

namespace minidl {

namespace {

const char* st_dtype_name(DType t) {
  switch (t) {
    case DType::f64:
      return "F64";
    case DType::f32:
      return "F32";
    case DType::f16:
      return "F16";
    case DType::bf16:
      return "BF16";
    case DType::i64:
      return "I64";
    case DType::i32:
      return "I32";
    case DType::u8:
      return "U8";
  }
  return "?";
}

DType st_parse_dtype(const std::string& s, const std::string& source, const std::string& name) {
  for (DType t :
       {DType::f64, DType::f32, DType::f16, DType::bf16, DType::i64, DType::i32, DType::u8})
    if (s == st_dtype_name(t)) return t;
  if (s == "BOOL") return DType::u8;
  MINIDL_FAIL(source, ": tensor '", name, "' has dtype ", s,
              " which minidl does not read (known: F64, F32, F16, BF16, I64, I32, U8, BOOL)");
}

// The reference implementation refuses headers over 100 MB (safetensors' MAX_HEADER_SIZE).
constexpr uint64_t kMaxHeader = 100'000'000;

// A JSON integer in [0, 2^63): nlohmann's get<> would convert 3.1e31 to an integer (undefined
// behaviour) and -1 to 2^64 - 1.
bool json_size(const nlohmann::json& v, int64_t& out) {
  if (!v.is_number_unsigned() || v.get<uint64_t>() > static_cast<uint64_t>(INT64_MAX)) return false;
  out = static_cast<int64_t>(v.get<uint64_t>());
  return true;
}

std::string shown(const nlohmann::json& v) {
  std::string s = v.dump();
  return s.size() > 40 ? s.substr(0, 37) + "..." : s;
}

// One entry of the header, {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]}, checked
// against the data section and copied out of it.
Tensor read_entry(const nlohmann::json& info, const std::string& name, const uint8_t* buffer,
                  uint64_t buffer_size, const std::string& source) {
  auto fail_field = [&](const char* field, const char* want) {
    MINIDL_FAIL(source, ": tensor '", name, "': '", field, "' must be ", want, ", got ",
                info.contains(field) ? shown(info[field]) : "nothing");
  };
  if (!info.is_object()) MINIDL_FAIL(source, ": tensor '", name, "' is not a JSON object");
  if (!info.contains("dtype") || !info["dtype"].is_string()) fail_field("dtype", "a string");
  DType dtype = st_parse_dtype(info["dtype"].get<std::string>(), source, name);
  const nlohmann::json& dims = info.contains("shape") ? info["shape"] : nlohmann::json();
  if (!dims.is_array() || dims.size() > static_cast<size_t>(kMaxDims))
    fail_field("shape", "a list of at most 8 sizes");
  Shape shape;
  for (const nlohmann::json& d : dims) {
    int64_t n = 0;
    if (!json_size(d, n))
      MINIDL_FAIL(source, ": tensor '", name, "': shape entry ", shape.size(), " (", shown(d),
                  ") is not a size (a whole number in [0, 2^63))");
    shape.push_back(n);
  }
  const nlohmann::json& at =
      info.contains("data_offsets") ? info["data_offsets"] : nlohmann::json();
  int64_t begin = 0, end = 0;
  if (!at.is_array() || at.size() != 2 || !json_size(at[0], begin) || !json_size(at[1], end))
    fail_field("data_offsets", "two byte offsets [begin, end]");
  MINIDL_CHECK(begin <= end && static_cast<uint64_t>(end) <= buffer_size, source, ": tensor '",
               name, "' data_offsets [", begin, ", ", end, "] out of the ", buffer_size,
               "-byte data section");
  int64_t nbytes = 0;
  MINIDL_CHECK(shape_nbytes(shape, dtype_size(dtype), nbytes), source, ": tensor '", name,
               "': shape ", shape_str(shape), " has a size in bytes that overflows 64 bits");
  MINIDL_CHECK(end - begin == nbytes, source, ": tensor '", name, "' ", shape_str(shape), " needs ",
               nbytes, " bytes but its data_offsets span ", end - begin);
  Tensor t = Tensor::empty(shape, dtype);
  if (nbytes) std::memcpy(t.data_ptr(), buffer + begin, static_cast<size_t>(nbytes));
  return t;
}

}  // namespace

TensorMap parse_safetensors(const uint8_t* data, size_t size, const std::string& source,
                            Metadata* metadata) {
  MINIDL_CHECK(size >= 8, source, ": truncated safetensors file: ", size,
               " bytes, the header length needs 8");
  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | data[i];
  MINIDL_CHECK(header_len <= size - 8, source, ": header length ", header_len,
               " at offset 0 runs past the end of the ", size, "-byte file");
  MINIDL_CHECK(header_len <= kMaxHeader, source, ": header length ", header_len,
               " at offset 0 is over the format's limit of ", kMaxHeader, " bytes");
  std::string_view text(reinterpret_cast<const char*>(data + 8), header_len);
  nlohmann::json header = parse_json_input(
      text, source + " (JSON header, bytes 8.." + std::to_string(8 + header_len) + ")");
  MINIDL_CHECK(header.is_object(), source, ": the JSON header is not an object");
  const uint8_t* buffer = data + 8 + header_len;
  const uint64_t buffer_size = size - 8 - header_len;
  TensorMap out;
  for (auto& [name, info] : header.items()) {
    if (name != "__metadata__") {
      out.emplace(name, read_entry(info, name, buffer, buffer_size, source));
    } else if (metadata) {
      MINIDL_CHECK(info.is_object(), source, ": __metadata__ is not a map of strings");
      for (auto& [k, v] : info.items())
        (*metadata)[k] = v.is_string() ? v.get<std::string>() : v.dump();
    }
  }
  return out;
}

TensorMap load_safetensors(const std::string& path, Metadata* metadata) {
  std::vector<uint8_t> bytes = read_file(path);
  return parse_safetensors(bytes.data(), bytes.size(), path, metadata);
}

std::string serialize_safetensors(const TensorMap& tensors, const Metadata& metadata) {
  nlohmann::json header = nlohmann::json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::vector<Tensor> dense;
  uint64_t offset = 0;
  for (auto& [name, t] : tensors) {  // std::map: sorted by name, as the reference writer does
    MINIDL_CHECK(name != "__metadata__", "a tensor may not be named __metadata__");
    Tensor c = t.to(Device::cpu()).contiguous();
    header[name] = {{"dtype", st_dtype_name(c.dtype())},
                    {"shape", c.shape()},
                    {"data_offsets", {offset, offset + c.nbytes()}}};
    offset += c.nbytes();
    dense.push_back(c);
  }
  std::string json = header.dump();
  json.append((8 - json.size() % 8) % 8, ' ');  // keep the data section 8-byte aligned
  std::string out(8, '\0');
  uint64_t n = json.size();
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((n >> (8 * i)) & 0xff);
  out += json;
  for (const Tensor& c : dense) out.append(static_cast<const char*>(c.data_ptr()), c.nbytes());
  return out;
}

void save_safetensors(const std::string& path, const TensorMap& tensors, const Metadata& metadata) {
  write_file_atomic(path, serialize_safetensors(tensors, metadata));
}

}  // namespace minidl
