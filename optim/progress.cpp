#include "optim/progress.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>

#include "core/error.h"

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

// ---- ProgressObserver ----

namespace {

std::string fmt(const char* f, double v) {
  char buf[48];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

}  // namespace

ProgressObserver::ProgressObserver(std::FILE* terminal, std::FILE* log, int64_t log_every)
    : log_(log), log_every_(log_every) {
  if (terminal) outputs_.push_back({terminal, ProgressBar::is_terminal(terminal), nullptr});
  if (log) outputs_.push_back({log, false, nullptr});
}

void ProgressObserver::on_iteration(const IterationRecord& r) {
  const int64_t epoch = r.epoch(), first = epoch * r.iters_per_epoch;
  if (!outputs_.empty() && !outputs_[0].bar) {
    const int64_t epochs = (r.max_iter + r.iters_per_epoch - 1) / r.iters_per_epoch;
    const int64_t in_epoch = std::min(r.iters_per_epoch, r.max_iter - first);
    const std::string label = "epoch " + std::to_string(epoch + 1) + "/" + std::to_string(epochs);
    for (Output& o : outputs_)
      o.bar = std::make_unique<ProgressBar>(o.file, o.interactive, in_epoch, label, log_every_);
    // The epoch's first iteration: its mark is the totals before it. A bar opened mid-epoch (the
    // first after a resume) keeps the mark restored from the checkpoint.
    if (r.iteration - 1 == first) epoch_mark_ = seen_;
  }
  seen_ = r.totals;
  if (!r.step_applied)
    for (std::FILE* f : {stderr, log_})
      if (f)
        std::fprintf(f, "iteration %lld: non-finite gradient, step skipped (%lld so far)%s\n",
                     static_cast<long long>(r.iteration),
                     static_cast<long long>(r.state->skipped_steps),
                     r.state->loss_scale.enabled
                         ? fmt("; loss scale now %g", r.state->loss_scale.scale).c_str()
                         : "");
  if (outputs_.empty()) return;
  TrainTotals so_far = r.totals.since(epoch_mark_);
  ProgressFields f;
  f.emplace_back("loss", fmt("%.4f", so_far.mean_loss()));
  f.emplace_back("acc", fmt("%.2f%%", 100.0 * so_far.accuracy()));
  f.emplace_back("lr", fmt("%.4g", r.lr));
  f.emplace_back("mom", fmt("%.3f", r.momentum));
  f.emplace_back("img/s", fmt("%.0f", so_far.images_per_second()));
  last_fields_ = f;
  for (Output& o : outputs_) o.bar->update(r.iteration - first, f);
  if (r.epoch_end()) {
    if (r.eval) {
      f.emplace_back("test_loss", fmt("%.4f", r.eval->loss));
      f.emplace_back("test_acc", fmt("%.2f%%", 100 * r.eval->top1));
    }
    finish(f);
  }
}

nlohmann::json ProgressObserver::state() const {
  return {{"epoch_mark", epoch_mark_.to_json()}, {"seen", seen_.to_json()}};
}

void ProgressObserver::restore(const nlohmann::json& state) {
  MINIDL_CHECK(state.is_object() && state.contains("epoch_mark") && state.contains("seen"),
               "progress observer: the saved state needs 'epoch_mark' and 'seen'");
  epoch_mark_ = TrainTotals::from_json(state.at("epoch_mark"));
  seen_ = TrainTotals::from_json(state.at("seen"));
}

void ProgressObserver::on_end(SolverStatus, const std::string&) {
  finish(last_fields_);
}

void ProgressObserver::finish(const ProgressFields& fields) {
  for (Output& o : outputs_)
    if (o.bar) o.bar->finish(fields);
  for (Output& o : outputs_) o.bar.reset();
}

}  // namespace minidl
