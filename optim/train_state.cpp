#include "optim/train_state.h"

#include <cmath>

#include "core/error.h"

namespace minidl {

double SmoothedLoss::add(double loss) {
  ++count;
  average = 0.98 * average + 0.02 * loss;
  double smoothed = average / (1 - std::pow(0.98, static_cast<double>(count)));
  if (count == 1 || smoothed < minimum) minimum = smoothed;
  return smoothed;
}

nlohmann::json TrainState::to_json() const {
  return {
      {"iteration", iteration},
      {"skipped_steps", skipped_steps},
      {"smoothed_loss",
       {{"average", smoothed.average}, {"minimum", smoothed.minimum}, {"count", smoothed.count}}},
      {"elapsed_s", elapsed_s}};
}

TrainState TrainState::from_json(const nlohmann::json& j) {
  TrainState s;
  try {
    s.iteration = j.at("iteration").get<int64_t>();
    s.skipped_steps = j.at("skipped_steps").get<int64_t>();
    const nlohmann::json& l = j.at("smoothed_loss");
    s.smoothed.average = l.at("average").get<double>();
    s.smoothed.minimum = l.at("minimum").get<double>();
    s.smoothed.count = l.at("count").get<int64_t>();
    s.elapsed_s = j.at("elapsed_s").get<double>();
  } catch (const nlohmann::json::exception& e) {
    MINIDL_FAIL("train state: ", e.what());
  }
  MINIDL_CHECK(s.iteration >= 0 && s.skipped_steps >= 0 && s.skipped_steps <= s.iteration &&
                   s.smoothed.count >= 0,
               "train state: iteration ", s.iteration, ", skipped_steps ", s.skipped_steps,
               ", smoothed count ", s.smoothed.count, " are inconsistent");
  return s;
}

LoaderPosition loader_position(int64_t iteration, int64_t batches_per_epoch) {
  MINIDL_CHECK(batches_per_epoch > 0, "loader_position: batches_per_epoch must be positive");
  return {iteration / batches_per_epoch, iteration % batches_per_epoch};
}

}  // namespace minidl
