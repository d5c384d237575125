#include "tools/train/settings_flags.h"

#include "core/text.h"
#include "tools/train/experiment.h"

namespace minidl::cli {

static std::string flag_name(const std::string& key) {
  std::string f = key;
  for (char& c : f)
    if (c == '_') c = '-';
  return "--" + f;
}

std::shared_ptr<SettingsFlags> add_settings_flags(CLI::App* verb,
                                                  const std::vector<std::string>& keys) {
  auto flags = std::make_shared<SettingsFlags>();
  nlohmann::json defaults = default_settings();
  verb->add_option("--config,-c", flags->config,
                   "YAML or JSON file of settings (flags override it)");
  for (const std::string& key : keys) {
    if (key == "model_options") {
      verb->add_option("--model-option", flags->model_options,
                       "Model option key=value (repeatable)");
      continue;
    }
    std::string def =
        defaults[key].is_string() ? defaults[key].get<std::string>() : defaults[key].dump();
    flags->options[key] = verb->add_option(flag_name(key), flags->raw[key], "default: " + def);
  }
  return flags;
}

std::vector<std::string> given_keys(const SettingsFlags& flags) {
  std::vector<std::string> keys;
  for (auto& [key, opt] : flags.options)
    if (opt->count() > 0) keys.push_back(key);
  if (!flags.model_options.empty()) keys.push_back("model_options");
  return keys;
}

static nlohmann::json typed(const std::string& key, const std::string& text,
                            const nlohmann::json& like) {
  const std::string where = flag_name(key);
  if (like.is_boolean()) {
    bool b = false;
    if (parse_bool(text, b)) return b;
    throw UsageError(where + ": expected true or false, got '" + text + "'");
  }
  if (like.is_number_integer()) {
    int64_t v = 0;
    if (!parse_int(text, v)) throw UsageError(where + ": expected an integer, got '" + text + "'");
    return v;
  }
  if (like.is_number()) {
    double v = 0;
    if (!parse_number(text, v)) throw UsageError(where + ": expected a number, got '" + text + "'");
    return v;
  }
  return text;
}

nlohmann::json resolve_settings(const SettingsFlags& flags, nlohmann::json defaults) {
  nlohmann::json s = defaults;
  if (!flags.config.empty()) s = merge_settings(s, read_config_file(flags.config), flags.config);
  nlohmann::json given = nlohmann::json::object();
  for (auto& [key, opt] : flags.options)
    if (opt->count() > 0) given[key] = typed(key, flags.raw.at(key), defaults[key]);
  if (!flags.model_options.empty()) {
    nlohmann::json mo = s["model_options"];
    for (const std::string& kv : flags.model_options) {
      size_t eq = kv.find('=');
      if (eq == std::string::npos || eq == 0)
        throw UsageError("--model-option: expected key=value, got '" + kv + "'");
      mo[kv.substr(0, eq)] = kv.substr(eq + 1);
    }
    given["model_options"] = mo;
  }
  return merge_settings(s, given, "command line");
}

}  // namespace minidl::cli
