// Checkpoints on disk: RUN/checkpoints/iter_<000123>/ holding model.safetensors (parameters and
// buffers by name), optimizer.safetensors (the optimiser's state_dict) and state.json (iteration,
// loader position, RNG, the resolved config: whatever the Solver needs to continue
// bit-identically).
//
// Atomic: the three files are written (each fsynced) into a hidden temporary folder that is then
// renamed into place, so a checkpoint folder either exists whole or not at all; a run killed at any
// moment leaves the previous checkpoints intact. Hidden folders are ignored when looking for one.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "core/safetensors.h"

namespace minidl {

struct Checkpoint {
  TensorMap model;
  TensorMap optimizer;
  nlohmann::json state;
};

// The layout of state.json and of the tensors a Solver writes: 2 since the TrainState ("format",
// "train_state") and Dropout's RNG state in the model's tensors; 1 (no "format" key) before.
constexpr int kCheckpointFormat = 2;
// Throws unless `c` (read from `path`) has this build's format, naming both.
void check_checkpoint_format(const Checkpoint& c, const std::string& path);
// The config keys that may differ between the parts of one run (a resume): how it computes, reads
// and talks, never what it computes (out: a run directory may be moved).
const std::vector<std::string>& resume_changeable_keys();
// Throws unless the config stored in `c` equals `config` in every key but resume_changeable_keys(),
// naming the first key that differs.
void check_checkpoint_config(const Checkpoint& c, const nlohmann::json& config,
                             const std::string& path);

// RUN_DIR/checkpoints/iter_<iteration>: where save_checkpoint writes that iteration.
std::string checkpoint_folder(const std::string& run_dir, int64_t iteration);
// Writes RUN_DIR/checkpoints/iter_<iteration>/ and returns its path; replaces one of the same name.
std::string save_checkpoint(const std::string& run_dir, int64_t iteration,
                            const Checkpoint& checkpoint);

// Reads a checkpoint folder (or a run directory: its latest checkpoint); errors name the file.
Checkpoint load_checkpoint(const std::string& path);

// Complete checkpoint folders of a run, oldest first (by iteration).
std::vector<std::string> list_checkpoints(const std::string& run_dir);
// The newest, or "" if there is none.
std::string latest_checkpoint(const std::string& run_dir);
// Deletes all but the newest `keep` checkpoints (keep <= 0 keeps all).
void prune_checkpoints(const std::string& run_dir, int keep);

}  // namespace minidl
