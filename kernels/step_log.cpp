#include "kernels/step_log.h"

namespace minidl {

void step_log_record(const Tensor& loss, const Tensor& ranks, const Tensor& flag, const Tensor& log,
                     const Tensor& cursor) {
  MINIDL_CHECK(loss.defined() && ranks.defined() && log.defined() && cursor.defined(),
               "step_log_record: loss, ranks, log and cursor must be defined");
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
  MINIDL_CHECK(cursor.numel() == 1 && cursor.dtype() == DType::i64,
               "step_log_record: cursor ", shape_str(cursor.shape()), " ", dtype_name(cursor.dtype()),
               ", expected one i64");
  MINIDL_CHECK(!flag.defined() || (flag.numel() == 1 && flag.dtype() == DType::i32),
               "step_log_record: flag ", shape_str(flag.shape()), ", expected one i32");
  for (const Tensor* t : {&loss, &ranks, &flag, &cursor})
    MINIDL_CHECK(!t->defined() || t->device() == log.device(), "step_log_record: an input is on ",
                 t->device().str(), ", the log on ", log.device().str());
  MINIDL_DISPATCH(log.device(), step_log_record, loss, ranks, flag, log, cursor);
}

}  // namespace minidl
