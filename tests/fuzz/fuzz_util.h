// What every fuzz target shares. A target hands the fuzzer's bytes to one parser of outside input
// the way minidl's own callers do. An error the parser reports (minidl::Error, or the CLI's
// UsageError) is the right answer to bad input; anything else -- a sanitizer report, a signal, any
// other exception escaping (std::bad_alloc from an unchecked size, a JSON library exception) -- is
// a crash that libFuzzer records.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "core/error.h"

namespace minidl::fuzz {

// Runs `parse`; returns 0 (libFuzzer's "keep going") when it succeeds or reports an error.
template <typename Fn>
int expect_ok_or_error(Fn&& parse) {
  try {
    parse();
  } catch (const minidl::Error&) {
  }
  return 0;
}

inline std::string as_text(const uint8_t* data, size_t size) {
  return std::string(reinterpret_cast<const char*>(data), size);
}

}  // namespace minidl::fuzz
