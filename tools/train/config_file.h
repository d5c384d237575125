// Config files: YAML (.yaml/.yml, or any other name) or JSON (.json), read into one JSON object,
// the form every settings reader takes (tools/train/settings.h, optim/schedule_config.h). The only
// YAML reader of minidl: a YAML scalar becomes an integer, a number or true/false when it reads as
// one in full (core/text.h), else a string; a quoted scalar stays a string.
//
// A config is a few dozen settings, so the readers refuse what no config needs and what would let
// a few bytes cost minutes or gigabytes (STYLE.md 10): a file over kMaxConfigBytes, nesting deeper
// than kMaxJsonDepth (core/json_input.h), more than kMaxConfigValues values once YAML aliases are
// expanded (each use of an alias counts again: a 300-byte "billion laughs" file is an error, not
// 8 GB), and a key given twice in one map (YAML or JSON), which would otherwise silently win.
#pragma once

#include <nlohmann/json.hpp>

#include <cstddef>
#include <cstdint>
#include <string>

namespace minidl::cli {

constexpr size_t kMaxConfigBytes = 1 << 20;   // 1 MiB
constexpr int64_t kMaxConfigValues = 10'000;  // maps, lists and scalars, aliases expanded

// The file's map of settings; a UsageError names the file and what is wrong (missing, too large,
// malformed, too deep or too many values, a repeated key, not a map). MINIDL_PORTABLE builds read
// JSON only (no yaml-cpp there) and say so for YAML.
nlohmann::json read_config_file(const std::string& path);

// The same from text already in memory; `name` decides the format (".json" or YAML) and is named
// in errors.
nlohmann::json config_from_text(const std::string& text, const std::string& name);

}  // namespace minidl::cli
