#include "tools/train/config_file.h"

#include <filesystem>

#include "core/file_io.h"
#include "core/json_input.h"
#include "core/text.h"
#include "tools/train/cli.h"

#if MINIDL_WITH_YAML
#include <yaml-cpp/yaml.h>
#endif

namespace minidl::cli {

namespace {

void check_size(uintmax_t bytes, const std::string& name) {
  if (bytes > kMaxConfigBytes)
    throw UsageError(name + ": " + std::to_string(bytes) + " bytes; a config file may hold " +
                     std::to_string(kMaxConfigBytes) + " at most");
}

#if MINIDL_WITH_YAML
// YAML nodes -> JSON with the limits of config_file.h. yaml-cpp resolves an alias to the anchored
// node itself, so its graph stays small while the tree it stands for can be exponential (or, for an
// alias inside its own anchor, infinite): the count and the depth are taken on the expanded tree.
class YamlToJson {
 public:
  explicit YamlToJson(const std::string& name) : name_(name) {}

  nlohmann::json convert(const YAML::Node& n, int depth) {
    if (++values_ > kMaxConfigValues)
      fail(n, "more than " + std::to_string(kMaxConfigValues) +
                  " values once aliases are expanded (each use of an alias counts)");
    if (depth > kMaxJsonDepth)
      fail(n, "nested more than " + std::to_string(kMaxJsonDepth) + " levels deep");
    switch (n.Type()) {
      case YAML::NodeType::Map: {
        nlohmann::json j = nlohmann::json::object();
        for (auto it = n.begin(); it != n.end(); ++it) {
          if (!it->first.IsScalar()) fail(it->first, "a map key must be a plain scalar");
          const std::string& key = utf8(it->first);
          if (j.contains(key))
            fail(it->first, "key '" + key.substr(0, 80) + "' appears twice in one map");
          j[key] = convert(it->second, depth + 1);
        }
        return j;
      }
      case YAML::NodeType::Sequence: {
        nlohmann::json j = nlohmann::json::array();
        for (const auto& e : n) j.push_back(convert(e, depth + 1));
        return j;
      }
      case YAML::NodeType::Scalar:
        return scalar(n);
      default:
        return nullptr;
    }
  }

 private:
  const std::string& name_;
  int64_t values_ = 0;

  [[noreturn]] void fail(const YAML::Node& at, const std::string& what) const {
    throw UsageError(name_ + ":" + std::to_string(at.Mark().line + 1) + ": " + what);
  }

  // A scalar's text; JSON strings must be UTF-8 (settings print them in messages), YAML's as well.
  const std::string& utf8(const YAML::Node& n) const {
    if (!is_utf8(n.Scalar())) fail(n, "text that is not UTF-8 (a config must be UTF-8)");
    return n.Scalar();
  }

  nlohmann::json scalar(const YAML::Node& n) const {
    const std::string& s = utf8(n);
    if (n.Tag() == "!") return s;  // quoted: a string
    if (s == "true" || s == "false") return s == "true";
    int64_t i = 0;
    double d = 0;
    if (parse_int(s, i)) return i;
    if (parse_number(s, d)) return d;
    return s;
  }
};
#endif

}  // namespace

nlohmann::json config_from_text(const std::string& text, const std::string& name) {
  check_size(text.size(), name);
  nlohmann::json j;
  if (ends_with(name, ".json")) {
    j = usage_guard([&] { return parse_json_input(text, name); });
  } else {
#if MINIDL_WITH_YAML
    try {
      j = YamlToJson(name).convert(YAML::Load(text), 0);
    } catch (const YAML::Exception& e) {
      throw UsageError(name + ": malformed YAML: " + e.what());
    }
#else
    throw UsageError(
        name + ": this build has no YAML reader (MINIDL_PORTABLE); write the config as .json");
#endif
  }
  if (!j.is_object()) throw UsageError(name + ": a config must be a map of settings");
  return j;
}

nlohmann::json read_config_file(const std::string& path) {
  std::error_code ec;  // refuse a huge file before reading it (a fifo has no size: read it)
  uintmax_t size = std::filesystem::file_size(path, ec);
  if (!ec) check_size(size, path);
  std::vector<uint8_t> bytes = usage_guard([&] { return read_file(path); });
  return config_from_text(std::string(bytes.begin(), bytes.end()), path);
}

}  // namespace minidl::cli
