// Shared pieces of minidl_train's verbs: exit codes, the usage-error type, and how each verb
// registers itself (one function per verb, listed in main.cpp).
#pragma once

#include <CLI/CLI.hpp>

#include <stdexcept>
#include <string>
#include <vector>

namespace minidl::cli {

// Exit codes, documented in docs/cli.md.
enum ExitCode : int {
  kOk = 0,
  kRuntimeError = 1,  // something failed while running (I/O, a CUDA error, ...)
  kUsage = 2,         // bad use: unknown name, malformed value, missing file; nothing was written
  kDiverged = 3,      // training stopped on a non-finite or exploding loss
  kInterrupted = 130  // SIGINT: stopped cleanly after writing a checkpoint
};

// Bad use found while preparing a verb: main prints one line and exits 2. Verbs resolve everything
// that can be wrong with the user's input (names, numbers, files) before writing anything, and turn
// minidl::Error raised there into UsageError with `usage_guard`.
struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Runs `fn`; a minidl::Error it throws becomes a UsageError carrying the same message.
template <typename Fn>
decltype(auto) usage_guard(Fn&& fn);

// CLI11 validators with short messages ("must be a positive integer, got 'abc'").
CLI::Validator positive_integer();
CLI::Validator non_negative_number();

// The process's command line as main() got it (set there first): the launcher (train --nproc)
// runs it again on every rank.
void set_command_line(int argc, char** argv);
const std::vector<std::string>& command_line();

// The path of a script of tools/ that minidl_train calls (plot_range_test.py): beside an installed
// binary, <prefix>/share/minidl/tools/<name>; else the source tree it was built from.
std::string tool_script(const std::string& name);

// A verb adds its subcommand and sets the callback that runs it; the callback returns the exit
// code.
using VerbResult = int;

void add_schedule_verb(CLI::App& app, int& exit_code);
void add_train_verb(CLI::App& app, int& exit_code);
void add_range_test_verb(CLI::App& app, int& exit_code);
void add_tune_verb(CLI::App& app, int& exit_code);
void add_eval_verb(CLI::App& app, int& exit_code);
void add_predict_verb(CLI::App& app, int& exit_code);
void add_bench_verb(CLI::App& app, int& exit_code);
void add_sweep_verb(CLI::App& app, int& exit_code);

}  // namespace minidl::cli

#include "core/error.h"

template <typename Fn>
decltype(auto) minidl::cli::usage_guard(Fn&& fn) {
  try {
    return fn();
  } catch (const minidl::Error& e) {
    throw UsageError(e.what());
  }
}
