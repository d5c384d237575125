// gzip for the dataset files (zlib): IDX files come as .gz. Every error names the file; gzip errors
// also give the compressed byte offset where decoding stopped. Whole-file reads and atomic writes
// themselves are core/file_io.h.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/file_io.h"

namespace minidl {

// read_file, then gunzip when the name ends in ".gz".
std::vector<uint8_t> read_file_maybe_gz(const std::string& path);

// Decompresses a gzip stream (one or more members, as `cat a.gz b.gz` makes) held in
// [data, data + size); `name` is used in messages. Never reads past the buffer.
std::vector<uint8_t> gunzip(const uint8_t* data, size_t size, const std::string& name);

// gzip-compresses a buffer (one member, level 6).
std::vector<uint8_t> gzip(const uint8_t* data, size_t size);

}  // namespace minidl
