#include "optim/train_state.h"

#include <cmath>
#include <cstdint>

#include "core/error.h"

namespace minidl {

namespace {

int64_t integer_field(const nlohmann::json& j, const char* key) {
  MINIDL_CHECK(j.contains(key), "train state: no '", key, "'");
  const nlohmann::json& v = j.at(key);
  MINIDL_CHECK(v.is_number_integer() && !(v.is_number_unsigned() && v.get<uint64_t>() > INT64_MAX),
               "train state: '", key, "' must be an integer, got ", v.dump().substr(0, 40));
  return v.get<int64_t>();
}

double number_field(const nlohmann::json& j, const char* key) {
  MINIDL_CHECK(j.contains(key), "train state: no '", key, "'");
  const nlohmann::json& v = j.at(key);
  MINIDL_CHECK(v.is_number() && std::isfinite(v.get<double>()), "train state: '", key,
               "' must be a finite number, got ", v.dump().substr(0, 40));
  return v.get<double>();
}

const nlohmann::json& object_field(const nlohmann::json& j, const char* key) {
  MINIDL_CHECK(j.is_object() && j.contains(key) && j.at(key).is_object(), "train state: '", key,
               "' must be a map");
  return j.at(key);
}

}  // namespace

double SmoothedLoss::add(double loss) {
  ++count;
  average = 0.98 * average + 0.02 * loss;
  double smoothed = average / (1 - std::pow(0.98, static_cast<double>(count)));
  if (count == 1 || smoothed < minimum) minimum = smoothed;
  return smoothed;
}

nlohmann::json TrainTotals::to_json() const {
  return {{"loss_sum", loss_sum}, {"correct", correct}, {"samples", samples}, {"seconds", seconds}};
}

TrainTotals TrainTotals::from_json(const nlohmann::json& j) {
  MINIDL_CHECK(j.is_object(), "train state: totals must be a map");
  TrainTotals t{number_field(j, "loss_sum"), number_field(j, "correct"), number_field(j, "samples"),
                number_field(j, "seconds")};
  MINIDL_CHECK(t.correct >= 0 && t.samples >= t.correct && t.seconds >= 0,
               "train state: totals are inconsistent (", j.dump().substr(0, 120), ")");
  return t;
}

void LossScale::update(bool step_applied) {
  if (!step_applied) {
    scale *= 0.5;
    growth_tracker = 0;
  } else if (++growth_tracker == growth_interval) {
    scale *= 2.0;
    growth_tracker = 0;
  }
}

nlohmann::json TrainState::to_json() const {
  nlohmann::json j = {
      {"iteration", iteration},
      {"skipped_steps", skipped_steps},
      {"smoothed_loss",
       {{"average", smoothed.average}, {"minimum", smoothed.minimum}, {"count", smoothed.count}}},
      {"totals", totals.to_json()}};
  if (loss_scale.enabled)
    j["loss_scale"] = {{"scale", loss_scale.scale},
                       {"growth_tracker", loss_scale.growth_tracker},
                       {"growth_interval", loss_scale.growth_interval}};
  return j;
}

TrainState TrainState::from_json(const nlohmann::json& j) {
  MINIDL_CHECK(j.is_object(), "train state: must be a map");
  TrainState s;
  s.iteration = integer_field(j, "iteration");
  s.skipped_steps = integer_field(j, "skipped_steps");
  const nlohmann::json& l = object_field(j, "smoothed_loss");
  s.smoothed.count = integer_field(l, "count");
  // a diverged or empty run may hold NaN here: only the type is checked
  MINIDL_CHECK(l.contains("average") && l.at("average").is_number() && l.contains("minimum") &&
                   l.at("minimum").is_number(),
               "train state: smoothed_loss needs numbers 'average' and 'minimum'");
  s.smoothed.average = l.at("average").get<double>();
  s.smoothed.minimum = l.at("minimum").get<double>();
  s.totals = TrainTotals::from_json(object_field(j, "totals"));
  if (j.contains("loss_scale")) {  // only runs that scale their loss (f16) write it
    const nlohmann::json& ls = object_field(j, "loss_scale");
    s.loss_scale.enabled = true;
    s.loss_scale.scale = number_field(ls, "scale");
    s.loss_scale.growth_tracker = integer_field(ls, "growth_tracker");
    s.loss_scale.growth_interval = integer_field(ls, "growth_interval");
    MINIDL_CHECK(s.loss_scale.scale > 0 && std::isfinite(s.loss_scale.scale) &&
                     s.loss_scale.growth_tracker >= 0 && s.loss_scale.growth_interval > 0,
                 "train state: loss_scale is inconsistent (", ls.dump().substr(0, 120), ")");
  }
  MINIDL_CHECK(s.iteration >= 0 && s.skipped_steps >= 0 && s.skipped_steps <= s.iteration &&
                   s.smoothed.count >= 0 && s.smoothed.count <= s.iteration,
               "train state: iteration ", s.iteration, ", skipped_steps ", s.skipped_steps,
               ", smoothed count ", s.smoothed.count, " are inconsistent");
  return s;
}

LoaderPosition loader_position(int64_t iteration, int64_t batches_per_epoch) {
  MINIDL_CHECK(batches_per_epoch > 0, "loader_position: batches_per_epoch must be positive");
  return {iteration / batches_per_epoch, iteration % batches_per_epoch};
}

}  // namespace minidl
