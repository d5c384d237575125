// Schedules from a YAML or JSON config node (yaml-cpp reads both).
//
//   lr: "onecycle-smith:base=0.08,max=0.8,ss=4003"     # the flag grammar, as one string
//   momentum:                                            # or a map: name + keys
//     name: cyclic-momentum-smith
//     max: 0.95
//     min: 0.85
//     ss: 4003
//   # lists and points as sequences: steps: [4638, 6957]   points: [[0, 0.1], [500, 1.0]]
//   # JSON: {"lr": {"name": "multistep", "base": 0.1, "gamma": 0.316, "steps": [4638, 6957]}}
// MINIDL_PORTABLE builds have no yaml-cpp (MINIDL_WITH_YAML=0): these functions then throw.
#pragma once

#include <memory>
#include <string>

#include "optim/schedule.h"

namespace YAML {
class Node;
}

namespace minidl {

// A string node is parsed with the flag grammar; a map needs `name` and gives the other keys.
ScheduleSpec schedule_spec_from_yaml(const YAML::Node& node);
std::unique_ptr<Schedule> schedule_from_yaml(const YAML::Node& node, ScheduleRole role);

// `text` is YAML or JSON holding one schedule node (a string or a map).
std::unique_ptr<Schedule> schedule_from_config_text(const std::string& text, ScheduleRole role);

}  // namespace minidl
