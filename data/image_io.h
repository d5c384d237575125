// Image decoding and encoding through stb_image / stb_image_write (Debian's libstb-dev). This is
// the only translation unit that compiles stb's implementation (data/image_io.cpp), with its
// symbols kept private to libminidl.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace minidl {

// Decodes a JPEG, PNG, BMP, PPM/PGM, TGA or GIF (first frame) held in [data, data + size) to RGB:
// grayscale is replicated to three channels, alpha is dropped (as PIL's convert("RGB") does),
// 16-bit PNGs are reduced to 8 bits. Returns u8 [3, H, W] as a view with HWC strides (the decoder's
// interleaved layout, not copied). Throws naming `name` and stb's reason on corrupt or truncated
// data; a PNG is first checked with verify_png. Never reads past the buffer.
Tensor decode_image(const uint8_t* data, size_t size, const std::string& name);

// PNG integrity as libpng and Pillow (so torchvision) check it and stb_image does not: the file
// ends with IEND, every chunk's CRC-32 matches, the IDAT zlib stream is whole with a matching
// Adler-32 and holds exactly the scanline bytes IHDR announces. Throws naming `name`, the chunk
// and its byte offset. Costs one extra inflate of the image data (data/png_verify.cpp).
void verify_png(const uint8_t* data, size_t size, const std::string& name);

// Reads only the header: true and the size when stb recognises the format and the header is
// sound (the pixel data is not checked).
bool image_header_ok(const uint8_t* data, size_t size, int* width, int* height);

// Encoders for tests and tools. image: u8 [C, H, W] with C in {1, 3, 4} (grayscale, RGB, RGBA),
// any strides, CPU.
std::vector<uint8_t> encode_png(const Tensor& image);
std::vector<uint8_t> encode_jpeg(const Tensor& image, int quality = 90);

}  // namespace minidl
