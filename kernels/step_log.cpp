#include "kernels/step_log.h"

namespace minidl {

void step_log_record(const Tensor& loss, const Tensor& ranks, const Tensor& flag, const Tensor& log,
                     int64_t slot) {
  MINIDL_CHECK(loss.defined() && ranks.defined() && log.defined(),
               "step_log_record: loss, ranks and log must be defined");
  MINIDL_CHECK(loss.numel() == 1 && (loss.dtype() == DType::f32 || loss.dtype() == DType::f64),
               "step_log_record: loss ", shape_str(loss.shape()), " ", dtype_name(loss.dtype()),
               ", expected one f32 or f64 value");
  MINIDL_CHECK(ranks.dim() == 1 && ranks.dtype() == DType::i64 && ranks.is_contiguous(),
               "step_log_record: ranks ", shape_str(ranks.shape()), " ", dtype_name(ranks.dtype()),
               ", expected dense i64 [N]");
  MINIDL_CHECK(log.dim() == 2 && log.size(1) == kStepLogFields && log.dtype() == DType::f64 &&
                   log.is_contiguous(),
               "step_log_record: log ", shape_str(log.shape()), " ", dtype_name(log.dtype()),
               ", expected dense f64 [window, ", kStepLogFields, "]");
  MINIDL_CHECK(slot >= 0 && slot < log.size(0), "step_log_record: slot ", slot,
               " outside the log's ", log.size(0), " rows");
  MINIDL_CHECK(!flag.defined() || (flag.numel() == 1 && flag.dtype() == DType::i32),
               "step_log_record: flag ", shape_str(flag.shape()), ", expected one i32");
  for (const Tensor* t : {&loss, &ranks, &flag})
    MINIDL_CHECK(!t->defined() || t->device() == log.device(), "step_log_record: an input is on ",
                 t->device().str(), ", the log on ", log.device().str());
  MINIDL_DISPATCH(log.device(), step_log_record, loss, ranks, flag, log, slot);
}

}  // namespace minidl
