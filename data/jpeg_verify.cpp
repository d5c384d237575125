// verify_jpeg (data/image_io.h): the checks libjpeg makes that stb_image skips, before stb decodes.
//  - A JPEG cut short: stb decodes the missing data as zeros; libjpeg and Pillow refuse it. A whole
//    file reaches its end-of-image marker FF D9.
//  - A Huffman table (DHT segment) defining more than 256 codes: stb (v2.27, Debian 12) writes past
//    its tables, out of its heap block; libjpeg calls it a "bogus Huffman table definition".
//  - A second frame header (SOF): libjpeg refuses it ("two SOF markers"); stb 2.27 reallocates its
//    component buffers under the decoder (the use-after-free of CVE-2022-28042 is of this kind).
//  - A scan (SOS) that decodes with a Huffman table no DHT segment before it defined: stb 2.27
//    decodes with the table's uninitialised heap memory (its symbol index then runs billions past
//    the table: found by fuzzing); libjpeg refuses it ("Huffman table 0x03 was not defined").
//    Motion-JPEG frames that rely on the standard's default tables are refused for the same
//    reason: stb has no default tables.
// The walk reads marker segments by their lengths (so a thumbnail inside an EXIF segment is skipped
// whole) and entropy-coded data up to the next marker (in it, FF is always followed by 00 or a
// restart marker D0..D7); one pass, front to back.
#include "core/error.h"
#include "data/image_io.h"

namespace minidl {

namespace {

// Which Huffman tables DHT segments have defined so far: [class: 0 DC, 1 AC][id].
using DefinedTables = bool[2][4];

// The tables of one DHT segment's payload: each is a class/id byte, 16 code counts, the symbols.
void check_dht(const uint8_t* p, size_t n, size_t at, const std::string& name,
               DefinedTables& defined) {
  while (n > 0) {
    if (n < 17)
      MINIDL_FAIL(name, ": corrupt JPEG: DHT segment at byte offset ", at, " ends inside a table");
    if ((p[0] >> 4) > 1 || (p[0] & 15) > 3)
      MINIDL_FAIL(name, ": corrupt JPEG: DHT segment at byte offset ", at, ": table class/id 0x",
                  std::hex, int(p[0]), " (class 0..1, id 0..3)");
    size_t codes = 0;
    for (int i = 1; i <= 16; ++i) codes += p[i];
    if (codes > 256 || 17 + codes > n)
      MINIDL_FAIL(name, ": corrupt JPEG: DHT segment at byte offset ", at, " defines a table of ",
                  codes, " codes (at most 256, within its ", n, " bytes)");
    defined[p[0] >> 4][p[0] & 15] = true;
    p += 17 + codes;
    n -= 17 + codes;
  }
}

// A scan header's payload: Ns, then Ns (component, DC/AC table ids) pairs, then Ss, Se, Ah/Al.
// Only the tables stb will decode with must exist: a progressive DC scan uses the DC table alone
// (none when it refines, Ah > 0), a progressive AC scan the AC table alone, a sequential scan both.
void check_sos(const uint8_t* p, size_t n, size_t at, const std::string& name, bool progressive,
               const DefinedTables& defined) {
  const size_t ns = n > 0 ? p[0] : 0;
  if (n < 1 + 2 * ns + 3)
    MINIDL_FAIL(name, ": corrupt JPEG: scan header (SOS) at byte offset ", at, " of ", n,
                " bytes cannot hold its ", ns, " component(s)");
  const uint8_t ss = p[1 + 2 * ns], ah = p[3 + 2 * ns] >> 4;
  for (size_t i = 0; i < ns; ++i) {
    const int dc = p[2 + 2 * i] >> 4, ac = p[2 + 2 * i] & 15;
    if (dc > 3 || ac > 3) continue;  // stb refuses these itself
    const bool needs_dc = !progressive || (ss == 0 && ah == 0);
    const bool needs_ac = !progressive || ss > 0;
    const int missing_class = needs_dc && !defined[0][dc] ? 0 : needs_ac && !defined[1][ac] ? 1 : -1;
    if (missing_class >= 0)
      MINIDL_FAIL(name, ": corrupt JPEG: the scan (SOS) at byte offset ", at,
                  " decodes with Huffman table ", missing_class == 0 ? "DC " : "AC ",
                  missing_class == 0 ? dc : ac, ", which no DHT segment before it defines");
  }
}

}  // namespace

void verify_jpeg(const uint8_t* data, size_t size, const std::string& name) {
  size_t at = 0;  // FF D8, after any number of FF fill bytes (stb and libjpeg skip them)
  while (at + 1 < size && data[at] == 0xFF && data[at + 1] == 0xFF) ++at;
  if (size - at < 2 || data[at] != 0xFF || data[at + 1] != 0xD8)
    MINIDL_FAIL(name, ": not a JPEG file (no start-of-image marker at byte offset 0)");
  int frames = 0;
  bool progressive = false;
  DefinedTables defined = {};
  for (at += 2; at + 1 < size;) {
    const uint8_t m = data[at + 1];
    if (data[at] != 0xFF || m == 0xFF) {  // entropy-coded data, or a fill byte before a marker
      ++at;
      continue;
    }
    if (m == 0x00 || m == 0x01 || (m >= 0xD0 && m <= 0xD8)) {  // stuffed FF, TEM, RSTn, SOI
      at += 2;
      continue;
    }
    if (m == 0xD9) return;  // end of image: anything after it is ignored, as decoders do
    if (size - at < 4)
      MINIDL_FAIL(name, ": truncated JPEG: marker FF ", std::hex, int(m), std::dec,
                  " at byte offset ", at, " has no length");
    const size_t len = (size_t(data[at + 2]) << 8) | data[at + 3];  // counts itself, not the marker
    if (len < 2 || size - at - 2 < len)
      MINIDL_FAIL(name, ": truncated JPEG: segment FF ", std::hex, int(m), std::dec,
                  " at byte offset ", at, " of ", len, " bytes runs past the end (", size,
                  " bytes)");
    if (m == 0xC4) check_dht(data + at + 4, len - 2, at, name, defined);
    if (m == 0xDA) check_sos(data + at + 4, len - 2, at, name, progressive, defined);
    const bool sof = m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC;
    if (sof && frames++ > 0)
      MINIDL_FAIL(name, ": corrupt JPEG: a second frame header (SOF FF ", std::hex, int(m),
                  std::dec, ") at byte offset ", at);
    if (sof) progressive = m == 0xC2 || m == 0xC6 || m == 0xCA || m == 0xCE;
    at += 2 + len;
  }
  MINIDL_FAIL(name, ": truncated JPEG: no end-of-image marker (", size, " bytes)");
}

}  // namespace minidl
