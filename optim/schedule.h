// Learning-rate and momentum schedules: pure functions of the iteration (DESIGN.md §5).
//
//   auto lr = parse_schedule("onecycle-smith:base=0.08,max=0.8,ss=4003", ScheduleRole::lr);
//   auto mom = parse_schedule("cyclic-momentum-smith:max=0.95,min=0.85,ss=4003",
//                             ScheduleRole::momentum);
//   double l = lr->value(4200);  // 0.760630, as the paper author's Caffe logged it
//
// A schedule is written as one flag string `name:key=value,key=value` (lists separated by ';',
// points as `it:value;it:value`; a bare number means `fixed:value=<number>`) or as a YAML/JSON
// node (optim/schedule_config.h). docs/optim.md lists every schedule, its keys and its formula.
// Errors name the schedule and the field: unknown names and keys list the known ones.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace minidl {

class Schedule {
 public:
  virtual ~Schedule() = default;
  // The value at iteration `it` (0-based; it < 0 is treated as 0).
  virtual double value(int64_t it) const = 0;
  // The canonical flag string, every key written (defaults included); parses back to an equal
  // schedule.
  virtual std::string spec() const = 0;
};

// What a schedule drives; decides the range its values must keep (lr >= 0; momentum in [0, 1]).
enum class ScheduleRole { lr, momentum };
const char* schedule_role_name(ScheduleRole role);  // "lr" | "momentum"

// A parsed but not yet validated spec: the name and its key=value pairs in written order.
struct ScheduleSpec {
  std::string name;
  std::vector<std::pair<std::string, std::string>> params;
};

// `name:key=value,...` -> ScheduleSpec (syntax only). A bare number N gives fixed:value=N.
ScheduleSpec parse_schedule_spec(const std::string& text);

// Builds and validates a schedule; throws naming the schedule and the offending field.
std::unique_ptr<Schedule> make_schedule(const ScheduleSpec& spec, ScheduleRole role);
std::unique_ptr<Schedule> parse_schedule(const std::string& text, ScheduleRole role);

// Names of every built-in schedule, in the registry's order.
std::vector<std::string> schedule_names();

// Writes "iteration,lr,momentum" then one row for it = 0, every, 2 every, ... < iterations (and
// the last iteration, iterations - 1, if the stride skips it). Values with 10 significant digits.
void write_schedule_csv(std::ostream& out, const Schedule& lr, const Schedule& momentum,
                        int64_t iterations, int64_t every = 1);

}  // namespace minidl
