// minidl_train: one binary, verbs like `caffe train|test|time` (DESIGN.md §7, docs/cli.md).
//
//   minidl_train train --config experiment.yaml --lr "onecycle-smith:base=0.08,max=0.8,ss=4003"
//   minidl_train schedule --lr ... --momentum ... --iterations 9277
//
// Every verb checks the user's input before it writes anything; bad use prints one line and
// exits 2.
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "core/cpu_isa.h"
#include "core/error.h"
#include "core/plugin.h"
#include "core/text.h"
#include "dist/communicator.h"
#include "tools/train/cli.h"
#include "tools/train/distributed.h"

using namespace minidl;

// Library messages end with "[failed condition] (in fn at file:line)", useful for bugs but noise
// for a user's typo. Drops each " (in ... at ...:N)" group (no parentheses inside) and the " [...]"
// right before it, scanning once: no regex on text that may hold user input.
static std::string strip_location(const std::string& message) {
  std::string out;
  size_t pos = 0;
  for (size_t at; (at = message.find(" (in ", pos)) != std::string::npos;) {
    size_t close = message.find_first_of("()", at + 2);
    bool location = close != std::string::npos && message[close] == ')';
    if (location) {
      std::string inner = message.substr(at + 5, close - at - 5);
      size_t colon = inner.rfind(':');
      location = inner.find(" at ") != std::string::npos && colon != std::string::npos &&
                 colon + 1 < inner.size() &&
                 inner.find_first_not_of("0123456789", colon + 1) == std::string::npos;
    }
    std::string before = message.substr(pos, at - pos);
    if (location && !before.empty() && before.back() == ']') {
      size_t open = before.rfind(" [");
      if (open != std::string::npos) before.erase(open);
    }
    out += before;
    if (!location) out += " (in ";
    pos = location ? close + 1 : at + 5;
  }
  return out + message.substr(pos);
}

// Plugins (core/plugin.h): MINIDL_PLUGINS (paths joined by ':'), then every `--plugin PATH` or
// `--plugin=PATH` anywhere on the line, which are taken out of argv. They load before the verbs are
// built, so that --help and the model checks see what they add. Their absolute paths go back into
// MINIDL_PLUGINS, so the runs that a sweep, a tune or `train --nproc` starts load them too.
static bool load_plugins(int& argc, char** argv) {
  std::vector<std::string> paths;
  if (const char* env = std::getenv("MINIDL_PLUGINS"))
    for (const std::string& p : split(env, ':'))
      if (!p.empty()) paths.push_back(p);
  int kept = 1;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--plugin" && i + 1 < argc) {
      paths.push_back(argv[++i]);
    } else if (a == "--plugin" || a == "--plugin=") {
      std::fprintf(stderr, "minidl_train: --plugin needs the path of a shared library\n");
      return false;
    } else if (a.rfind("--plugin=", 0) == 0) {
      paths.push_back(a.substr(9));
    } else {
      argv[kept++] = argv[i];
    }
  }
  argc = kept;
  argv[argc] = nullptr;
  std::string all;
  for (const std::string& p : paths) {
    try {
      load_plugin(p);
    } catch (const Error& e) {
      std::fprintf(stderr, "minidl_train: %s\n", strip_location(e.what()).c_str());
      return false;
    }
    char* real = realpath(p.c_str(), nullptr);
    all += (all.empty() ? "" : ":") + std::string(real ? real : p.c_str());
    std::free(real);
  }
  if (!paths.empty()) setenv("MINIDL_PLUGINS", all.c_str(), 1);
  return true;
}

int main(int argc, char** argv) {
  if (!load_plugins(argc, argv)) return cli::kUsage;
  CLI::App app{
      "minidl_train: train, evaluate and run the experiments of Smith's disciplined approach"};
  app.require_subcommand(1);
  app.set_help_all_flag("--help-all", "Help for every verb");
  app.footer(
      "Plugins: --plugin PATH (before or after the verb, repeatable) or MINIDL_PLUGINS=a.so:b.so "
      "loads shared libraries that add models, layers, kernels or schedules (docs/plugins.md).");
  int exit_code = cli::kOk;
  cli::set_command_line(argc, argv);
  cli::add_train_verb(app, exit_code);
  cli::add_range_test_verb(app, exit_code);
  cli::add_tune_verb(app, exit_code);
  cli::add_eval_verb(app, exit_code);
  cli::add_predict_verb(app, exit_code);
  cli::add_schedule_verb(app, exit_code);
  cli::add_bench_verb(app, exit_code);
  cli::add_sweep_verb(app, exit_code);
  if (argc > 1 && argv[1][0] != '-') {  // a mistyped verb: name it and list the known ones
    std::string verb = argv[1], known;
    bool found = false;
    for (const CLI::App* sub : app.get_subcommands({})) {
      found |= sub->get_name() == verb;
      known += (known.empty() ? "" : ", ") + sub->get_name();
    }
    if (!found) {
      std::fprintf(stderr, "minidl_train: unknown verb '%s'; known: %s\n", verb.c_str(),
                   known.c_str());
      return cli::kUsage;
    }
  }
  try {
    cpu_isa();  // the kernels' instruction set, chosen now: a bad MINIDL_CPU_ISA is bad use
  } catch (const Error& e) {
    std::fprintf(stderr, "minidl_train: %s\n", strip_location(e.what()).c_str());
    return cli::kUsage;
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "minidl_train: %s (see --help)\n", e.what());
    return cli::kUsage;
  } catch (const cli::UsageError& e) {
    std::fprintf(stderr, "minidl_train: %s%s\n", cli::rank_prefix().c_str(),
                 strip_location(e.what()).c_str());
    abort_mpi_ranks(cli::kUsage);  // a data-parallel run's other ranks would wait for this one
    return cli::kUsage;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "minidl_train: %serror: %s\n", cli::rank_prefix().c_str(), e.what());
    abort_mpi_ranks(cli::kRuntimeError);
    return cli::kRuntimeError;
  }
  return exit_code;
}
