// The run directory of `minidl_train train` (docs/cli.md): which settings a run takes, and how a
// new run never mixes with an old one.
#pragma once

#include <string>

#include "tools/train/settings_flags.h"

namespace minidl::cli {

// The flags' settings (over a config file, over the defaults); with --resume, the run's own
// config.json, where only --threads and --workers may change. A UsageError names what is wrong.
Settings train_settings(const SettingsFlags& flags, const std::string& resume);

// True when `dir` holds a run (metrics.csv or checkpoints/).
bool holds_run(const std::string& dir);

// --force: moves the run in `dir` aside to "<dir>.replaced-<YYYYmmdd-HHMMSS>" (a new name, never
// an existing one) and returns that name, so the new run starts in an empty directory and nothing
// of the old one is lost or mixed in (its checkpoints would otherwise be pruned or resumed as the
// new run's).
std::string move_run_aside(const std::string& dir);

}  // namespace minidl::cli
