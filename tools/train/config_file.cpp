#include "tools/train/config_file.h"

#include "core/file_io.h"
#include "core/text.h"
#include "tools/train/cli.h"

#if MINIDL_WITH_YAML
#include <yaml-cpp/yaml.h>
#endif

namespace minidl::cli {

namespace {

#if MINIDL_WITH_YAML
nlohmann::json yaml_to_json(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Map: {
      nlohmann::json j = nlohmann::json::object();
      for (auto it = n.begin(); it != n.end(); ++it)
        j[it->first.as<std::string>()] = yaml_to_json(it->second);
      return j;
    }
    case YAML::NodeType::Sequence: {
      nlohmann::json j = nlohmann::json::array();
      for (const auto& e : n) j.push_back(yaml_to_json(e));
      return j;
    }
    case YAML::NodeType::Scalar: {
      const std::string& s = n.Scalar();
      if (n.Tag() == "!") return s;  // quoted: a string
      if (s == "true" || s == "false") return s == "true";
      int64_t i = 0;
      double d = 0;
      if (parse_int(s, i)) return i;
      if (parse_number(s, d)) return d;
      return s;
    }
    default:
      return nullptr;
  }
}
#endif

}  // namespace

nlohmann::json read_config_file(const std::string& path) {
  std::vector<uint8_t> bytes = usage_guard([&] { return read_file(path); });
  std::string text(bytes.begin(), bytes.end());
  nlohmann::json j;
  if (ends_with(path, ".json")) {
    try {
      j = nlohmann::json::parse(text);
    } catch (const nlohmann::json::exception& e) {
      throw UsageError(path + ": malformed JSON: " + e.what());
    }
  } else {
#if MINIDL_WITH_YAML
    try {
      j = yaml_to_json(YAML::Load(text));
    } catch (const YAML::Exception& e) {
      throw UsageError(path + ": malformed YAML: " + e.what());
    }
#else
    throw UsageError(
        path + ": this build has no YAML reader (MINIDL_PORTABLE); write the config as .json");
#endif
  }
  if (!j.is_object()) throw UsageError(path + ": a config must be a map of settings");
  return j;
}

}  // namespace minidl::cli
