// NumPy .npy files (format versions 1.0, 2.0 and 3.0): magic "\x93NUMPY", version, header length,
// a Python-dict header {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }, then the data.
// minidl reads little-endian f8/f4/f2/i8/i4/u1/b1 arrays in C or Fortran order and writes
// version 1.0.
#pragma once

#include <cstdint>
#include <string>

#include "core/tensor.h"

namespace minidl {

Tensor parse_npy(const uint8_t* data, size_t size, const std::string& source);
Tensor load_npy(const std::string& path);
std::string serialize_npy(const Tensor& t);
void save_npy(const std::string& path, const Tensor& t);  // atomic; bf16 is written as f4

}  // namespace minidl
