// Gzip-compressed IDX files (data/gzip.h, data/idx.h), as read_idx_file reads a ".gz": gunzip
// (several members, trailing padding), then the IDX parser on what came out.
#include "data/gzip.h"
#include "data/idx.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return minidl::fuzz::expect_ok_or_error([&] {
    std::vector<uint8_t> raw = minidl::gunzip(data, size, "fuzz-idx.gz");
    minidl::parse_idx(raw.data(), raw.size(), "fuzz-idx.gz");
  });
}
