// .npy files (core/npy.h): the header scanner, the shape's byte size, the data read.
#include "core/npy.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return minidl::fuzz::expect_ok_or_error([&] { minidl::parse_npy(data, size, "fuzz.npy"); });
}
