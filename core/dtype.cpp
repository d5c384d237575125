#include "core/dtype.h"

#include "core/error.h"

namespace minidl {

size_t dtype_size(DType t) {
  switch (t) {
    case DType::f32:
      return 4;
    case DType::f16:
      return 2;
    case DType::bf16:
      return 2;
    case DType::i32:
      return 4;
    case DType::i64:
      return 8;
    case DType::u8:
      return 1;
    case DType::f64:
      return 8;
  }
  MINIDL_FAIL("unknown dtype ", static_cast<int>(t));
}

const char* dtype_name(DType t) {
  switch (t) {
    case DType::f32:
      return "f32";
    case DType::f16:
      return "f16";
    case DType::bf16:
      return "bf16";
    case DType::i32:
      return "i32";
    case DType::i64:
      return "i64";
    case DType::u8:
      return "u8";
    case DType::f64:
      return "f64";
  }
  return "?";
}

DType parse_dtype(const std::string& name) {
  for (DType t :
       {DType::f32, DType::f16, DType::bf16, DType::i32, DType::i64, DType::u8, DType::f64})
    if (name == dtype_name(t)) return t;
  MINIDL_FAIL("unknown dtype '", name, "'; known: f32, f16, bf16, i32, i64, u8, f64");
}

void throw_dtype_error(const char* what, DType t, const char* expected) {
  MINIDL_FAIL(what, ": dtype ", dtype_name(t), ", expected ", expected);
}

}  // namespace minidl
