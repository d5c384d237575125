// Image integrity before stb_image decodes (data/image_io.h verify_png, verify_jpeg) and
// whole-dataset checks (verify_images): stb decoded a PNG with a bad CRC and zlib checksum as if
// nothing were wrong (issue 12, item 11), wrote past its Huffman tables on a JPEG the fuzzer made,
// and a corrupt image in an ImageFolder was only found mid-run.
#include <gtest/gtest.h>
#include <zlib.h>

#include <filesystem>

#include "core/file_io.h"
#include "data/image_folder.h"
#include "data/image_io.h"
#include "tests/data/data_testing.h"
#include "tests/testing.h"

namespace minidl {
namespace {

using testing::random_u8;
using testing::TempDir;
using Bytes = std::vector<uint8_t>;

void put_be32(Bytes& out, uint32_t v) {
  for (int s = 24; s >= 0; s -= 8) out.push_back(static_cast<uint8_t>(v >> s));
}

void chunk(Bytes& png, const std::string& type, const Bytes& body) {
  put_be32(png, static_cast<uint32_t>(body.size()));
  size_t start = png.size();
  png.insert(png.end(), type.begin(), type.end());
  png.insert(png.end(), body.begin(), body.end());
  put_be32(png, static_cast<uint32_t>(crc32(0, png.data() + start, png.size() - start)));
}

Bytes zlib_compress(const Bytes& raw) {
  uLongf n = compressBound(raw.size());
  Bytes z(n);
  EXPECT_EQ(compress2(z.data(), &n, raw.data(), raw.size(), 6), Z_OK);
  z.resize(n);
  return z;
}

struct Ihdr {
  uint32_t w, h;
  int depth, color, interlace;
};

// The filtered scanline bytes of an image, counted pixel by pixel: for Adam7 the rows and columns
// each pass visits (independent of the closed form verify_png uses).
size_t raw_size(const Ihdr& d, int bits_per_pixel) {
  const uint32_t x0[7] = {0, 4, 0, 2, 0, 1, 0}, y0[7] = {0, 0, 4, 0, 2, 0, 1};
  const uint32_t dx[7] = {8, 8, 4, 4, 2, 2, 1}, dy[7] = {8, 8, 8, 4, 4, 2, 2};
  size_t total = 0;
  for (int p = 0; p < 7; ++p) {
    size_t cols = 0, rows = 0;
    for (uint32_t x = d.interlace ? x0[p] : 0; x < d.w; x += d.interlace ? dx[p] : 1) ++cols;
    for (uint32_t y = d.interlace ? y0[p] : 0; y < d.h; y += d.interlace ? dy[p] : 1) ++rows;
    if (cols && rows) total += rows * (1 + (cols * bits_per_pixel + 7) / 8);
    if (!d.interlace) break;
  }
  return total;
}

// A PNG of `d` holding `raw` (zlib-compressed into one IDAT), with a grey palette for color type 3.
Bytes make_png(const Ihdr& d, const Bytes& raw) {
  Bytes png = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'}, ihdr;
  put_be32(ihdr, d.w);
  put_be32(ihdr, d.h);
  ihdr.insert(ihdr.end(), {static_cast<uint8_t>(d.depth), static_cast<uint8_t>(d.color), 0, 0,
                           static_cast<uint8_t>(d.interlace)});
  chunk(png, "IHDR", ihdr);
  if (d.color == 3) {
    Bytes plte;
    for (int i = 0; i < 16; ++i) plte.insert(plte.end(), 3, static_cast<uint8_t>(i * 16));
    chunk(png, "PLTE", plte);
  }
  chunk(png, "IDAT", zlib_compress(raw));
  chunk(png, "IEND", {});
  return png;
}

Tensor decode(const Bytes& png) {
  return decode_image(png.data(), png.size(), "p.png");
}

TEST(PngVerify, EveryLayoutStbReadsStillDecodes) {
  struct Case {
    Ihdr d;
    int bits_per_pixel;
  };
  for (const Case& c :
       {Case{{5, 7, 8, 0, 1}, 8}, Case{{10, 3, 1, 0, 0}, 1}, Case{{2, 2, 16, 2, 0}, 48},
        Case{{3, 3, 8, 4, 1}, 16}, Case{{3, 2, 4, 3, 0}, 4}, Case{{9, 9, 2, 0, 1}, 2},
        Case{{1, 1, 8, 6, 1}, 32}}) {
    Bytes png = make_png(c.d, Bytes(raw_size(c.d, c.bits_per_pixel), 0));
    Tensor t = decode(png);
    EXPECT_EQ(t.shape(), Shape({3, c.d.h, c.d.w}))
        << c.d.w << "x" << c.d.h << " color " << c.d.color << " interlace " << c.d.interlace;
  }
}

// The encoded PNG with the last byte of its IDAT data (the zlib stream's Adler-32) changed, and the
// chunk's CRC left stale or recomputed.
Bytes with_bad_adler32(Bytes png, bool fix_crc) {
  const size_t at = 33;  // stb_image_write: IHDR, then the one IDAT
  uint32_t len = (png[at] << 24) | (png[at + 1] << 16) | (png[at + 2] << 8) | png[at + 3];
  EXPECT_EQ(std::string(png.begin() + at + 4, png.begin() + at + 8), "IDAT");
  png[at + 8 + len - 1] ^= 0x01;
  if (fix_crc) {
    uint32_t crc = static_cast<uint32_t>(crc32(0, png.data() + at + 4, len + 4));
    for (int i = 0; i < 4; ++i) png[at + 8 + len + i] = static_cast<uint8_t>(crc >> (24 - 8 * i));
  }
  return png;
}

TEST(PngVerify, BadCrcOrZlibChecksumIsRefused) {
  Bytes good = encode_png(random_u8({3, 6, 5}, 1));
  EXPECT_EQ(decode(good).shape(), Shape({3, 6, 5}));
  EXPECT_MINIDL_ERROR(decode(with_bad_adler32(good, false)), "p.png",
                      "PNG chunk 'IDAT' at byte offset 33", "CRC mismatch");
  EXPECT_MINIDL_ERROR(decode(with_bad_adler32(good, true)), "p.png", "chunk 'IDAT'",
                      "corrupt zlib data: incorrect data check");
  Bytes ihdr_crc = good;
  ihdr_crc[29] ^= 0xff;
  EXPECT_MINIDL_ERROR(decode(ihdr_crc), "chunk 'IHDR' at byte offset 8", "CRC mismatch");
}

TEST(PngVerify, ImageDataMustMatchTheHeader) {
  Ihdr d{4, 4, 8, 2, 0};
  size_t n = raw_size(d, 24);
  EXPECT_MINIDL_ERROR(decode(make_png(d, Bytes(n - 1, 0))), "p.png", "is short", "of the 52 bytes");
  EXPECT_MINIDL_ERROR(decode(make_png(d, Bytes(n + 40000, 0))), "p.png",
                      "more image data than IHDR announces");
  Bytes png = make_png(d, Bytes(n, 0));
  png.resize(png.size() - 12);  // no IEND
  EXPECT_MINIDL_ERROR(decode(png), "p.png", "no IEND chunk");
  EXPECT_MINIDL_ERROR(decode(make_png({4, 4, 8, 5, 0}, Bytes(n, 0))), "IHDR) is invalid",
                      "color type 5");
  // A zlib stream cut short inside a well-formed chunk.
  Bytes z = zlib_compress(Bytes(n, 7));
  z.resize(z.size() / 2);
  Bytes cut = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  Bytes ihdr(png.begin() + 16, png.begin() + 29);
  chunk(cut, "IHDR", ihdr);
  chunk(cut, "IDAT", z);
  chunk(cut, "IEND", {});
  EXPECT_MINIDL_ERROR(decode(cut), "p.png", "image data is truncated");
  Bytes no_ihdr(png.begin(), png.begin() + 8);
  chunk(no_ihdr, "tEXt", {'a', 0, 'b'});
  EXPECT_MINIDL_ERROR(decode(no_ihdr), "p.png", "first PNG chunk is not a 13-byte IHDR");
}

// The JPEG with the first code count of its first Huffman table raised by `extra` (the segment's
// length unchanged).
Bytes jpeg_with_more_codes(Bytes jpg, int extra) {
  for (size_t at = 2; at + 4 < jpg.size(); at += 2 + ((jpg[at + 2] << 8) | jpg[at + 3])) {
    if (jpg[at + 1] == 0xC4) {
      jpg[at + 5] = static_cast<uint8_t>(jpg[at + 5] + extra);
      return jpg;
    }
  }
  ADD_FAILURE() << "no DHT segment";
  return jpg;
}

TEST(JpegVerify, HuffmanTablesAndTruncation) {
  Bytes good = encode_jpeg(random_u8({3, 8, 8}, 4));
  EXPECT_EQ(decode(good).shape(), Shape({3, 8, 8}));
  // 255 more codes in a table: more than 256 in all, which stb wrote past its arrays.
  Bytes many = jpeg_with_more_codes(good, 255);
  EXPECT_MINIDL_ERROR(decode(many), "p.png", "corrupt JPEG", "DHT segment at byte offset",
                      "codes (at most 256");
  EXPECT_FALSE(image_header_ok(many.data(), many.size(), nullptr, nullptr));
  many.insert(many.begin(), 0xFF);  // a fill byte before SOI: stb still reads it as a JPEG
  EXPECT_MINIDL_ERROR(decode(many), "corrupt JPEG", "codes (at most 256");
  Bytes cut(good.begin(), good.end() - 2);
  EXPECT_MINIDL_ERROR(decode(cut), "truncated JPEG: no end-of-image marker");
  Bytes trailing = good;
  trailing.insert(trailing.end(), {0xFF, 0xC4, 0xFF, 0xFF, 1, 2, 3});  // after EOI: ignored
  EXPECT_EQ(decode(trailing).shape(), Shape({3, 8, 8}));
  // A second frame header, as libjpeg refuses it (stb reallocated under its decoder).
  Bytes two_frames = good;
  for (size_t at = 2; at + 4 < good.size(); at += 2 + ((good[at + 2] << 8) | good[at + 3])) {
    if (good[at + 1] == 0xC0) {
      size_t end = at + 2 + ((good[at + 2] << 8) | good[at + 3]);
      two_frames.insert(two_frames.begin() + end, good.begin() + at, good.begin() + end);
      break;
    }
  }
  EXPECT_MINIDL_ERROR(decode(two_frames), "corrupt JPEG: a second frame header (SOF FF c0)");
  // A scan that names a Huffman table no DHT defined (stb decoded with uninitialised memory).
  Bytes undefined_table = good;
  for (size_t at = 2; at + 4 < good.size(); at += 2 + ((good[at + 2] << 8) | good[at + 3])) {
    if (good[at + 1] == 0xDA) {
      undefined_table[at + 8] = 0x30;  // the second component: DC table 3, AC table 0
      break;
    }
  }
  EXPECT_MINIDL_ERROR(decode(undefined_table), "corrupt JPEG: the scan (SOS) at byte offset",
                      "decodes with Huffman table DC 3, which no DHT segment before it defines");
  Bytes long_segment = good;
  long_segment[4] = 0xFF;  // APP0's length now runs past the end
  EXPECT_MINIDL_ERROR(decode(long_segment), "truncated JPEG: segment FF e0 at byte offset 2");
}

TEST(ImageDecode, SixteenBitPnmIsRefused) {  // stb 2.27 misreads it, and read past its buffer
  std::string pgm = "P5 2 2 # comment\n65535 " + std::string(8, '\x10');
  EXPECT_MINIDL_ERROR(
      decode_image(reinterpret_cast<const uint8_t*>(pgm.data()), pgm.size(), "g.pgm"), "g.pgm",
      "16-bit PPM/PGM (maxval 65535) is not read");
  std::string cut = "P5 2 2 257 \x80\x80\x80\x80";  // what the fuzzer found
  EXPECT_MINIDL_ERROR(
      decode_image(reinterpret_cast<const uint8_t*>(cut.data()), cut.size(), "c.pgm"), "c.pgm",
      "maxval 257");
  std::string wide = "P6 2 99999999999 255 ";  // stb read it into an int without a check
  EXPECT_MINIDL_ERROR(
      decode_image(reinterpret_cast<const uint8_t*>(wide.data()), wide.size(), "w.ppm"), "w.ppm",
      "height at byte offset 5 has 11 digits");
  EXPECT_FALSE(image_header_ok(reinterpret_cast<const uint8_t*>(wide.data()), wide.size(), nullptr,
                               nullptr));
  std::string ok = "P5 2 2 255 " + std::string(4, '\x10');
  EXPECT_EQ(decode_image(reinterpret_cast<const uint8_t*>(ok.data()), ok.size(), "o.pgm").shape(),
            Shape({3, 2, 2}));
}

// A 24-bit BMP of w x h (h < 0: top-down) with `pixel_bytes` of pixel data after the headers.
Bytes bmp(int32_t w, int32_t h, size_t pixel_bytes) {
  Bytes b = {'B', 'M', 0, 0, 0, 0, 0, 0, 0, 0, 54, 0, 0, 0, 40, 0, 0, 0};
  for (int32_t v : {w, h}) {
    for (int i = 0; i < 4; ++i)
      b.push_back(static_cast<uint8_t>(static_cast<uint32_t>(v) >> (8 * i)));
  }
  b.insert(b.end(), {1, 0, 24, 0});  // planes, bits per pixel
  b.resize(54 + pixel_bytes, 0x40);  // compression 0 and the rest of the header: 0x40 bytes are
  for (size_t i = 30; i < 54; ++i) b[i] = 0;  // fine as pixels, not as header fields
  return b;
}

TEST(ImageHeaders, BmpMustHoldItsPixels) {
  EXPECT_EQ(decode(bmp(2, 2, 16)).shape(), Shape({3, 2, 2}));  // rows of 6 bytes padded to 8
  EXPECT_EQ(decode(bmp(2, -2, 16)).shape(), Shape({3, 2, 2}));
  // stb decoded the missing rows as zeros (the fuzzer's file announced 62978 x 2306).
  EXPECT_MINIDL_ERROR(decode(bmp(2, 2, 15)), "p.png", "truncated BMP", "up to byte offset 70");
  EXPECT_MINIDL_ERROR(decode(bmp(62978, 2306, 4)), "truncated BMP");
  EXPECT_MINIDL_ERROR(decode(bmp(2, INT32_MIN, 16)), "BMP of 2 x -2147483648 pixels");
  Bytes big = bmp(2, 2, 16);
  EXPECT_FALSE(image_header_ok(bmp(2, INT32_MIN, 16).data(), 70, nullptr, nullptr));
  EXPECT_MINIDL_ERROR(decode_image(big.data(), big.size(), "b.bmp", 3), "b.bmp",
                      "2 x 2 pixels is over the limit of 3");
}

TEST(VerifyImages, NamesEveryBadFileBeforeAnythingRuns) {
  TempDir dir;
  std::filesystem::create_directories(dir / "a");
  std::filesystem::create_directories(dir / "b");
  Bytes png = encode_png(random_u8({3, 6, 5}, 2));
  write_file_atomic(dir / "a/0_good.png", png);
  write_file_atomic(dir / "a/1_bad_crc.png", with_bad_adler32(png, false));
  write_file_atomic(dir / "b/2_garbage.jpg", std::string("not an image"));
  write_file_atomic(dir / "b/3_good.jpg", encode_jpeg(random_u8({3, 8, 8}, 3)));
  ImageFolderDataset ds(dir.str());  // construction reads no image
  std::vector<SkippedImage> bad = find_bad_images(ds, 2);
  ASSERT_EQ(bad.size(), 2u);
  EXPECT_EQ(bad[0].path, dir / "a/1_bad_crc.png");
  EXPECT_NE(bad[0].reason.find("CRC mismatch"), std::string::npos) << bad[0].reason;
  EXPECT_EQ(bad[1].path, dir / "b/2_garbage.jpg");
  EXPECT_MINIDL_ERROR(verify_images(ds), "2 of 4 images cannot be decoded", "1_bad_crc.png",
                      "CRC mismatch", "2_garbage.jpg");
  for (int i = 0; i < 12; ++i)
    write_file_atomic(dir / ("b/9_junk" + std::to_string(i) + ".png"), std::string("junk"));
  EXPECT_MINIDL_ERROR(verify_images(ImageFolderDataset(dir.str())), "14 of 16 images",
                      "... and 4 more");
  std::filesystem::remove_all(dir / "b");
  std::filesystem::remove(dir / "a/1_bad_crc.png");
  EXPECT_NO_THROW(verify_images(ImageFolderDataset(dir.str()), 1));
}

}  // namespace
}  // namespace minidl
