// OUT/report.md of `minidl_train tune`: each decision recorded in tune.json, the figures behind it
// and the rule that made it, and the command that repeats the final run. It reads the record
// only, so a report written after an interrupted stage shows what was decided so far.
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <sstream>

#include "core/file_io.h"
#include "core/text.h"
#include "optim/progress.h"
#include "tools/train/tune.h"

namespace minidl::cli {

namespace fs = std::filesystem;

std::string tune_number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4g", v);
  return buf;
}

double tune_cell_number(const std::string& text) {
  double v = NAN;
  parse_number(text, v);
  return v;
}

namespace {

std::string num(const nlohmann::json& v) {
  return tune_number(v.get<double>());
}

std::string percent(const std::string& fraction) {
  double v = tune_cell_number(fraction);
  return std::isnan(v) ? "–" : tune_number(100 * v) + "%";
}

void range_section(std::ostringstream& md, const TunePlan& p, const nlohmann::json& state) {
  if (state.contains("range") && state["range"]["dir"] != "") {
    const nlohmann::json& r = state["range"];
    md << "\n## 1. LR range test -> max LR " << num(r["max_lr"]) << ", min LR " << num(r["min_lr"])
       << "\n\n`" << r["command"].get<std::string>()
       << "`\n\nRule: " << r["rule"].get<std::string>() << ".\n";
    if (!r["spread"].is_null() && r["spread"]["n"].get<int>() > 1)
      md << "Repeats: each repeat's max LR from " << num(r["spread"]["min"]) << " to "
         << num(r["spread"]["max"]) << " (median " << num(r["spread"]["median"]) << ").\n";
    md << "\n![range test](" << fs::path(r["dir"].get<std::string>()).filename().string()
       << "/range_test.png)\n";
  } else if (p.args.max_lr > 0) {
    md << "\n## 1. LR bounds given: max LR " << tune_number(p.args.max_lr) << ", min LR max / 10\n";
  }
}

void wd_section(std::ostringstream& md, const nlohmann::json& w) {
  md << "\n## 2. Weight decay -> " << num(w["weight_decay"])
     << "\n\nSnapshot: " << w["snapshot"]["iterations"].get<int64_t>()
     << " iterations at weight decay " << num(w["snapshot"]["weight_decay"])
     << ", the LR rising linearly from min LR to " << num(w["lr"])
     << " (the mean of the bounds), momentum 0.9. Its test loss at each evaluation:";
  for (const nlohmann::json& v : w["snapshot"]["test_losses"]) md << " " << num(v);
  md << ".\nBranches from the snapshot, " << w["branch_iterations"].get<int64_t>()
     << " iterations each, LR " << num(w["lr"]) << " falling linearly to 0:\n\n"
     << "| weight decay | final test loss | final test accuracy |\n|---|---|---|\n";
  for (const nlohmann::json& b : w["branches"])
    md << "| " << num(b["weight_decay"]) << " | " << b["test_loss"].get<std::string>() << " | "
       << percent(b["test_acc"]) << " |\n";
  md << "\nRule: " << w["rule"].get<std::string>() << ".\n";
}

void momentum_section(std::ostringstream& md, const nlohmann::json& m) {
  md << "\n## 3. Momentum -> " << m["name"].get<std::string>() << " (`"
     << m["momentum"].get<std::string>() << "`)\n\nTwo short runs of the final run's kind, "
     << m["iterations"].get<int64_t>()
     << " iterations each: 1cycle between the bounds with the chosen weight decay, the momentum "
        "schedule the only difference:\n\n"
     << "| momentum | final test loss | final test accuracy |\n|---|---|---|\n";
  for (const nlohmann::json& c : m["candidates"])
    md << "| " << c["name"].get<std::string>() << " (`" << c["momentum"].get<std::string>()
       << "`) | " << c["test_loss"].get<std::string>() << " | " << percent(c["test_acc"]) << " |\n";
  md << "\nRule: " << m["rule"].get<std::string>() << ".\n";
}

void batch_section(std::ostringstream& md, const nlohmann::json& b, int64_t base_batch) {
  md << "\n## 3b. Batch size at equal wall-clock -> " << b["batch_size"].get<int64_t>()
     << "\n\nShort 1cycles of the final run's kind, each trained for " << num(b["seconds"])
     << " s (its iterations from its measured speed), the LR bounds scaled "
     << b["scaling"].get<std::string>() << " in batch / " << base_batch << ":\n\n"
     << "| batch | img/s | iterations | max LR | training s | final test loss | final test "
        "accuracy |\n|---|---|---|---|---|---|---|\n";
  for (const nlohmann::json& c : b["candidates"])
    md << "| " << c["batch_size"].get<int64_t>() << " | " << num(c["img_per_s"]) << " | "
       << c["iterations"].get<int64_t>() << " | " << num(c["max_lr"]) << " | "
       << (c["train_s"].is_number() ? num(c["train_s"]) : std::string("–")) << " | "
       << c["test_loss"].get<std::string>() << " | " << percent(c["test_acc"]) << " |\n";
  md << "\nRule: " << b["rule"].get<std::string>() << ". The final run trains at batch "
     << b["batch_size"].get<int64_t>() << " for " << b["iterations"].get<int64_t>()
     << " iterations: the budget's " << num(b["budget_s"]) << " s at its measured speed.\n";
}

// Each stage's wall-clock (its runs', as tune timed them), so the cost of the recipe is in view.
void time_section(std::ostringstream& md, const nlohmann::json& wall) {
  double total = 0;
  md << "\n## Time\n\n| stage | wall-clock |\n|---|---|\n";
  for (const auto& [stage, seconds] : wall.items()) {
    md << "| `" << stage << "` | " << ProgressBar::format_duration(seconds.get<double>()) << " |\n";
    total += seconds.get<double>();
  }
  md << "| all | " << ProgressBar::format_duration(total) << " |\n";
}

void final_section(std::ostringstream& md, const TunePlan& p, const nlohmann::json& state,
                   const SettingsFlags& flags) {
  const nlohmann::json& f = state["final"];
  const std::vector<std::string> final_flags = tune_final_flags(p, state);
  std::string again = "minidl_train train";
  for (const std::string& key : given_keys(flags)) {
    bool set_by_tune = key == "out";  // and every flag of the final run's, or its other budget
    for (const std::string& f : final_flags)
      set_by_tune |= f == flag_name(key) || (f == "--iterations" && key == "epochs");
    if (!set_by_tune) again += " " + flag_name(key) + " " + flags.raw.at(key);
  }
  for (const std::string& flag : final_flags) again += " " + flag;
  const std::string dir = fs::path(f["dir"].get<std::string>()).filename().string();
  md << "\n## 4. Final run: test accuracy " << percent(f["test_acc"]) << " (test loss "
     << f["test_loss"].get<std::string>() << ")\n\n1cycle (Smith's, SS 45%) between the "
     << "bounds with the chosen momentum and weight decay.";
  if (state.contains("final_diverged") && !state["final_diverged"].empty()) {
    md << " The run diverged at first and ran again at half the LR bounds:";
    for (const nlohmann::json& d : state["final_diverged"])
      md << " `" << fs::path(d["dir"].get<std::string>()).filename().string() << "` diverged at "
         << "max LR " << num(d["max_lr"]) << ";";
    md << " this one trained at max LR " << num(f["max_lr"]) << ".";
  }
  md << " Its resolved config: `" << dir << "/config.json`. To repeat it:\n\n```sh\n"
     << again << " --out runs/again\n# or: minidl_train train --config " << p.out << "/" << dir
     << "/config.json --out runs/again\n```\n";
}

}  // namespace

