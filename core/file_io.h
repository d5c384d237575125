// Whole-file reads and atomic writes. Every error names the path.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace minidl {

// Reads a whole file; a missing or unreadable file is an error naming it.
std::vector<uint8_t> read_file(const std::string& path);

// Writes `size` bytes so that `path` holds either its old content or all of the new one, never a
// part: write a temporary file beside it, fsync it, rename it over `path`, fsync the folder.
void write_file_atomic(const std::string& path, const void* data, size_t size);
inline void write_file_atomic(const std::string& path, const std::string& text) {
  write_file_atomic(path, text.data(), text.size());
}
inline void write_file_atomic(const std::string& path, const std::vector<uint8_t>& bytes) {
  write_file_atomic(path, bytes.data(), bytes.size());
}

}  // namespace minidl
