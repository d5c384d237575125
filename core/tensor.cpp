#include "core/tensor.h"

#include <algorithm>
#include <sstream>

#include "core/copy.h"  // a tensor copies and fills itself with core's own two ops
#include "core/fill.h"

namespace minidl {

Tensor Tensor::empty(const Shape& shape, DType dtype, Device device, bool pinned) {
  for (int64_t d : shape) MINIDL_CHECK(d >= 0, "negative dimension in shape ", shape_str(shape));
  MINIDL_CHECK(shape.size() <= kMaxDims, "at most ", kMaxDims, " dimensions, got ",
               shape_str(shape));
  int64_t nbytes = 0;
  MINIDL_CHECK(shape_nbytes(shape, dtype_size(dtype), nbytes), "shape ", shape_str(shape), " of ",
               dtype_name(dtype), ": the size in bytes overflows 64 bits");
  Tensor t;
  t.shape_ = shape;
  t.strides_ = contiguous_strides(shape);
  t.dtype_ = dtype;
  t.storage_ = Storage::allocate(static_cast<size_t>(nbytes), device, pinned);
  return t;
}

Tensor Tensor::empty(const Shape& shape, DType dtype, Device device, MemoryFormat format,
                     bool pinned) {
  Tensor t = empty(shape, dtype, device, pinned);
  if (format == MemoryFormat::channels_last) t.strides_ = channels_last_strides(shape);
  return t;
}

Tensor Tensor::zeros(const Shape& shape, DType dtype, Device device) {
  return full(shape, 0.0, dtype, device);
}

Tensor Tensor::full(const Shape& shape, double value, DType dtype, Device device) {
  Tensor t = empty(shape, dtype, device);
  fill(t, value);
  return t;
}

Device Tensor::device() const {
  return storage_ ? storage_->device() : Device::cpu();
}

void* Tensor::data_ptr() const {
  MINIDL_CHECK(defined(), "data of an undefined tensor");
  return static_cast<char*>(storage_->data()) + offset_ * static_cast<int64_t>(dtype_size(dtype_));
}

int Tensor::wrap_dim(int d) const {
  int n = dim();
  MINIDL_CHECK(d >= -n && d < n, "dimension ", d, " out of range for a ", n, "-d tensor ",
               shape_str(shape_));
  return d < 0 ? d + n : d;
}

bool Tensor::is_contiguous(MemoryFormat format) const {
  Shape want = format == MemoryFormat::channels_last
                   ? (dim() == 4 ? channels_last_strides(shape_) : Shape{})
                   : contiguous_strides(shape_);
  if (want.size() != shape_.size()) return false;
  for (int d = 0; d < dim(); ++d)
    if (shape_[d] > 1 && strides_[d] != want[d]) return false;  // size-1 dims may have any stride
  return true;
}

// ---- views ----

Tensor Tensor::reshape(const Shape& shape) const {
  Shape s = shape;
  int64_t known = 1;
  int infer = -1;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == -1) {
      MINIDL_CHECK(infer < 0, "reshape: more than one -1 in ", shape_str(shape));
      infer = static_cast<int>(i);
    } else {
      MINIDL_CHECK(s[i] >= 0, "reshape: negative dimension in ", shape_str(shape));
      known *= s[i];
    }
  }
  if (infer >= 0) {
    MINIDL_CHECK(known > 0 && numel() % known == 0, "reshape: cannot infer -1 in ",
                 shape_str(shape), " for shape ", shape_str(shape_), " (", numel(), " elements)");
    s[infer] = numel() / known;
  }
  MINIDL_CHECK(shape_numel(s) == numel(), "reshape: shape ", shape_str(shape_), " (", numel(),
               " elements) cannot become ", shape_str(shape));
  Tensor t = is_contiguous() ? *this : contiguous();
  t.shape_ = s;
  t.strides_ = contiguous_strides(s);
  return t;
}

Tensor Tensor::view(const Shape& shape) const {
  MINIDL_CHECK(is_contiguous(), "view of a non-contiguous tensor ", str(), "; use reshape()");
  return reshape(shape);
}

Tensor Tensor::narrow(int d, int64_t start, int64_t length) const {
  d = wrap_dim(d);
  MINIDL_CHECK(start >= 0 && length >= 0 && start + length <= shape_[d], "narrow: [", start, ", ",
               start + length, ") out of range for dimension ", d, " of ", shape_str(shape_));
  Tensor t = *this;
  t.shape_[d] = length;
  t.offset_ += start * strides_[d];
  return t;
}

Tensor Tensor::permute(const std::vector<int>& dims) const {
  MINIDL_CHECK(static_cast<int>(dims.size()) == dim(), "permute: ", dims.size(),
               " dimensions given for a ", dim(), "-d tensor");
  std::vector<bool> seen(dim(), false);
  Tensor t = *this;
  for (int i = 0; i < dim(); ++i) {
    int d = wrap_dim(dims[i]);
    MINIDL_CHECK(!seen[d], "permute: dimension ", d, " repeated");
    seen[d] = true;
    t.shape_[i] = shape_[d];
    t.strides_[i] = strides_[d];
  }
  return t;
}

// ---- copies ----

Tensor Tensor::contiguous(MemoryFormat format) const {
  if (is_contiguous(format)) return *this;
  Tensor t = empty(shape_, dtype_, device(), format);
  copy(t, *this);
  return t;
}

MemoryFormat Tensor::memory_format() const {
  bool nhwc = dim() == 4 && is_contiguous(MemoryFormat::channels_last);
  return nhwc && !is_contiguous() ? MemoryFormat::channels_last : MemoryFormat::contiguous;
}

// clone() and to() keep the memory format, as PyTorch's preserve_format does: a channels-last
// tensor moved to the GPU must stay channels-last for the kernels that expect it.
Tensor Tensor::clone() const {
  Tensor t = empty(shape_, dtype_, device(), memory_format());
  copy(t, *this);
  return t;
}

Tensor Tensor::to(Device device) const {
  if (device == this->device()) return *this;
  Tensor t = empty(shape_, dtype_, device, memory_format());
  copy(t, *this);
  return t;
}

Tensor Tensor::to(DType dtype) const {
  if (dtype == dtype_) return *this;
  Tensor t = empty(shape_, dtype, device(), memory_format());
  copy(t, *this);
  return t;
}

Tensor& Tensor::copy_(const Tensor& src) {
  copy(*this, src);
  return *this;
}

std::string Tensor::str() const {
  if (!defined()) return "Tensor[undefined]";
  std::ostringstream os;
  os << "Tensor[" << dtype_name(dtype_) << ", " << device().str() << ", " << shape_str(shape_)
     << "]";
  return os.str();
}

void Tensor::record_stream(Stream stream) const {
  if (storage_) storage_->record_stream(stream);
}

}  // namespace minidl
