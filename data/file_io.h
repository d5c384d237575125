// Whole-file reads and writes for the dataset loaders, with gzip on either side (zlib). Every
// error names the file; gzip errors also give the compressed byte offset where decoding stopped.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "core/file_io.h"

namespace minidl {

// read_file(path) (the bytes of a file; throws when it is missing, not a regular file, or
// unreadable) lives in core/file_io.h, shared with the safetensors and checkpoint code.

// read_file, then gunzip when the name ends in ".gz".
std::vector<uint8_t> read_file_maybe_gz(const std::string& path);

// Decompresses a gzip stream (one or more members, as `cat a.gz b.gz` makes) held in
// [data, data + size); `name` is used in messages. Never reads past the buffer.
std::vector<uint8_t> gunzip(const uint8_t* data, size_t size, const std::string& name);

// gzip-compresses a buffer (one member, level 6).
std::vector<uint8_t> gzip(const uint8_t* data, size_t size);

// Writes bytes to `path` (gzip-compressed when `compress`), through a temporary file in the same
// folder renamed over the target, so a reader never sees half a file.
void write_file(const std::string& path, const std::vector<uint8_t>& bytes, bool compress = false);

// True when `name` ends with `suffix`.
bool ends_with(const std::string& name, const std::string& suffix);

}  // namespace minidl
