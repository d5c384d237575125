#include "optim/metrics.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "core/error.h"
#include "core/file_io.h"
#include "core/text.h"

namespace minidl {

const char* MetricsWriter::header() {
  return "iteration,epoch,lr,momentum,train_loss,train_acc,test_loss,test_acc,test_top5,img_per_s,"
         "elapsed_s";
}

MetricsWriter::MetricsWriter(const std::string& path, int64_t keep_through) : path_(path) {
  std::string kept = std::string(header()) + "\n";
  if (keep_through >= 0) {
    std::ifstream in(path);
    std::string line;
    int64_t number = 0, dropped = 0;
    while (std::getline(in, line)) {
      if (++number == 1) continue;  // the header
      int64_t it = 0;
      if (!parse_int(line.substr(0, line.find(',')), it)) {
        if (dropped++ == 0)
          log_warning(path + ": line " + std::to_string(number) +
                      " is not a metrics row; dropped (and any other such lines)");
        continue;
      }
      if (it <= keep_through) kept += line + "\n";
    }
  }
  write_file_atomic(path, kept);
  file_ = std::fopen(path.c_str(), "a");
  MINIDL_CHECK(file_ != nullptr, "cannot open '", path, "' for appending: ", std::strerror(errno));
}

MetricsWriter::~MetricsWriter() {
  if (file_) std::fclose(file_);
}

static std::string cell(double v, const char* fmt = "%.6g") {
  if (std::isnan(v)) return "";
  char buf[64];
  std::snprintf(buf, sizeof buf, fmt, v);
  return buf;
}

void MetricsWriter::write(const MetricsRow& r) {
  std::ostringstream os;
  os << r.iteration << ',' << cell(r.epoch, "%.4f") << ',' << cell(r.lr, "%.8g") << ','
     << cell(r.momentum) << ',' << cell(r.train_loss) << ',' << cell(r.train_acc) << ','
     << cell(r.test_loss) << ',' << cell(r.test_acc) << ',' << cell(r.test_top5) << ','
     << cell(r.img_per_s, "%.1f") << ',' << cell(r.elapsed_s, "%.2f") << '\n';
  std::string line = os.str();
  MINIDL_CHECK(
      std::fwrite(line.data(), 1, line.size(), file_) == line.size() && std::fflush(file_) == 0,
      "error writing '", path_, "': ", std::strerror(errno));
}

std::vector<std::pair<std::string, double>> tensorboard_scalars(const MetricsRow& r) {
  return {{"train/loss", r.train_loss}, {"train/acc", r.train_acc}, {"test/loss", r.test_loss},
          {"test/acc", r.test_acc},     {"test/top5", r.test_top5}, {"lr", r.lr},
          {"momentum", r.momentum},     {"epoch", r.epoch},         {"img_per_s", r.img_per_s}};
}

MetricsObserver::MetricsObserver(const std::string& path, int64_t keep_through, int64_t log_every,
                                 const std::string& tensorboard_dir)
    : writer_(path, keep_through), log_every_(log_every) {
  if (!tensorboard_dir.empty())
    events_ = std::make_unique<EventFileWriter>(tensorboard_dir, keep_through);
}

void MetricsObserver::on_iteration(const IterationRecord& r) {
  if (r.diverged) return;  // no row for the iteration that diverged
  if (!r.eval && !(log_every_ > 0 && r.iteration % log_every_ == 0)) return;
  MetricsRow row;
  row.iteration = r.iteration;
  row.epoch = static_cast<double>(r.iteration) / r.iters_per_epoch;
  row.lr = r.lr;
  row.momentum = r.momentum;
  TrainTotals window = r.totals.since(row_mark_);
  if (window.samples > 0) {
    row.train_loss = window.mean_loss();
    row.train_acc = window.accuracy();
    row.img_per_s = window.seconds > 0 ? window.images_per_second() : NAN;
  }
  if (r.eval) {
    row.test_loss = r.eval->loss;
    row.test_acc = r.eval->top1;
    row.test_top5 = r.eval->top5;
  }
  row.elapsed_s = r.totals.seconds;
  writer_.write(row);
  if (events_) events_->add_scalars(row.iteration, tensorboard_scalars(row));
  row_mark_ = r.totals;
}

nlohmann::json MetricsObserver::state() const {
  return {{"row_mark", row_mark_.to_json()}};
}

void MetricsObserver::restore(const nlohmann::json& state) {
  MINIDL_CHECK(state.is_object() && state.contains("row_mark"),
               "metrics observer: the saved state has no 'row_mark'");
  row_mark_ = TrainTotals::from_json(state.at("row_mark"));
}

}  // namespace minidl