void write_tune_report(const TunePlan& p, const nlohmann::json& state, const SettingsFlags& flags) {
  std::ostringstream md;
  md << "# minidl_train tune: " << p.base.model.model << " on " << p.base.data.dataset << "\n\n"
     << "Budget: " << p.iterations << " iterations at batch " << p.base.data.batch_size;
  if (state.contains("budget"))
    md << " (" << num(state["budget"]["minutes"]) << " minutes of training at the "
       << num(state["budget"]["img_per_s"]) << " img/s measured in `0-speed`)";
  md << ". Each decision below is made by the rule stated with it, from the runs in this folder.\n";
  range_section(md, p, state);
  if (state.contains("wd")) wd_section(md, state["wd"]);
  if (state.contains("momentum")) momentum_section(md, state["momentum"]);
  if (state.contains("batch")) batch_section(md, state["batch"], p.base.data.batch_size);
  if (state.contains("final")) {
    final_section(md, p, state, flags);
  } else if (state.contains("final_diverged") && !state["final_diverged"].empty()) {
    md << "\n## 4. Final run: diverged at every attempt\n\n";
    for (const nlohmann::json& d : state["final_diverged"])
      md << "- `" << d["dir"].get<std::string>() << "`: max LR " << num(d["max_lr"]) << "\n";
    md << "\nLower bounds (`--max-lr`) or a longer range test may help.\n";
  }
  if (state.contains("wall_s")) time_section(md, state["wall_s"]);
  write_file_atomic(p.out + "/report.md", md.str());
}

}  // namespace minidl::cli
