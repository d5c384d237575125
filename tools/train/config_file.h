// Config files: YAML (.yaml/.yml, or any other name) or JSON (.json), read into one JSON object,
// the form every settings reader takes (tools/train/settings.h, optim/schedule_config.h). The only
// YAML reader of minidl: a YAML scalar becomes an integer, a number or true/false when it reads as
// one in full (core/text.h), else a string; a quoted scalar stays a string.
#pragma once

#include <nlohmann/json.hpp>

#include <string>

namespace minidl::cli {

// The file's map of settings; a UsageError names the file and what is wrong (missing, malformed,
// not a map). MINIDL_PORTABLE builds read JSON only (no yaml-cpp there) and say so for YAML.
nlohmann::json read_config_file(const std::string& path);

}  // namespace minidl::cli
