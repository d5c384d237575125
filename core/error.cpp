#include "core/error.h"

#include <cstdio>

#if MINIDL_WITH_MPI
#include <mpi.h>
#endif

namespace minidl {
namespace detail {

static std::string format(const char* kind, const std::string& message, const char* expr,
                          const char* func, const char* file, int line) {
  std::ostringstream os;
  if (kind && std::string(kind) != "check" && std::string(kind) != "error")
    os << kind << " error: ";
  os << message;
  if (expr) os << (message.empty() ? "" : " ") << "[" << expr << "]";
  os << " (in " << func << " at " << file << ":" << line << ")";
  return os.str();
}

void throw_error(const char* kind, const std::string& message, const char* expr, const char* func,
                 const char* file, int line) {
  throw Error(format(kind, message, expr, func, file, line));
}

void log_error(const char* kind, const std::string& message, const char* expr, const char* func,
               const char* file, int line) {
  std::fprintf(stderr, "minidl error (ignored in a destructor): %s\n",
               format(kind, message, expr, func, file, line).c_str());
}

#if MINIDL_WITH_MPI
std::string mpi_error_string(int code) {
  char buf[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(code, buf, &len);
  return std::string(buf, len);
}
#endif

}  // namespace detail

void log_warning(const std::string& message) {
  std::fprintf(stderr, "minidl warning: %s\n", message.c_str());
}

}  // namespace minidl
