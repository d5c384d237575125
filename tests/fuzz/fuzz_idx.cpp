// Raw IDX files (data/idx.h): magic, dimension sizes, data length.
#include "data/idx.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return minidl::fuzz::expect_ok_or_error([&] { minidl::parse_idx(data, size, "fuzz-idx"); });
}
