#include "data/image_io.h"

#include <cstdlib>
#include <cstring>

#include "core/error.h"

// stb's implementation, private to this file (static functions), compiled without its warnings.
#define STB_IMAGE_IMPLEMENTATION
#define STB_IMAGE_STATIC
#define STBI_NO_HDR  // float images are not datasets' business
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

// stb_image decodes a JPEG cut short as if the missing data were zeros; PIL (and so torchvision)
// refuses it. A complete JPEG has its end-of-image marker FF D9 after the last start-of-scan FF DA;
// entropy-coded data never holds either pair (a coded FF is followed by 00 or D0..D7).
static bool jpeg_truncated(const uint8_t* data, size_t size) {
  if (size < 3 || data[0] != 0xFF || data[1] != 0xD8 || data[2] != 0xFF) return false;
  for (size_t i = size - 1; i >= 1; --i) {
    if (data[i - 1] != 0xFF) continue;
    if (data[i] == 0xD9) return false;
    if (data[i] == 0xDA) return true;
  }
  return true;
}

Tensor decode_image(const uint8_t* data, size_t size, const std::string& name) {
  if (size == 0) MINIDL_FAIL(name, ": empty file, not an image");
  if (jpeg_truncated(data, size))
    MINIDL_FAIL(name, ": truncated JPEG: no end-of-image marker after the last scan (", size,
                " bytes)");
  if (size > static_cast<size_t>(INT32_MAX)) MINIDL_FAIL(name, ": ", size, " bytes is too large");
  if (size >= 8 && std::memcmp(data, "\x89PNG\r\n\x1a\n", 8) == 0) verify_png(data, size, name);
  int w = 0, h = 0, channels_in_file = 0;
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
