// Tensor: a view (shape, strides, offset, dtype) of a shared Storage on one device.
//
// Views (reshape of a contiguous tensor, narrow, permute) share storage; contiguous(), clone(),
// to(device) and to(dtype) copy. NCHW contiguous is the default layout; channels-last is the same
// logical [N, C, H, W] tensor with NHWC strides (contiguous(MemoryFormat::channels_last)).
// Element access (at, item, to_vector) is for tests and tools; kernels use data<T>().
#pragma once

#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "core/error.h"
#include "core/shape.h"
#include "core/storage.h"

namespace minidl {

enum class MemoryFormat { contiguous, channels_last };

class Tensor {
 public:
  Tensor() = default;  // an undefined tensor: defined() is false

  static Tensor empty(const Shape& shape, DType dtype = DType::f32, Device device = Device::cpu(),
                      bool pinned = false);
  static Tensor empty(const Shape& shape, DType dtype, Device device, MemoryFormat format,
                      bool pinned = false);
  static Tensor zeros(const Shape& shape, DType dtype = DType::f32, Device device = Device::cpu());
  static Tensor full(const Shape& shape, double value, DType dtype = DType::f32,
                     Device device = Device::cpu());
  // A CPU tensor holding a copy of `values` (values.size() must equal the shape's numel).
  template <typename T>
  static Tensor from_vector(const std::vector<T>& values, const Shape& shape);

  bool defined() const { return storage_ != nullptr; }
  const Shape& shape() const { return shape_; }
  const Shape& strides() const { return strides_; }
  int dim() const { return static_cast<int>(shape_.size()); }
  int64_t size(int d) const { return shape_[wrap_dim(d)]; }
  int64_t stride(int d) const { return strides_[wrap_dim(d)]; }
  int64_t numel() const { return shape_numel(shape_); }
  int64_t offset() const { return offset_; }
  size_t nbytes() const { return static_cast<size_t>(numel()) * dtype_size(dtype_); }
  DType dtype() const { return dtype_; }
  Device device() const;
  bool is_pinned() const { return storage_ && storage_->pinned(); }
  bool is_contiguous(MemoryFormat format = MemoryFormat::contiguous) const;
  // channels_last for a 4-d tensor laid out NHWC-contiguous (and not also NCHW-contiguous, as
  // tensors with C == 1 or H == W == 1 are); contiguous otherwise. clone() and to() keep it.
  MemoryFormat memory_format() const;
  const std::shared_ptr<Storage>& storage() const { return storage_; }

  // Pointer to the first element of the view (storage + offset).
  void* data_ptr() const;
  template <typename T>
  T* data() const {
    MINIDL_CHECK(DTypeOf<T>::value == dtype_, "data<", dtype_name(DTypeOf<T>::value),
                 ">() on a tensor of dtype ", dtype_name(dtype_));
    return static_cast<T*>(data_ptr());
  }

  // ---- views (no copy) ----
  Tensor reshape(const Shape& shape) const;  // one dimension may be -1; copies if not contiguous
  Tensor view(const Shape& shape) const;     // like reshape, but throws instead of copying
  Tensor narrow(int dim, int64_t start, int64_t length) const;
  Tensor permute(const std::vector<int>& dims) const;
  Tensor flatten() const { return reshape({numel()}); }

  // ---- copies (implemented with the copy kernel, core/copy.h) ----
  Tensor contiguous(MemoryFormat format = MemoryFormat::contiguous) const;  // self if already so
  Tensor clone() const;
  Tensor to(Device device) const;    // self if already there
  Tensor to(DType dtype) const;      // self if already so
  Tensor& copy_(const Tensor& src);  // same shape; any devices, dtypes and layouts

  // ---- element access for tests and tools (copies to the CPU as needed) ----
  template <typename T>
  std::vector<T> to_vector() const;
  template <typename T>
  T item() const;
  template <typename T>
  T at(const std::vector<int64_t>& index) const;

  std::string str() const;  // "Tensor[f32, cpu, [2, 3]]"

  // Work queued on `stream` uses this tensor's storage (see Storage::record_stream): for CUDA memory
  // used off the stream it was allocated on, and for pinned memory read by an asynchronous copy.
  void record_stream(Stream stream) const;

 private:
  int wrap_dim(int d) const;
  std::shared_ptr<Storage> storage_;
  Shape shape_, strides_;
  int64_t offset_ = 0;
  DType dtype_ = DType::f32;
};

// ---- template definitions ----

template <typename T>
Tensor Tensor::from_vector(const std::vector<T>& values, const Shape& shape) {
  MINIDL_CHECK(static_cast<int64_t>(values.size()) == shape_numel(shape),
               "from_vector: ", values.size(), " values for shape ", shape_str(shape));
  Tensor t = empty(shape, DTypeOf<T>::value);
  if (!values.empty()) std::memcpy(t.data_ptr(), values.data(), values.size() * sizeof(T));
  return t;
}

template <typename T>
std::vector<T> Tensor::to_vector() const {
  Tensor c = to(Device::cpu()).to(DTypeOf<T>::value).contiguous();
  const T* p = c.data<T>();
  return std::vector<T>(p, p + c.numel());
}

template <typename T>
T Tensor::item() const {
  MINIDL_CHECK(numel() == 1, "item() on a tensor of shape ", shape_str(shape_));
  return to_vector<T>()[0];
}

template <typename T>
T Tensor::at(const std::vector<int64_t>& index) const {
  MINIDL_CHECK(static_cast<int>(index.size()) == dim(), "at: ", index.size(), " indices for a ",
               dim(), "-d tensor");
  int64_t off = 0;
  for (int d = 0; d < dim(); ++d) {
    MINIDL_CHECK(index[d] >= 0 && index[d] < shape_[d], "at: index ", index[d],
                 " out of range for dimension ", d, " of size ", shape_[d]);
    off += index[d] * strides_[d];
  }
  Tensor one = *this;
  one.shape_ = {1};
  one.strides_ = {1};
  one.offset_ = offset_ + off;
  return one.item<T>();
}

}  // namespace minidl
