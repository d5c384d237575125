// Flags for every setting of default_settings() (--batch-size for batch_size, ...), a --config
// file, and the merge: defaults <- config file <- flags given on the command line.
#pragma once

#include <nlohmann/json.hpp>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "tools/train/cli.h"

namespace minidl::cli {

struct SettingsFlags {
  std::string config;                      // --config FILE
  std::map<std::string, std::string> raw;  // setting key -> text given
  std::vector<std::string> model_options;  // --model-option key=value (repeatable)
  std::map<std::string, CLI::Option*> options;
};

// Adds --config, --model-option and one flag per setting key in `keys` to `verb`.
std::shared_ptr<SettingsFlags> add_settings_flags(CLI::App* verb,
                                                  const std::vector<std::string>& keys);

// defaults <- config <- flags, typed; throws UsageError naming the flag or key on a bad value.
nlohmann::json resolve_settings(const SettingsFlags& flags, nlohmann::json defaults);

// The keys of the flags that were given.
std::vector<std::string> given_keys(const SettingsFlags& flags);

}  // namespace minidl::cli
