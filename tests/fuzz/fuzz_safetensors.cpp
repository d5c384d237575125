// safetensors files (core/safetensors.h): the header length, the JSON header, each tensor's entry.
#include "core/safetensors.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return minidl::fuzz::expect_ok_or_error([&] {
    minidl::Metadata metadata;
    minidl::parse_safetensors(data, size, "fuzz.safetensors", &metadata);
  });
}
