// The training progress display: a redrawn one-line bar on a terminal, plain log lines otherwise
// (a file, a pipe, CI). Both show the same fields: epoch, step, loss, accuracy, lr, momentum,
// img/s, ETA. ProgressObserver draws them from the Solver's record stream (optim/observer.h).
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "optim/observer.h"

namespace minidl {

using ProgressFields = std::vector<std::pair<std::string, std::string>>;  // ("loss", "0.4123"), ...

class ProgressBar {
 public:
  // interactive: redraw one line with '\r' (use is_terminal(out)); else print a line every
  // `log_every` steps and at the end. `total` steps make up the bar (an epoch).
  ProgressBar(std::FILE* out, bool interactive, int64_t total, std::string label,
              int64_t log_every = 50);
  void update(int64_t step, const ProgressFields& fields);  // step in [1, total]
  void finish(const ProgressFields& fields);                // the final line, always printed

  static bool is_terminal(std::FILE* f);
  static std::string format_duration(double seconds);  // "1:02:03", "4:05"

 private:
  void draw(int64_t step, const ProgressFields& fields, bool final_line);
  std::FILE* out_;
  bool interactive_;
  int64_t total_;
  std::string label_;
  int64_t log_every_;
  int64_t last_step_ = 0;
  std::chrono::steady_clock::time_point start_, last_draw_;
};

// One bar per epoch on each output: `terminal` (a redrawn bar when it is a terminal, else plain
// lines; null: none) and `log` (plain lines, e.g. RUN/log.txt; null: none). The loss and accuracy
// are means since the epoch began, img/s counts training time only; an epoch's last line adds the
// test loss and accuracy when it was evaluated. A skipped step is reported on stderr and in the
// log.
class ProgressObserver : public TrainObserver {
 public:
  ProgressObserver(std::FILE* terminal, std::FILE* log, int64_t log_every);
  void on_iteration(const IterationRecord& r) override;
  void on_end(SolverStatus status, const std::string& message) override;
  std::string name() const override { return "progress"; }
  nlohmann::json state() const override;
  void restore(const nlohmann::json& state) override;

 private:
  struct Output {
    std::FILE* file;
    bool interactive;
    std::unique_ptr<ProgressBar> bar;  // the current epoch's, while it runs
  };
  void finish(const ProgressFields& fields);

  std::vector<Output> outputs_;
  std::FILE* log_;
  int64_t log_every_;
  TrainTotals seen_;        // the totals of the last record seen
  TrainTotals epoch_mark_;  // the totals when the current epoch's bar opened
  ProgressFields last_fields_;
};

}  // namespace minidl
