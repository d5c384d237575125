#include "data/image_io.h"

#include <cstdlib>
#include <cstring>

#include "core/error.h"

// stb's implementation, private to this file (static functions), compiled without its warnings.
#define STB_IMAGE_IMPLEMENTATION
#define STB_IMAGE_STATIC
// Only the formats ImageFolder reads: stb's GIF, TGA, PSD, PIC and HDR decoders have known memory
// errors (CVE-2023-45661..45667 among them) and no dataset here needs them.
#define STBI_ONLY_JPEG
#define STBI_ONLY_PNG
#define STBI_ONLY_BMP
#define STBI_ONLY_PNM
#define STB_IMAGE_WRITE_IMPLEMENTATION
#define STB_IMAGE_WRITE_STATIC
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wimplicit-fallthrough"
#pragma GCC diagnostic ignored "-Wunused-but-set-variable"
#include <stb/stb_image.h>
#include <stb/stb_image_write.h>
#pragma GCC diagnostic pop

namespace minidl {

enum class StbFormat { png, bmp, jpeg, pnm, other };

// The decoder stb will pick, asked as stbi_load asks it (its own tests, in its order), so that the
// checks below run exactly on what stb would decode as that format.
static StbFormat stb_format(const uint8_t* data, size_t size) {
  stbi__context s;
  stbi__start_mem(&s, data, static_cast<int>(size));
  if (stbi__png_test(&s)) return StbFormat::png;
  if (stbi__bmp_test(&s)) return StbFormat::bmp;
  if (stbi__jpeg_test(&s)) return StbFormat::jpeg;
  if (stbi__pnm_test(&s)) return StbFormat::pnm;
  return StbFormat::other;
}

// stb checks less than libpng, libjpeg and Pillow do, and has memory errors on some bad input:
// check first what they check, on what stb will read as that format. `pixels`: the whole image
// will be decoded (else only the header: a PNG's image data is then not inflated).
static void check_for_stb(const uint8_t* data, size_t size, const std::string& name, bool pixels) {
  switch (stb_format(data, size)) {
    case StbFormat::png:
      if (pixels) verify_png(data, size, name);
      break;
    case StbFormat::jpeg:  // even stb's header reader builds the Huffman tables
      verify_jpeg(data, size, name);
      break;
    case StbFormat::bmp:
      verify_bmp(data, size, name);
      break;
    case StbFormat::pnm:
      verify_pnm(data, size, name);
      break;
    default:
      break;
  }
}

Tensor decode_image(const uint8_t* data, size_t size, const std::string& name, int64_t max_pixels) {
  if (size == 0) MINIDL_FAIL(name, ": empty file, not an image");
  if (size > static_cast<size_t>(INT32_MAX)) MINIDL_FAIL(name, ": ", size, " bytes is too large");
  check_for_stb(data, size, name, true);
  int w = 0, h = 0, channels_in_file = 0;
  if (stbi_info_from_memory(data, static_cast<int>(size), &w, &h, &channels_in_file) &&
      static_cast<int64_t>(w) * h > max_pixels)
    MINIDL_FAIL(name, ": ", w, " x ", h, " pixels is over the limit of ", max_pixels,
                " (a decompression bomb?)");
  uint8_t* pixels =
      stbi_load_from_memory(data, static_cast<int>(size), &w, &h, &channels_in_file, 3);
  if (!pixels) MINIDL_FAIL(name, ": cannot decode image: ", stbi_failure_reason());
  Tensor hwc = Tensor::empty({h, w, 3}, DType::u8);
  std::memcpy(hwc.data_ptr(), pixels, static_cast<size_t>(h) * w * 3);
  stbi_image_free(pixels);
  return hwc.permute({2, 0, 1});
}

bool image_header_ok(const uint8_t* data, size_t size, int* width, int* height) {
  if (size == 0 || size > static_cast<size_t>(INT32_MAX)) return false;
  try {
    check_for_stb(data, size, "", false);
  } catch (const Error&) {
    return false;
  }
  int w = 0, h = 0, c = 0;
  if (!stbi_info_from_memory(data, static_cast<int>(size), &w, &h, &c)) return false;
  if (width) *width = w;
  if (height) *height = h;
  return w > 0 && h > 0;
}

// The image as interleaved HWC bytes, the layout the encoders take.
static std::vector<uint8_t> interleaved(const Tensor& image, const char* op) {
  MINIDL_CHECK(image.dtype() == DType::u8 && image.dim() == 3 && image.device().is_cpu() &&
                   (image.size(0) == 1 || image.size(0) == 3 || image.size(0) == 4),
               op, ": needs a CPU u8 [C, H, W] image with C in {1, 3, 4}, got ", image.str());
  Tensor hwc = image.permute({1, 2, 0}).contiguous();
  const uint8_t* p = hwc.data<uint8_t>();
  return std::vector<uint8_t>(p, p + hwc.numel());
}

static void append_bytes(void* context, void* data, int size) {
  auto* out = static_cast<std::vector<uint8_t>*>(context);
  const uint8_t* p = static_cast<const uint8_t*>(data);
  out->insert(out->end(), p, p + size);
}

std::vector<uint8_t> encode_png(const Tensor& image) {
  std::vector<uint8_t> px = interleaved(image, "encode_png"), out;
  int c = static_cast<int>(image.size(0)), h = static_cast<int>(image.size(1)),
      w = static_cast<int>(image.size(2));
  MINIDL_CHECK(stbi_write_png_to_func(append_bytes, &out, w, h, c, px.data(), w * c) != 0,
               "encode_png: stb_image_write failed for ", image.str());
  return out;
}

std::vector<uint8_t> encode_jpeg(const Tensor& image, int quality) {
  std::vector<uint8_t> px = interleaved(image, "encode_jpeg"), out;
  int c = static_cast<int>(image.size(0)), h = static_cast<int>(image.size(1)),
      w = static_cast<int>(image.size(2));
  MINIDL_CHECK(stbi_write_jpg_to_func(append_bytes, &out, w, h, c, px.data(), quality) != 0,
               "encode_jpeg: stb_image_write failed for ", image.str());
  return out;
}

}  // namespace minidl
