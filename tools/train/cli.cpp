#include "tools/train/cli.h"

#include <filesystem>

#include "core/text.h"

namespace minidl::cli {

CLI::Validator positive_integer() {
  return CLI::Validator(
      [](std::string& s) -> std::string {
        int64_t v = 0;
        if (!parse_int(s, v) || v <= 0) return "must be a positive integer, got '" + s + "'";
        return "";
      },
      "INT>0");
}

CLI::Validator non_negative_number() {
  return CLI::Validator(
      [](std::string& s) -> std::string {
        double v = 0;
        if (!parse_number(s, v) || !(v >= 0)) return "must be a number >= 0, got '" + s + "'";
        return "";
      },
      "NUM>=0");
}

static std::vector<std::string>& stored_command_line() {
  static std::vector<std::string> argv;
  return argv;
}

void set_command_line(int argc, char** argv) {
  stored_command_line().assign(argv, argv + argc);
}

const std::vector<std::string>& command_line() {
  return stored_command_line();
}

std::string tool_script(const std::string& name) {
  std::error_code ec;
  std::filesystem::path exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    std::filesystem::path installed = exe.parent_path().parent_path() / "share/minidl/tools" / name;
    if (std::filesystem::exists(installed, ec)) return installed.string();
  }
  return std::string(MINIDL_SOURCE_DIR) + "/tools/" + name;
}

}  // namespace minidl::cli
