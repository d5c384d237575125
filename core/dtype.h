// Element types. f32 is the type of all math; bf16 and f16 are storage types (mixed precision with
// f32 master weights); i32/i64 hold labels and indices; u8 holds raw images. f64 exists for the
// finite-difference gradient checks (CPU kernels of layers support it; training uses f32).
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <type_traits>

#include "core/half.h"

namespace minidl {

enum class DType : uint8_t { f32, f16, bf16, i32, i64, u8, f64 };

size_t dtype_size(DType t);
const char* dtype_name(DType t);             // "f32", "bf16", ...
DType parse_dtype(const std::string& name);  // throws, listing the known names
// "<what>: dtype u8, expected f32 or f64"
[[noreturn]] void throw_dtype_error(const char* what, DType t, const char* expected = "f32 or f64");

// bf16 or f16: the 16-bit float storage types (mixed precision's operands).
constexpr bool is_16bit_float(DType t) {
  return t == DType::bf16 || t == DType::f16;
}
// The dtype an activation's arithmetic runs in, and its per-channel parameters and statistics are
// kept in: f32 for bf16 and f16 (as under PyTorch's autocast), the dtype itself otherwise.
constexpr DType math_dtype(DType t) {
  return is_16bit_float(t) ? DType::f32 : t;
}

// The C++ type of math_dtype: kernels on a storage type S load each value as math_t<S>, compute,
// and store the result rounded once (cast_value<S>).
template <typename S>
struct MathOf {
  using type = S;
};
template <>
struct MathOf<bf16> {
  using type = float;
};
template <>
struct MathOf<f16> {
  using type = float;
};
template <typename S>
using math_t = typename MathOf<S>::type;

template <typename T>
struct DTypeOf;
template <>
struct DTypeOf<float> {
  static constexpr DType value = DType::f32;
};
template <>
struct DTypeOf<double> {
  static constexpr DType value = DType::f64;
};
template <>
struct DTypeOf<f16> {
  static constexpr DType value = DType::f16;
};
template <>
struct DTypeOf<bf16> {
  static constexpr DType value = DType::bf16;
};
template <>
struct DTypeOf<int32_t> {
  static constexpr DType value = DType::i32;
};
template <>
struct DTypeOf<int64_t> {
  static constexpr DType value = DType::i64;
};
template <>
struct DTypeOf<uint8_t> {
  static constexpr DType value = DType::u8;
};

// Floating point -> integer: truncates toward zero and saturates at the integer type's limits; NaN
// becomes 0. C++ leaves an out-of-range conversion undefined, and the twins did disagree: an x86
// host wraps (-5.f -> uint8 251, through a 32-bit convert) while CUDA's cvt.rzi clamps (0).
// PyTorch does not define it either (torch 1.13 CPU gives -5 -> 251, 300 -> 44, its CUDA kernels
// other values). Saturation is chosen because it is what the GPU's conversion instruction does,
// what an image pipeline wants (an augmented pixel at 260 is white, not near-black) and what Rust's
// `as` defines; written out here so that host and device compute it with the same comparisons.
template <typename To, typename From>
MINIDL_HD To saturating_float_to_int(From v) {
  constexpr To lo = std::numeric_limits<To>::min(), hi = std::numeric_limits<To>::max();
  if (!(v == v)) return To(0);                // NaN
  if (v <= static_cast<From>(lo)) return lo;  // the integer minimums are powers of two (exact)
  // hi as From rounds up to a power of two for 32- and 64-bit integers (2^31, 2^63): every v
  // below it truncates to a value that fits.
  if (v >= static_cast<From>(hi)) return hi;
  return static_cast<To>(v);
}

// Converts one value between element types. 16-bit floats go through f32 (round to nearest even);
// floating -> integer saturates (above); integer -> integer and integer -> floating convert as C++
// does (narrowing integers wrap modulo 2^n on host and device alike).
template <typename To, typename From>
MINIDL_HD To cast_value(From v) {
  if constexpr (std::is_same_v<From, bf16> || std::is_same_v<From, f16>) {
    return cast_value<To>(to_f32(v));
  } else if constexpr (std::is_same_v<To, bf16>) {
    return to_bf16(static_cast<float>(v));
  } else if constexpr (std::is_same_v<To, f16>) {
    return to_f16(static_cast<float>(v));
  } else if constexpr (std::is_floating_point_v<From> && std::is_integral_v<To>) {
    return saturating_float_to_int<To>(v);
  } else {
    return static_cast<To>(v);
  }
}

// Calls fn(T{}) with T the C++ type of `t`: the one switch over dtypes that kernels share.
template <typename Fn>
decltype(auto) visit_dtype(DType t, Fn&& fn) {
  switch (t) {
    case DType::f32:
      return fn(float{});
    case DType::f16:
      return fn(f16{});
    case DType::bf16:
      return fn(bf16{});
    case DType::i32:
      return fn(int32_t{});
    case DType::i64:
      return fn(int64_t{});
    case DType::u8:
      return fn(uint8_t{});
    case DType::f64:
      return fn(double{});
  }
  return fn(float{});  // unreachable: every enumerator is handled above
}

// An activation value as math_t (a 16-bit value widens to f32 exactly), and a math_t result
// stored as S, rounded once (to nearest, ties to even). Both are the identity for f32 and f64.
template <typename S>
MINIDL_HD math_t<S> widen(S v) {
  return cast_value<math_t<S>>(v);
}
template <typename S>
MINIDL_HD S narrow(math_t<S> v) {
  return cast_value<S>(v);
}

// visit_dtype for the math types only: fn(float{}) or fn(double{}); any other dtype is an error
// naming `what` (the op and operand).
template <typename Fn>
decltype(auto) visit_floating(DType t, const char* what, Fn&& fn) {
  if (t == DType::f64) return fn(double{});
  if (t != DType::f32) throw_dtype_error(what, t);
  return fn(float{});
}

// visit_floating plus the 16-bit storage types, for kernels on activations (docs/precision.md):
// fn(float{}), fn(double{}), fn(bf16{}) or fn(f16{}).
template <typename Fn>
decltype(auto) visit_activation(DType t, const char* what, Fn&& fn) {
  if (t == DType::bf16) return fn(bf16{});
  if (t == DType::f16) return fn(f16{});
  if (t == DType::f64) return fn(double{});
  if (t != DType::f32) throw_dtype_error(what, t, "f32, f64, bf16 or f16");
  return fn(float{});
}

}  // namespace minidl
