// verify_bmp and verify_pnm (data/image_io.h): header checks for the two simple formats stb_image
// reads, made before stb sees the file. stb decodes pixel data missing from a BMP as zeros (Pillow
// refuses a truncated image), takes abs() of a height that can be INT_MIN, and reads a PPM/PGM's
// numbers into ints with no overflow check; 16-bit PPM/PGM it decodes with the wrong byte order and
// reads past its own buffer. Each check reads a few header bytes.
#include <cstdlib>

#include "core/error.h"
#include "data/image_io.h"

namespace minidl {

namespace {

uint32_t le16(const uint8_t* p) {
  return uint32_t(p[0]) | (uint32_t(p[1]) << 8);
}
uint32_t le32(const uint8_t* p) {
  return le16(p) | (le16(p + 2) << 16);
}

constexpr int64_t kMaxSide = int64_t(1) << 24;  // stb_image's STBI_MAX_DIMENSIONS

}  // namespace

void verify_bmp(const uint8_t* data, size_t size, const std::string& name) {
  // A 14-byte file header (the pixel data's offset at 10), then an info header that starts with
  // its own size: 12 (OS/2: 16-bit sizes) or 40 and up (Windows: 32-bit, height < 0 = top-down).
  if (size < 18) MINIDL_FAIL(name, ": truncated BMP header (", size, " bytes)");
  const uint32_t offset = le32(data + 10), hsz = le32(data + 14);
  const bool os2 = hsz == 12;
  if (!os2 && hsz < 40) return;  // stb refuses it
  if (size < (os2 ? 26u : 34u)) MINIDL_FAIL(name, ": truncated BMP header (", size, " bytes)");
  const int64_t w = os2 ? int64_t(le16(data + 18)) : int64_t(int32_t(le32(data + 18)));
  const int64_t h = os2 ? int64_t(le16(data + 20)) : int64_t(int32_t(le32(data + 22)));
  const int64_t bpp = le16(data + (os2 ? 24 : 28));
  const uint32_t compression = os2 ? 0 : le32(data + 30);
  if (w <= 0 || h == 0 || w > kMaxSide || std::abs(h) > kMaxSide)
    MINIDL_FAIL(name, ": BMP of ", w, " x ", h, " pixels (stb reads 1 to 2^24 a side)");
  if (compression == 1 || compression == 2 || bpp == 0 || bpp > 32) return;  // stb refuses these
  if (offset < 14 + hsz)
    MINIDL_FAIL(name, ": BMP pixel data offset ", offset,
                " (byte offset 10) lies inside its headers");
  const uint64_t row = (static_cast<uint64_t>(bpp) * w + 31) / 32 * 4;  // rows pad to 4 bytes
  const uint64_t end = offset + row * static_cast<uint64_t>(std::abs(h));
  if (end > size)
    MINIDL_FAIL(name, ": truncated BMP: ", w, " x ", std::abs(h), " pixels of ", bpp,
                " bits need pixel data up to byte offset ", end, ", the file has ", size, " bytes");
}

void verify_pnm(const uint8_t* data, size_t size, const std::string& name) {
  // "P5"/"P6", then width, height and maxval, with blanks and # comments (to the end of the line)
  // between, as stb reads them.
  auto blank = [](uint8_t c) { return c == ' ' || (c >= '\t' && c <= '\r'); };
  const char* fields[3] = {"width", "height", "maxval"};
  size_t at = 2;
  for (int f = 0; f < 3; ++f) {
    for (;;) {
      while (at < size && blank(data[at])) ++at;
      if (at >= size || data[at] != '#') break;
      while (at < size && data[at] != '\n' && data[at] != '\r') ++at;
    }
    const size_t start = at;
    int64_t value = 0;
    for (; at < size && data[at] >= '0' && data[at] <= '9'; ++at)
      if (at - start < 9) value = value * 10 + (data[at] - '0');
    if (at - start > 9)
      MINIDL_FAIL(name, ": PPM/PGM ", fields[f], " at byte offset ", start, " has ", at - start,
                  " digits; at most 9");
    if (f == 2 && value > 255)
      MINIDL_FAIL(name, ": a 16-bit PPM/PGM (maxval ", value,
                  ") is not read: stb_image 2.27 gets its byte order wrong and reads past its "
                  "buffer");
  }
}

}  // namespace minidl
