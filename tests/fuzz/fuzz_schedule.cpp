// Schedules as flags and configs give them (optim/schedule.h, optim/schedule_config.h). A text that
// reads as JSON is a config node (schedule_from_config, with "ep" and "%" units expanded for 100
// iterations per epoch and 10,000 in all); any other text is a flag string (parse_schedule). Each
// schedule built is evaluated at a few iterations and its spec() parsed back.
#include <cstdio>
#include <cstdlib>

#include "core/json_input.h"
#include "optim/schedule.h"
#include "optim/schedule_config.h"
#include "tests/fuzz/fuzz_util.h"

namespace {

// The contract of Schedule (optim/schedule.h): a value at every iteration, and a spec() that parses
// back. A spec that does not is a bug, not bad input: abort, so the fuzzer records it.
void exercise(const minidl::Schedule& s, minidl::ScheduleRole role) {
  for (int64_t it : {0, 1, 4999, 9999, 10000}) s.value(it);
  try {
    minidl::parse_schedule(s.spec(), role);
  } catch (const minidl::Error& e) {
    std::fprintf(stderr, "spec '%s' does not parse back: %s\n", s.spec().c_str(), e.what());
    std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text = minidl::fuzz::as_text(data, size);
  for (minidl::ScheduleRole role : {minidl::ScheduleRole::lr, minidl::ScheduleRole::momentum}) {
    minidl::fuzz::expect_ok_or_error([&] {
      nlohmann::json node;
      bool is_json = true;
      try {
        node = minidl::parse_json_input(text, "fuzz-schedule");
      } catch (const minidl::Error&) {
        is_json = false;
      }
      if (is_json) {
        exercise(*minidl::schedule_from_config(node, role, 100, 10000), role);
      } else {
        exercise(*minidl::parse_schedule(text, role), role);
      }
    });
  }
  return 0;
}
