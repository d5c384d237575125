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

// Decodes a JPEG, PNG, BMP or PPM/PGM held in [data, data + size) to RGB (stb's other formats are
// compiled out): grayscale is replicated to three channels, alpha is dropped (as PIL's
// convert("RGB") does), 16-bit PNGs are reduced to 8 bits; 16-bit PPM/PGM is refused (stb 2.27
// misreads it). Returns u8 [3, H, W] as a view with HWC strides (the decoder's interleaved layout,
// not copied). Throws naming `name` and stb's reason on corrupt or truncated data; a PNG is first
// checked with verify_png, a JPEG with verify_jpeg, a BMP or PPM/PGM header with verify_bmp or
// verify_pnm. Never reads past the buffer.
// An image of more than `max_pixels` is refused before stb allocates for it (a few bytes can
// announce 2^24 x 2^24): the default is Pillow's limit, twice its MAX_IMAGE_PIXELS, where it raises
// DecompressionBombError.
constexpr int64_t kMaxImagePixels = 178'956'970;
Tensor decode_image(const uint8_t* data, size_t size, const std::string& name,
                    int64_t max_pixels = kMaxImagePixels);

// PNG integrity as libpng and Pillow (so torchvision) check it and stb_image does not: the file
// ends with IEND, every chunk's CRC-32 matches, the IDAT zlib stream is whole with a matching
// Adler-32 and holds exactly the scanline bytes IHDR announces. Throws naming `name`, the chunk
// and its byte offset. Costs one extra inflate of the image data (data/png_verify.cpp).
void verify_png(const uint8_t* data, size_t size, const std::string& name);

// JPEG structure as libjpeg checks it and stb_image does not: the file reaches its end-of-image
// marker (stb decodes a cut-short file as if the rest were zeros) and no Huffman table defines more
// than 256 codes (stb 2.27 writes past its tables). Throws naming `name` and the byte offset
// (data/jpeg_verify.cpp).
void verify_jpeg(const uint8_t* data, size_t size, const std::string& name);

// Header checks for the simple formats (data/image_headers.cpp): a BMP must hold the pixel data its
// header announces (stb decodes what is missing as zeros) and be at most 2^24 pixels a side; a
// PPM/PGM's numbers have at most 9 digits and its maxval is at most 255 (stb 2.27 misreads 16-bit
// files). Throw naming `name`.
void verify_bmp(const uint8_t* data, size_t size, const std::string& name);
void verify_pnm(const uint8_t* data, size_t size, const std::string& name);

// Reads only the header: true and the size when stb recognises the format and the header is
// sound (the pixel data is not checked; a JPEG's segments are walked by verify_jpeg first, as
// stb's header reader trips on the same bad tables).
bool image_header_ok(const uint8_t* data, size_t size, int* width, int* height);

// Encoders for tests and tools. image: u8 [C, H, W] with C in {1, 3, 4} (grayscale, RGB, RGBA),
// any strides, CPU.
std::vector<uint8_t> encode_png(const Tensor& image);
std::vector<uint8_t> encode_jpeg(const Tensor& image, int quality = 90);

}  // namespace minidl
