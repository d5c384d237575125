// results.csv and summary.md of a sweep (tools/train/sweep.h), gathered from the runs' directories:
// each run's metrics.csv (its last and best evaluations) and run record (status, exit code, time).
#include <algorithm>
#include <cmath>
#include <fstream>

#include "core/file_io.h"
#include "core/text.h"
#include "tools/train/sweep.h"

namespace minidl::cli {

RunResult read_run_result(const std::string& dir) {
  RunResult out;
  std::ifstream in(dir + "/metrics.csv");
  std::string line;
  if (!std::getline(in, line)) return out;
  std::vector<std::string> header = split(line, ',');
  auto column = [&](const char* name) {
    auto it = std::find(header.begin(), header.end(), name);
    return it == header.end() ? header.size() : static_cast<size_t>(it - header.begin());
  };
  const size_t iteration = column("iteration"), acc = column("test_acc"),
               loss = column("test_loss"), speed = column("img_per_s"),
               elapsed = column("elapsed_s");
  double best_acc = -1, best_loss = INFINITY;
  while (std::getline(in, line)) {
    std::vector<std::string> cells = split(line, ',');
    if (cells.size() != header.size()) continue;
    int64_t it = 0;
    if (iteration < cells.size() && parse_int(cells[iteration], it)) out.iterations = it;
    double a = 0, l = 0, v = 0;
    if (speed < cells.size() && parse_number(cells[speed], v)) out.img_per_s = v;
    if (elapsed < cells.size() && parse_number(cells[elapsed], v)) out.elapsed_s = v;
    if (acc >= cells.size() || !parse_number(cells[acc], a)) continue;  // not an evaluation
    out.final_acc = cells[acc];
    if (a > best_acc) best_acc = a, out.best_acc = cells[acc];
    if (loss < cells.size() && parse_number(cells[loss], l)) {
      out.final_loss = cells[loss];
      out.test_losses.push_back(l);
      if (l < best_loss) best_loss = l, out.best_loss = cells[loss];
    }
  }
  return out;
}

std::string csv_cell(const std::string& text) {
  if (text.find_first_of(",\"\r\n") == std::string::npos) return text;
  std::string out = "\"";
  for (char c : text) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

std::string results_csv(const Grid& grid, const std::vector<RunRecord>& records,
                        const std::vector<RunResult>& results) {
  std::string out = "id";
  if (grid.has_rows) out += ",row";
  for (const std::string& a : grid.axes) out += "," + csv_cell(a);
  out +=
      ",repeat,seed,status,exit_code,iterations,final_test_acc,best_test_acc,final_test_loss,"
      "best_test_loss,wall_s\n";
  for (size_t i = 0; i < grid.runs.size(); ++i) {
    const SweepRun& r = grid.runs[i];
    const RunRecord& rec = records[i];
    const RunResult& res = results[i];
    out += r.id;
    if (grid.has_rows) out += "," + csv_cell(r.row);
    for (const std::string& a : grid.axes) out += "," + csv_cell(value_text(r.varied.at(a)));
    char wall[32];
    std::snprintf(wall, sizeof wall, "%.1f", rec.wall_s);
    out += "," + std::to_string(r.repeat) + "," + std::to_string(r.seed) + "," + rec.status + "," +
           (rec.exit_code < 0 ? "" : std::to_string(rec.exit_code)) + "," +
           (res.iterations < 0 ? "" : std::to_string(res.iterations)) + "," + res.final_acc + "," +
           res.best_acc + "," + res.final_loss + "," + res.best_loss + "," + wall + "\n";
  }
  return out;
}

void mean_std(const std::vector<double>& values, double& mean, double& std) {
  const double n = static_cast<double>(values.size());
  mean = NAN;
  std = NAN;
  if (values.empty()) return;
  double sum = 0;
  for (double v : values) sum += v;
  mean = sum / n;
  if (values.size() < 2) return;
  double ss = 0;
  for (double v : values) ss += (v - mean) * (v - mean);
  std = std::sqrt(ss / (n - 1));
}

namespace {

// "91.23 ± 0.45" (n >= 2), "91.23" (n = 1), "–" (none); `scale` 100 turns fractions into %.
std::string stat_cell(const std::vector<double>& values, double scale, int decimals) {
  double mean = 0, std = 0;
  mean_std(values, mean, std);
  if (values.empty()) return "–";
  char buf[96];
  if (values.size() < 2)
    std::snprintf(buf, sizeof buf, "%.*f", decimals, scale * mean);
  else
    std::snprintf(buf, sizeof buf, "%.*f ± %.*f", decimals, scale * mean, decimals, scale * std);
  return buf;
}

// Markdown table cells hold no '|' and no line break.
std::string md_cell(const std::string& text) {
  std::string out;
  for (char c : text)
    out += c == '|' ? std::string("\\|") : c == '\n' ? std::string(" ") : std::string(1, c);
  return out;
}

}  // namespace

std::string summary_md(const Grid& grid, const std::vector<RunRecord>& records,
                       const std::vector<RunResult>& results) {
  std::string out =
      "# Sweep summary\n\nPer configuration, over its repeats that finished: mean ± sample "
      "standard "
      "deviation (n - 1; shown from n = 2), n = finished of all repeats. Accuracy in %, from each "
      "run's metrics.csv (results.csv has every run).\n\n|";
  std::string rule = "|";
  std::vector<std::string> heads;
  if (grid.has_rows) heads.push_back("row");
  heads.insert(heads.end(), grid.axes.begin(), grid.axes.end());
  for (const char* h :
       {"n", "final test acc", "best test acc", "final test loss", "wall s", "failed"})
    heads.push_back(h);
  for (const std::string& h : heads) out += " " + md_cell(h) + " |", rule += "---|";
  out += "\n" + rule + "\n";
  for (size_t i = 0; i < grid.runs.size();) {
    const SweepRun& first = grid.runs[i];
    std::vector<double> final_acc, best_acc, final_loss, wall;
    int repeats = 0, failed = 0;
    for (; i < grid.runs.size() && grid.runs[i].config == first.config; ++i, ++repeats) {
      const RunRecord& rec = records[i];
      const RunResult& res = results[i];
      double v = 0;
      if (rec.status == "failed") ++failed;
      if (rec.status != "done" || !parse_number(res.final_acc, v)) continue;
      final_acc.push_back(v);
      if (parse_number(res.best_acc, v)) best_acc.push_back(v);
      if (parse_number(res.final_loss, v)) final_loss.push_back(v);
      wall.push_back(rec.wall_s);
    }
    out += "|";
    if (grid.has_rows) out += " " + md_cell(first.row) + " |";
    for (const std::string& a : grid.axes)
      out += " " + md_cell(value_text(first.varied.at(a))) + " |";
    out += " " + std::to_string(final_acc.size()) + "/" + std::to_string(repeats) + " | " +
           stat_cell(final_acc, 100, 2) + " | " + stat_cell(best_acc, 100, 2) + " | " +
           stat_cell(final_loss, 1, 4) + " | " + stat_cell(wall, 1, 1) + " | " +
           std::to_string(failed) + " |\n";
  }
  return out;
}

void write_results(const std::string& sweep_dir, const Grid& grid) {
  std::vector<RunRecord> records;
  std::vector<RunResult> results;
  for (const SweepRun& r : grid.runs) {
    records.push_back(read_run_record(run_dir(sweep_dir, r)));
    results.push_back(read_run_result(run_dir(sweep_dir, r)));
  }
  write_file_atomic(sweep_dir + "/results.csv", results_csv(grid, records, results));
  write_file_atomic(sweep_dir + "/summary.md", summary_md(grid, records, results));
}

}  // namespace minidl::cli
