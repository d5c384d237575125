#include "core/safetensors.h"

#include <nlohmann/json.hpp>

#include <cstring>

#include "core/file_io.h"

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

}  // namespace

TensorMap parse_safetensors(const uint8_t* data, size_t size, const std::string& source,
                            Metadata* metadata) {
  MINIDL_CHECK(size >= 8, source, ": truncated safetensors file: ", size,
               " bytes, the header length needs 8");
  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | data[i];
  MINIDL_CHECK(header_len <= size - 8, source, ": header length ", header_len,
               " at offset 0 runs past the end of the ", size, "-byte file");
  nlohmann::json header;
  try {
    header = nlohmann::json::parse(data + 8, data + 8 + header_len);
  } catch (const nlohmann::json::exception& e) {
    MINIDL_FAIL(source, ": malformed JSON header (bytes 8..", 8 + header_len, "): ", e.what());
  }
  MINIDL_CHECK(header.is_object(), source, ": the JSON header is not an object");
  const uint8_t* buffer = data + 8 + header_len;
  const size_t buffer_size = size - 8 - header_len;
  TensorMap out;
  for (auto& [name, info] : header.items()) {
    if (name == "__metadata__") {
      if (metadata)
        for (auto& [k, v] : info.items())
          (*metadata)[k] = v.is_string() ? v.get<std::string>() : v.dump();
      continue;
    }
    try {
      DType dtype = st_parse_dtype(info.at("dtype").get<std::string>(), source, name);
      Shape shape = info.at("shape").get<Shape>();
      auto offsets = info.at("data_offsets").get<std::vector<uint64_t>>();
      MINIDL_CHECK(offsets.size() == 2 && offsets[0] <= offsets[1] && offsets[1] <= buffer_size,
                   source, ": tensor '", name, "' data_offsets out of the ", buffer_size,
                   "-byte data section");
      for (int64_t d : shape)
        MINIDL_CHECK(d >= 0, source, ": tensor '", name, "' has a negative dimension");
      uint64_t nbytes = static_cast<uint64_t>(shape_numel(shape)) * dtype_size(dtype);
      MINIDL_CHECK(offsets[1] - offsets[0] == nbytes, source, ": tensor '", name, "' ",
                   shape_str(shape), " needs ", nbytes, " bytes but its data_offsets span ",
                   offsets[1] - offsets[0]);
      Tensor t = Tensor::empty(shape, dtype);
      if (nbytes) std::memcpy(t.data_ptr(), buffer + offsets[0], nbytes);
      out.emplace(name, t);
    } catch (const nlohmann::json::exception& e) {
      MINIDL_FAIL(source, ": tensor '", name, "' has a malformed entry: ", e.what());
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
