// A checkpoint's state.json as Solver::resume reads it (optim/checkpoint.h, optim/train_state.h):
// load_checkpoint's JSON parse, check_checkpoint_format, then TrainState::from_json of
// "train_state" (an error there is wrapped as resume wraps it).
#include "optim/checkpoint.h"
#include "optim/train_state.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return minidl::fuzz::expect_ok_or_error([&] {
    minidl::Checkpoint c;
    try {
      c.state = nlohmann::json::parse(data, data + size);
    } catch (const nlohmann::json::exception& e) {
      MINIDL_FAIL("state.json: malformed JSON: ", e.what());
    }
    minidl::check_checkpoint_format(c, "fuzz-checkpoint");
    try {
      minidl::TrainState::from_json(c.state.at("train_state"));
    } catch (const std::exception& e) {
      MINIDL_FAIL("checkpoint 'fuzz-checkpoint': ", e.what());
    }
  });
}
