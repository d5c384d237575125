// `minidl_train schedule`: prints any LR and momentum schedule as CSV (iteration, lr, momentum).
//
//   minidl_train schedule --lr "onecycle-smith:base=0.08,max=0.8,ss=4003" \
//       --momentum "cyclic-momentum-smith:max=0.95,min=0.85,ss=4003" --iterations 9277 --every 100
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>

#include "core/file_io.h"
#include "optim/schedule.h"
#include "tools/train/cli.h"

namespace minidl::cli {

void add_schedule_verb(CLI::App& app, int& exit_code) {
  struct Args {
    std::string lr = "fixed:value=0.01", momentum = "0.9", out;
    int64_t iterations = 1000, every = 1;
  };
  auto args = std::make_shared<Args>();
  CLI::App* verb = app.add_subcommand("schedule", "Print an LR and a momentum schedule as CSV");
  verb->add_option("--lr", args->lr, "LR schedule spec (docs/optim.md)")->capture_default_str();
  verb->add_option("--momentum", args->momentum, "Momentum schedule spec")->capture_default_str();
  verb->add_option("--iterations,-n", args->iterations, "Iterations to print")
      ->check(positive_integer())
      ->capture_default_str();
  verb->add_option("--every", args->every, "Print every N-th iteration (and the last)")
      ->check(positive_integer())
      ->capture_default_str();
  verb->add_option("--out,-o", args->out, "Write the CSV to this file instead of stdout");
  verb->callback([args, &exit_code] {
    auto lr = usage_guard([&] { return parse_schedule(args->lr, ScheduleRole::lr); });
    auto mom = usage_guard([&] { return parse_schedule(args->momentum, ScheduleRole::momentum); });
    std::ostringstream csv;
    write_schedule_csv(csv, *lr, *mom, args->iterations, args->every);
    if (args->out.empty())
      std::cout << csv.str();
    else
      write_file_atomic(args->out, csv.str());
    exit_code = kOk;
  });
}

}  // namespace minidl::cli
