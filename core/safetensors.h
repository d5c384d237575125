// safetensors files (https://github.com/huggingface/safetensors): an 8-byte little-endian header
// length N, N bytes of JSON ({"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin,
// end]},
// "__metadata__": {"key": "value"}}), then the tensors' bytes, little-endian and row-major.
// This is how weights move between minidl and PyTorch (DESIGN.md §4).
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "core/tensor.h"

namespace minidl {

using TensorMap = std::map<std::string, Tensor>;
using Metadata = std::map<std::string, std::string>;

// Parses a whole file held in memory; `source` names it in errors. Never reads outside [data,
// data+size). Tensors come back as CPU tensors of their own dtype (F64, F32, F16, BF16, I64, I32,
// U8; BOOL as u8).
TensorMap parse_safetensors(const uint8_t* data, size_t size, const std::string& source,
                            Metadata* metadata = nullptr);
TensorMap load_safetensors(const std::string& path, Metadata* metadata = nullptr);

// Serialises tensors (any device, layout; sorted by name) and string metadata; save_ writes
// atomically.
std::string serialize_safetensors(const TensorMap& tensors, const Metadata& metadata = {});
void save_safetensors(const std::string& path, const TensorMap& tensors,
                      const Metadata& metadata = {});

}  // namespace minidl
