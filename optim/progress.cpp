#include "optim/progress.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>

namespace minidl {

ProgressBar::ProgressBar(std::FILE* out, bool interactive, int64_t total, std::string label,
                         int64_t log_every)
    : out_(out),
      interactive_(interactive),
      total_(std::max<int64_t>(total, 1)),
      label_(std::move(label)),
      log_every_(std::max<int64_t>(log_every, 1)),
      start_(std::chrono::steady_clock::now()),
      last_draw_() {}

bool ProgressBar::is_terminal(std::FILE* f) {
  return f && ::isatty(::fileno(f));
}

std::string ProgressBar::format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  int64_t s = static_cast<int64_t>(seconds + 0.5);
  char buf[32];
  if (s >= 3600)
    std::snprintf(buf, sizeof buf, "%lld:%02lld:%02lld", static_cast<long long>(s / 3600),
                  static_cast<long long>(s / 60 % 60), static_cast<long long>(s % 60));
  else
    std::snprintf(buf, sizeof buf, "%lld:%02lld", static_cast<long long>(s / 60),
                  static_cast<long long>(s % 60));
  return buf;
}

void ProgressBar::update(int64_t step, const ProgressFields& fields) {
  auto now = std::chrono::steady_clock::now();
  if (interactive_) {
    // Redraw at most 10 times a second: drawing is not free and a terminal cannot show more.
    if (step < total_ && now - last_draw_ < std::chrono::milliseconds(100)) return;
    last_draw_ = now;
    draw(step, fields, false);
  } else if (step % log_every_ == 0 && step < total_) {
    draw(step, fields, false);
  }
  last_step_ = step;
}

void ProgressBar::finish(const ProgressFields& fields) {
  draw(std::max(last_step_, total_), fields, true);
}

void ProgressBar::draw(int64_t step, const ProgressFields& fields, bool final_line) {
  double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  double eta = step > 0 ? elapsed / step * (total_ - std::min(step, total_)) : NAN;
  std::string line = label_;
  if (interactive_) {
    const int width = 24;
    int filled = static_cast<int>(width * std::min(step, total_) / total_);
    line += " [" + std::string(filled, '#') + std::string(width - filled, '.') + "]";
  }
  line += " " + std::to_string(std::min(step, total_)) + "/" + std::to_string(total_);
  for (auto& [name, value] : fields) line += "  " + name + " " + value;
  line += final_line ? "  time " + format_duration(elapsed) : "  ETA " + format_duration(eta);
  if (interactive_) {
    std::fprintf(out_, "\r%s\033[K%s", line.c_str(), final_line ? "\n" : "");
  } else {
    std::fprintf(out_, "%s\n", line.c_str());
  }
  std::fflush(out_);
}

}  // namespace minidl
