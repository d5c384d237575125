#include "tools/train/run_dir.h"

#include <algorithm>
#include <ctime>
#include <filesystem>

#include "optim/checkpoint.h"
#include "tools/train/config_file.h"

namespace minidl::cli {

namespace fs = std::filesystem;

Settings train_settings(const SettingsFlags& flags, const std::string& resume) {
  if (resume.empty()) return resolve_settings(flags, Settings());
  std::string cfg = resume + "/config.json";
  if (!fs::exists(cfg))
    throw UsageError("--resume " + resume + ": no config.json there (not a run directory)");
  std::vector<std::string> given = given_keys(flags);
  if (!flags.config.empty()) given.push_back("config");
  const std::vector<std::string>& changeable = resume_changeable_keys();
  for (const std::string& k : given)
    if (k == "out" || std::find(changeable.begin(), changeable.end(), k) == changeable.end()) {
      std::string flags;
      for (const std::string& c : changeable)
        if (c != "out") flags += (flags.empty() ? "" : ", ") + flag_name(c);
      throw UsageError("--resume takes the run's own settings; " + flag_name(k) +
                       " cannot be changed (only " + flags + ")");
    }
  Settings s;
  s.merge(read_config_file(cfg), cfg);
  s = resolve_settings(flags, s);
  s.run.out = resume;
  if (latest_checkpoint(resume).empty())
    throw UsageError("--resume " + resume + ": no checkpoint in " + resume + "/checkpoints");
  return s;
}

bool holds_run(const std::string& dir) {
  return fs::exists(dir + "/metrics.csv") || fs::exists(dir + "/checkpoints");
}

std::string move_run_aside(const std::string& dir) {
  std::string base = fs::path(dir).lexically_normal().string();
  while (base.size() > 1 && base.back() == '/') base.pop_back();
  char stamp[32];
  std::time_t now = std::time(nullptr);
  std::strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", std::localtime(&now));
  std::string target = base + ".replaced-" + stamp;
  for (int n = 2; fs::exists(target); ++n)
    target = base + ".replaced-" + stamp + "-" + std::to_string(n);
  std::error_code ec;
  fs::rename(base, target, ec);
  MINIDL_CHECK(!ec, "--force: cannot move the run in '", dir, "' aside to '", target,
               "': ", ec.message());
  return target;
}

}  // namespace minidl::cli
