#include "tools/train/settings_flags.h"

#include "core/text.h"
#include "tools/train/config_file.h"

namespace minidl::cli {

std::string flag_name(const std::string& key) {
  std::string f = key;
  for (char& c : f)
    if (c == '_') c = '-';
  return "--" + f;
}

namespace {

const Field& find_field(std::vector<Field>& fields, const std::string& key) {
  for (const Field& f : fields)
    if (key == f.key) return f;
  throw std::logic_error("settings flags: no setting '" + key + "'");  // a verb's key list is wrong
}

// The text of a flag as the JSON value of its field's type.
nlohmann::json typed(const Field& field, const std::string& text) {
  const std::string where = flag_name(field.key);
  return std::visit(
      [&](auto* member) -> nlohmann::json {
        using T = std::remove_pointer_t<decltype(member)>;
        if constexpr (std::is_same_v<T, bool>) {
          bool b = true;  // a bare --flag
          if (!text.empty() && !parse_bool(text, b))
            throw UsageError(where + ": expected true or false, got '" + text + "'");
          return b;
        } else if constexpr (std::is_same_v<T, int64_t>) {
          int64_t v = 0;
          if (!parse_int(text, v))
            throw UsageError(where + ": expected an integer, got '" + text + "'");
          return v;
        } else if constexpr (std::is_same_v<T, double>) {
          double v = 0;
          if (!parse_number(text, v))
            throw UsageError(where + ": expected a number, got '" + text + "'");
          return v;
        } else {
          return text;  // a string, or a schedule spec
        }
      },
      field.member);
}

}  // namespace

std::shared_ptr<SettingsFlags> add_settings_flags(CLI::App* verb,
                                                  const std::vector<std::string>& keys,
                                                  Settings defaults) {
  auto flags = std::make_shared<SettingsFlags>();
  std::vector<Field> fields = defaults.fields();
  verb->add_option("--config,-c", flags->config,
                   "YAML or JSON file of settings (flags override it)");
  for (const std::string& key : keys) {
    const Field& f = find_field(fields, key);
    if (key == "model_options") {
      verb->add_option("--model-option", flags->model_options,
                       "Model option key=value (repeatable)");
      continue;
    }
    if (std::holds_alternative<nlohmann::json*>(f.member) && !f.schedule) continue;  // a map
    nlohmann::json def = std::visit([](auto* m) { return nlohmann::json(*m); }, f.member);
    std::string shown = def.is_string() ? def.get<std::string>() : def.dump();
    flags->options[key] = verb->add_option(flag_name(key), flags->raw[key],
                                           std::string(f.help) + " (default: " + shown + ")");
    // --nesterov alone means true, as a switch would; --nesterov false still works
    if (std::holds_alternative<bool*>(f.member)) flags->options[key]->expected(0, 1);
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

Settings resolve_settings(const SettingsFlags& flags, Settings defaults) {
  Settings s = std::move(defaults);
  if (!flags.config.empty()) s.merge(read_config_file(flags.config), flags.config);
  std::vector<Field> fields = s.fields();
  nlohmann::json given = nlohmann::json::object();
  for (auto& [key, opt] : flags.options)
    if (opt->count() > 0) given[key] = typed(find_field(fields, key), flags.raw.at(key));
  if (!flags.model_options.empty()) {
    nlohmann::json options = s.model.model_options;
    for (const std::string& kv : flags.model_options) {
      size_t eq = kv.find('=');
      if (eq == std::string::npos || eq == 0)
        throw UsageError("--model-option: expected key=value, got '" + kv + "'");
      options[kv.substr(0, eq)] = kv.substr(eq + 1);
    }
    given["model_options"] = options;
  }
  s.merge(given, "command line");
  return s;
}

}  // namespace minidl::cli
