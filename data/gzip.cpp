#include "data/gzip.h"

#include <zlib.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "core/error.h"
#include "core/text.h"

namespace minidl {

std::vector<uint8_t> read_file_maybe_gz(const std::string& path) {
  std::vector<uint8_t> bytes = read_file(path);
  if (!ends_with(path, ".gz")) return bytes;
  return gunzip(bytes.data(), bytes.size(), path);
}

std::vector<uint8_t> gunzip(const uint8_t* data, size_t size, const std::string& name) {
  if (size == 0) MINIDL_FAIL(name, ": empty, not a gzip stream");
  std::vector<uint8_t> out;
  // Room for a typical ratio first (IDX images compress about 4:1), then doubling; a small file
  // does not pay for zeroing a megabyte.
  out.reserve(std::min<size_t>(std::max<size_t>(4 * size, 1 << 16), 1 << 24));
  size_t consumed = 0;
  // One inflate stream per gzip member; members follow each other until the buffer ends.
  while (consumed < size) {
    z_stream zs{};
    MINIDL_CHECK(inflateInit2(&zs, 16 + MAX_WBITS) == Z_OK, name, ": zlib inflateInit2 failed");
    zs.next_in = const_cast<Bytef*>(data + consumed);
    zs.avail_in = static_cast<uInt>(std::min<size_t>(size - consumed, 1u << 30));
    int ret = Z_OK;
    while (ret != Z_STREAM_END) {
      if (out.capacity() - out.size() < (1 << 16))
        out.reserve(out.capacity() * 2);
      size_t before = out.size();
      out.resize(out.capacity());
      zs.next_out = out.data() + before;
      zs.avail_out = static_cast<uInt>(out.size() - before);
      ret = inflate(&zs, Z_NO_FLUSH);
      out.resize(out.size() - zs.avail_out);
      size_t at = consumed + zs.total_in;
      if (ret == Z_BUF_ERROR && zs.avail_in == 0 && at < size) {  // refill past 1 GiB
        zs.next_in = const_cast<Bytef*>(data + at);
        zs.avail_in = static_cast<uInt>(std::min<size_t>(size - at, 1u << 30));
        continue;
      }
      if (ret != Z_OK && ret != Z_STREAM_END) {
        std::string msg = zs.msg ? zs.msg : "";
        inflateEnd(&zs);
        if (ret == Z_BUF_ERROR)
          MINIDL_FAIL(name, ": gzip data truncated at compressed byte offset ", at, " of ", size,
                      " (", out.size(), " bytes decompressed)");
        MINIDL_FAIL(name, ": gzip data corrupt near compressed byte offset ", at, ": ",
                    msg.empty() ? "zlib error " + std::to_string(ret) : msg);
      }
    }
    consumed += zs.total_in;
    inflateEnd(&zs);
    // Trailing zero padding after the last member (some tools write it) ends the stream.
    size_t rest = consumed;
    while (rest < size && data[rest] == 0) ++rest;
    if (rest == size) break;
  }
  return out;
}

std::vector<uint8_t> gzip(const uint8_t* data, size_t size) {
  z_stream zs{};
  MINIDL_CHECK(deflateInit2(&zs, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) == Z_OK,
               "gzip: zlib deflateInit2 failed");
  std::vector<uint8_t> out(deflateBound(&zs, static_cast<uLong>(size)) + 64);
  zs.next_in = const_cast<Bytef*>(data);
  zs.avail_in = static_cast<uInt>(size);
  zs.next_out = out.data();
  zs.avail_out = static_cast<uInt>(out.size());
  int ret = deflate(&zs, Z_FINISH);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  MINIDL_CHECK(ret == Z_STREAM_END, "gzip: deflate failed (", ret, ") on ", size, " bytes");
  return out;
}

}  // namespace minidl
