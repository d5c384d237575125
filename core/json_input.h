// JSON that comes from outside (safetensors headers, config files): nlohmann's parser plus two
// checks it lacks (STYLE.md 10).
//  - Nesting deeper than kMaxJsonDepth is an error. nlohmann parses iteratively, but copying and
//    printing a value recurse once per level, so a 100,000-deep "[[[[..." would overflow the stack
//    later, far from the file that caused it.
//  - A key that appears twice in one object is an error naming the key (nlohmann keeps the last one
//    silently, so a config would run with a setting its author did not see).
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <string_view>

namespace minidl {

constexpr int kMaxJsonDepth = 64;  // objects and arrays inside each other; configs use 3 or 4

// Parses all of `text` (nothing but blanks may follow the value); throws minidl::Error naming
// `source` when it is malformed, too deep or repeats a key.
nlohmann::json parse_json_input(std::string_view text, const std::string& source);

}  // namespace minidl
