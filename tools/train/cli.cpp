#include "tools/train/cli.h"

#include <cstdlib>

namespace minidl::cli {

CLI::Validator positive_integer() {
  return CLI::Validator(
      [](std::string& s) -> std::string {
        char* end = nullptr;
        long long v = std::strtoll(s.c_str(), &end, 10);
        if (s.empty() || *end != '\0' || v <= 0)
          return "must be a positive integer, got '" + s + "'";
        return "";
      },
      "INT>0");
}

CLI::Validator non_negative_number() {
  return CLI::Validator(
      [](std::string& s) -> std::string {
        char* end = nullptr;
        double v = std::strtod(s.c_str(), &end);
        if (s.empty() || *end != '\0' || !(v >= 0)) return "must be a number >= 0, got '" + s + "'";
        return "";
      },
      "NUM>=0");
}

}  // namespace minidl::cli
