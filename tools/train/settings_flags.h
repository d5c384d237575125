// Flags for settings keys (--batch-size for batch_size; --model-option key=value, repeatable, for
// model_options; no flag for the other map settings), a --config file, and the merge:
// defaults <- config file <- flags given on the command line.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "tools/train/cli.h"
#include "tools/train/settings.h"

namespace minidl::cli {

struct SettingsFlags {
  std::string config;                      // --config FILE
  std::map<std::string, std::string> raw;  // setting key -> text given
  std::vector<std::string> model_options;  // --model-option key=value (repeatable)
  std::map<std::string, CLI::Option*> options;
};

// The keys of one settings struct, for a verb's list.
template <typename S>
std::vector<std::string> keys_of(S s) {
  std::vector<std::string> keys;
  for (const Field& f : s.fields()) keys.push_back(f.key);
  return keys;
}

// Adds --config and one flag per key in `keys` (keys of Settings) to `verb`; each flag's help shows
// its default from `defaults`.
std::shared_ptr<SettingsFlags> add_settings_flags(CLI::App* verb,
                                                  const std::vector<std::string>& keys,
                                                  Settings defaults = {});

// defaults <- config <- flags, typed by each key's field; throws UsageError naming the flag or key
// on a bad value. Validation is the verb's (Settings::validate or the structs it uses).
Settings resolve_settings(const SettingsFlags& flags, Settings defaults);

// A key's flag: "--batch-size" for batch_size.
std::string flag_name(const std::string& key);

// The keys of the flags that were given.
std::vector<std::string> given_keys(const SettingsFlags& flags);

}  // namespace minidl::cli
