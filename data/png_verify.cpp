// verify_png (data/image_io.h): the integrity checks libpng and Pillow make and stb_image skips.
// stb decodes a PNG whose chunk CRCs or zlib checksum are wrong as if nothing were amiss, so a
// corrupt file would be trained on; torchvision (Pillow) refuses it. The walk below reads each
// chunk once, front to back, inflating IDAT data into a small scratch buffer as it comes: memory
// stays constant whatever the header claims, and time is bounded by the file's length.
#include <zlib.h>

#include <cstdio>
#include <cstring>

#include "core/error.h"
#include "data/image_io.h"

namespace minidl {

namespace {

uint32_t be32(const uint8_t* p) {
  return (uint32_t(p[0]) << 24) | (uint32_t(p[1]) << 16) | (uint32_t(p[2]) << 8) | uint32_t(p[3]);
}

// A chunk type for messages: its four letters, or their hex codes when they are not letters.
std::string chunk_type(const uint8_t* p) {
  std::string s;
  for (int i = 0; i < 4; ++i) {
    bool letter = (p[i] >= 'A' && p[i] <= 'Z') || (p[i] >= 'a' && p[i] <= 'z');
    char hex[8];
    std::snprintf(hex, sizeof hex, "\\x%02x", p[i]);
    s += letter ? std::string(1, static_cast<char>(p[i])) : std::string(hex);
  }
  return s;
}

// The bytes of filtered scanlines IHDR announces: per pass (one, or Adam7's seven), each row is a
// filter byte and ceil(width * bits per pixel / 8) bytes. 0 for a header stb would refuse anyway.
uint64_t png_raw_bytes(uint32_t width, uint32_t height, int depth, int color, int interlace) {
  const int channels[7] = {1, 0, 3, 1, 2, 0, 4};  // by color type; 0: not a color type
  if (color > 6 || channels[color] == 0 || interlace > 1) return 0;
  if (depth != 1 && depth != 2 && depth != 4 && depth != 8 && depth != 16) return 0;
  const uint32_t kMaxSide = 1u << 24;  // stb_image's STBI_MAX_DIMENSIONS
  if (width == 0 || height == 0 || width > kMaxSide || height > kMaxSide) return 0;
  const uint32_t x0[7] = {0, 4, 0, 2, 0, 1, 0}, y0[7] = {0, 0, 4, 0, 2, 0, 1};
  const uint32_t dx[7] = {8, 8, 4, 4, 2, 2, 1}, dy[7] = {8, 8, 8, 4, 4, 2, 2};
  uint64_t bits = static_cast<uint64_t>(channels[color]) * depth, total = 0;
  for (int p = interlace ? 0 : 6; p < 7; ++p) {  // non-interlaced: one pass over every pixel
    uint64_t w = interlace ? (width + dx[p] - 1 - x0[p]) / dx[p] : width;
    uint64_t h = interlace ? (height + dy[p] - 1 - y0[p]) / dy[p] : height;
    if (w > 0 && h > 0) total += h * (1 + (w * bits + 7) / 8);  // < 2^24 * 2^27: no overflow
  }
  return total;
}

// Inflates the IDAT stream as its pieces come, counting the bytes; zlib checks the Adler-32.
class IdatStream {
 public:
  IdatStream() {
    if (inflateInit(&zs_) != Z_OK) MINIDL_FAIL("verify_png: zlib inflateInit failed");
  }
  ~IdatStream() { inflateEnd(&zs_); }
  IdatStream(const IdatStream&) = delete;
  IdatStream& operator=(const IdatStream&) = delete;

  // Returns "" or what is wrong. Bytes after the end of the zlib stream are ignored (as libpng
  // and Pillow do); more output than `limit` is an error found as soon as it happens.
  std::string feed(const uint8_t* p, uint32_t n, uint64_t limit) {
    zs_.next_in = const_cast<Bytef*>(p);
    zs_.avail_in = n;
    while (!ended_) {
      uint8_t scratch[1 << 15];
      zs_.next_out = scratch;
      zs_.avail_out = sizeof scratch;
      int ret = inflate(&zs_, Z_NO_FLUSH);
      ended_ = ret == Z_STREAM_END;
      if (zs_.total_out > limit) return "more image data than IHDR announces";
      if (ret != Z_OK && ret != Z_STREAM_END && ret != Z_BUF_ERROR)
        return std::string("corrupt zlib data: ") + (zs_.msg ? zs_.msg : "error");
      // Z_BUF_ERROR: no progress without the next chunk. A full scratch buffer may hide more.
      if (ret == Z_BUF_ERROR || (zs_.avail_in == 0 && zs_.avail_out != 0)) break;
    }
    return "";
  }
  bool ended() const { return ended_; }
  uint64_t bytes() const { return zs_.total_out; }

 private:
  z_stream zs_{};
  bool ended_ = false;
};

}  // namespace

void verify_png(const uint8_t* data, size_t size, const std::string& name) {
  static const uint8_t kSignature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  if (size < 8 || std::memcmp(data, kSignature, 8) != 0)
    MINIDL_FAIL(name, ": not a PNG file (bad signature at byte offset 0)");
  IdatStream idat;
  uint64_t expected = 0;
  for (size_t at = 8;;) {
    if (size - at < 12)
      MINIDL_FAIL(name, ": truncated PNG: no IEND chunk (the file ends at byte offset ", size, ")");
    const uint32_t len = be32(data + at);
    const uint8_t* type = data + at + 4;
    const std::string what = "PNG chunk '" + chunk_type(type) + "' at byte offset ";
    if (len > 0x7fffffffu)
      MINIDL_FAIL(name, ": ", what, at, ": length ", len, " is over the format's 2^31 - 1");
    if (size - at - 12 < len)
      MINIDL_FAIL(name, ": truncated PNG: ", what, at, " needs ", len + 12,
                  " bytes, the file ends at byte offset ", size);
    const uint32_t stored = be32(data + at + 8 + len);
    const uint32_t computed = static_cast<uint32_t>(crc32(0, type, len + 4));
    if (stored != computed)
      MINIDL_FAIL(name, ": ", what, at, ": CRC mismatch (stored 0x", std::hex, stored,
                  ", computed 0x", computed, std::dec, "): the file is corrupt");
    const std::string t(reinterpret_cast<const char*>(type), 4);
    if (at == 8) {
      const uint8_t* h = type + 4;
      if (t != "IHDR" || len != 13)
        MINIDL_FAIL(name, ": the first PNG chunk is not a 13-byte IHDR");
      expected = png_raw_bytes(be32(h), be32(h + 4), h[8], h[9], h[12]);
      if (expected == 0)
        MINIDL_FAIL(name, ": PNG header (IHDR) is invalid or unsupported: ", be32(h), "x",
                    be32(h + 4), ", bit depth ", int(h[8]), ", color type ", int(h[9]),
                    ", interlace ", int(h[12]));
    } else if (t == "IDAT") {
      std::string problem = idat.feed(type + 4, len, expected);
      if (!problem.empty()) MINIDL_FAIL(name, ": ", what, at, ": ", problem);
    } else if (t == "IEND") {
      break;
    }
    at += 12 + static_cast<size_t>(len);
  }
  if (!idat.ended() || idat.bytes() != expected)
    MINIDL_FAIL(name, ": PNG image data ", idat.ended() ? "is short" : "is truncated", ": ",
                idat.bytes(), " of the ", expected, " bytes IHDR announces");
}

}  // namespace minidl
