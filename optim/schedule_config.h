// Schedules as configs give them: the one path from a config value (JSON, or YAML read into JSON
// by the CLI's config reader) to a Schedule, for the flag string form and the map form alike.
//
//   lr: "onecycle-smith:base=0.08,max=0.8,ss=45%"      # the flag grammar, as one string
//   momentum: 0.9                                       # a number: fixed:value=0.9
//   lr:                                                 # or a map: name + keys
//     name: multistep
//     base: 0.1
//     gamma: 0.316
//     steps: [50%, 75%, 87.5%]                          # lists as sequences
//   # points as [iteration, value] pairs: points: [[0, 0.1], [41ep, 1.0]]
//
// Iteration-valued numbers may be written in epochs ("41ep") or as a share of training ("45%"):
// expand_schedule_units turns them into whole iterations before the schedule is built.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <memory>

#include "optim/schedule.h"

namespace minidl {

// A string is parsed with the flag grammar, a number is fixed:value=N, a map needs `name` and gives
// the other keys (a sequence of scalars as "a;b;c", of [it, value] pairs as "a:b;c:d").
ScheduleSpec schedule_spec_from_json(const nlohmann::json& node);

// Every "<number>ep" (x iters_per_epoch) and "<number>%" (of total_iters) in the spec's values -- a
// whole value, an item of a list, or the iteration of a point -- becomes an iteration count
// (rounded to nearest). Other text is left to make_schedule to judge.
void expand_schedule_units(ScheduleSpec& spec, int64_t iters_per_epoch, int64_t total_iters);

// schedule_spec_from_json, expand_schedule_units, make_schedule.
std::unique_ptr<Schedule> schedule_from_config(const nlohmann::json& node, ScheduleRole role,
                                               int64_t iters_per_epoch, int64_t total_iters);

}  // namespace minidl
