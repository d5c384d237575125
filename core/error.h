// One family of checks (DESIGN.md §2). Each records the failed expression, the function, file and
// line, and throws minidl::Error. Destructors use the *_NOTHROW forms, which log instead of
// throwing. Only main() turns an Error into a message and an exit code; the library never calls
// exit().
//
//   MINIDL_CHECK(n > 0, "batch size must be positive, got ", n);
//   MINIDL_CUDA_CHECK(cudaMemcpyAsync(...));     MINIDL_CUBLAS_CHECK(cublasSgemm(...));
//   MINIDL_CUDNN_CHECK(...);  MINIDL_NCCL_CHECK(...);  MINIDL_MPI_CHECK(...);
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>

namespace minidl {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

namespace detail {

template <typename... Args>
std::string str_cat(const Args&... args) {
  std::ostringstream os;
  (os << ... << args);
  return os.str();
}

[[noreturn]] void throw_error(const char* kind, const std::string& message, const char* expr,
                              const char* func, const char* file, int line);
void log_error(const char* kind, const std::string& message, const char* expr, const char* func,
               const char* file, int line);
std::string mpi_error_string(int code);  // defined in MPI builds only

}  // namespace detail

// Prints "minidl warning: ..." on stderr. Used where the library must say something but not stop.
void log_warning(const std::string& message);

}  // namespace minidl

// Condition check: the message is built from the remaining arguments, only when the check fails.
#define MINIDL_CHECK(cond, ...)                                                             \
  do {                                                                                      \
    if (!(cond))                                                                            \
      ::minidl::detail::throw_error("check", ::minidl::detail::str_cat(__VA_ARGS__), #cond, \
                                    __func__, __FILE__, __LINE__);                          \
  } while (0)

// A failure that is not a condition (an unknown name, a bad file): throws with the message alone.
#define MINIDL_FAIL(...)                                                                  \
  ::minidl::detail::throw_error("error", ::minidl::detail::str_cat(__VA_ARGS__), nullptr, \
                                __func__, __FILE__, __LINE__)

// Library statuses. Each macro expands where the library's own header is already included.
#define MINIDL_STATUS_CHECK_IMPL(kind, type, ok, to_string, expr, action)                  \
  do {                                                                                     \
    type minidl_status_ = (expr);                                                          \
    if (minidl_status_ != (ok))                                                            \
      ::minidl::detail::action(kind, to_string(minidl_status_), #expr, __func__, __FILE__, \
                               __LINE__);                                                  \
  } while (0)

#define MINIDL_CUDA_CHECK(expr) \
  MINIDL_STATUS_CHECK_IMPL("CUDA", cudaError_t, cudaSuccess, cudaGetErrorString, expr, throw_error)
#define MINIDL_CUDA_CHECK_NOTHROW(expr) \
  MINIDL_STATUS_CHECK_IMPL("CUDA", cudaError_t, cudaSuccess, cudaGetErrorString, expr, log_error)
#define MINIDL_CUBLAS_CHECK(expr)                                                                  \
  MINIDL_STATUS_CHECK_IMPL("cuBLAS", cublasStatus_t, CUBLAS_STATUS_SUCCESS, cublasGetStatusString, \
                           expr, throw_error)
#define MINIDL_CUDNN_CHECK(expr)                                                              \
  MINIDL_STATUS_CHECK_IMPL("cuDNN", cudnnStatus_t, CUDNN_STATUS_SUCCESS, cudnnGetErrorString, \
                           expr, throw_error)
#define MINIDL_NCCL_CHECK(expr) \
  MINIDL_STATUS_CHECK_IMPL("NCCL", ncclResult_t, ncclSuccess, ncclGetErrorString, expr, throw_error)
#define MINIDL_MPI_CHECK(expr)                                                                \
  MINIDL_STATUS_CHECK_IMPL("MPI", int, MPI_SUCCESS, ::minidl::detail::mpi_error_string, expr, \
                           throw_error)

// After every kernel launch (DESIGN.md §3): reports a bad launch configuration at the launch site.
#define MINIDL_LAUNCH_CHECK() MINIDL_CUDA_CHECK(cudaGetLastError())
