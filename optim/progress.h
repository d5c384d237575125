// The training progress display: a redrawn one-line bar on a terminal, plain log lines otherwise
// (a file, a pipe, CI). Both show the same fields: epoch, step, loss, accuracy, lr, momentum,
// img/s, ETA.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>
#include <utility>
#include <vector>

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

}  // namespace minidl
