// Images as ImageFolder reads them (data/image_io.h): the header probe, then the full decode
// through stb_image (JPEG, PNG, BMP, PPM/PGM, each checked first by its verify_*).
#include "data/image_io.h"
#include "tests/fuzz/fuzz_util.h"

// A smaller pixel limit than the library's (Pillow's 179 million): a few bytes can announce an
// image that takes seconds to decode under the sanitizers, which would only slow the search down.
constexpr int64_t kMaxPixels = int64_t(1) << 16;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  int width = 0, height = 0;
  minidl::image_header_ok(data, size, &width, &height);
  return minidl::fuzz::expect_ok_or_error(
      [&] { minidl::decode_image(data, size, "fuzz-image", kMaxPixels); });
}
