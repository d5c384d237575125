// RUN/metrics.csv: one row per logged iteration, read by tools/plot_run.py.
// Columns: iteration, epoch, lr, momentum, train_loss, train_acc, test_loss, test_acc, test_top5,
// img_per_s, elapsed_s. A value not measured at a row (test metrics between evaluations) is NaN in
// a MetricsRow and an empty cell in the file. Rows are flushed as they are written.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>

#include "optim/event_file.h"
#include "optim/observer.h"

namespace minidl {

struct MetricsRow {
  int64_t iteration = 0;  // iterations completed
  double epoch = 0;       // fractional epochs completed
  double lr = NAN, momentum = NAN;
  double train_loss = NAN, train_acc = NAN;
  double test_loss = NAN, test_acc = NAN, test_top5 = NAN;
  double img_per_s = NAN, elapsed_s = NAN;
};

class MetricsWriter {
 public:
  // Starts `path` afresh; or, with keep_through >= 0 (resuming), keeps the existing rows whose
  // iteration <= keep_through and drops later ones (written after the checkpoint being resumed).
  explicit MetricsWriter(const std::string& path, int64_t keep_through = -1);
  ~MetricsWriter();
  MetricsWriter(const MetricsWriter&) = delete;
  MetricsWriter& operator=(const MetricsWriter&) = delete;
  void write(const MetricsRow& row);

  static const char* header();

 private:
  std::string path_;
  std::FILE* file_ = nullptr;
};

// The scalars of a row as TensorBoard tags (train/loss, test/acc, lr, ...), NaN where not measured.
std::vector<std::pair<std::string, double>> tensorboard_scalars(const MetricsRow& row);

// A row every `log_every` iterations and at every evaluation; its train figures are means since the
// previous row (img/s over training time only).
class MetricsObserver : public TrainObserver {
 public:
  // keep_through: as MetricsWriter's (the iteration a resumed run continues from; -1: a new run).
  // tensorboard_dir: also every row as a TensorBoard event there (optim/event_file.h); "": none.
  MetricsObserver(const std::string& path, int64_t keep_through, int64_t log_every,
                  const std::string& tensorboard_dir = "");
  void on_iteration(const IterationRecord& r) override;
  std::string name() const override { return "metrics"; }
  nlohmann::json state() const override;
  void restore(const nlohmann::json& state) override;

 private:
  MetricsWriter writer_;
  std::unique_ptr<EventFileWriter> events_;
  int64_t log_every_;
  TrainTotals row_mark_;  // the totals at the previous row
};

}  // namespace minidl
