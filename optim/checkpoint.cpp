#include "optim/checkpoint.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>

#include "core/file_io.h"
#include "core/text.h"

namespace minidl {

namespace fs = std::filesystem;

static std::string iter_name(int64_t iteration) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "iter_%09lld", static_cast<long long>(iteration));
  return buf;
}

static void fsync_dir(const fs::path& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
}

std::string checkpoint_folder(const std::string& run_dir, int64_t iteration) {
  return (fs::path(run_dir) / "checkpoints" / iter_name(iteration)).string();
}

std::string save_checkpoint(const std::string& run_dir, int64_t iteration, const Checkpoint& c) {
  fs::path root = fs::path(run_dir) / "checkpoints";
  std::error_code ec;
  fs::create_directories(root, ec);
  MINIDL_CHECK(!ec, "cannot create '", root.string(), "': ", ec.message());
  fs::path final_dir = root / iter_name(iteration);
  fs::path tmp = root / ("." + iter_name(iteration) + ".tmp");
  fs::remove_all(tmp, ec);
  fs::create_directories(tmp, ec);
  MINIDL_CHECK(!ec, "cannot create '", tmp.string(), "': ", ec.message());
  save_safetensors((tmp / "model.safetensors").string(), c.model);
  save_safetensors((tmp / "optimizer.safetensors").string(), c.optimizer);
  write_file_atomic((tmp / "state.json").string(), c.state.dump(2) + "\n");
  fsync_dir(tmp);
  if (fs::exists(final_dir)) {  // replacing: move the old one aside first, then drop it
    fs::path old = root / ("." + iter_name(iteration) + ".old");
    fs::remove_all(old, ec);
    fs::rename(final_dir, old);
    fs::rename(tmp, final_dir);
    fs::remove_all(old, ec);
  } else {
    fs::rename(tmp, final_dir);
  }
  fsync_dir(root);
  return final_dir.string();
}

std::vector<std::string> list_checkpoints(const std::string& run_dir) {
  std::vector<std::pair<int64_t, std::string>> found;
  fs::path root = fs::path(run_dir) / "checkpoints";
  std::error_code ec;
  if (!fs::is_directory(root, ec)) return {};
  for (auto& entry : fs::directory_iterator(root, ec)) {
    std::string name = entry.path().filename().string();
    int64_t it = 0;
    if (entry.is_directory() && starts_with(name, "iter_") && parse_int(name.substr(5), it) &&
        fs::exists(entry.path() / "state.json"))
      found.emplace_back(it, entry.path().string());
  }
  std::sort(found.begin(), found.end());
  std::vector<std::string> out;
  for (auto& f : found) out.push_back(f.second);
  return out;
}

std::string latest_checkpoint(const std::string& run_dir) {
  std::vector<std::string> all = list_checkpoints(run_dir);
  return all.empty() ? "" : all.back();
}

void prune_checkpoints(const std::string& run_dir, int keep) {
  if (keep <= 0) return;
  std::vector<std::string> all = list_checkpoints(run_dir);
  for (size_t i = 0; i + keep < all.size(); ++i) {
    std::error_code ec;
    fs::remove_all(all[i], ec);
  }
}

Checkpoint load_checkpoint(const std::string& path) {
  fs::path dir(path);
  if (!fs::exists(dir / "state.json") && fs::is_directory(dir / "checkpoints")) {
    std::string latest = latest_checkpoint(path);
    MINIDL_CHECK(!latest.empty(), "no checkpoint in '", path, "/checkpoints'");
    dir = latest;
  }
  MINIDL_CHECK(fs::exists(dir / "state.json"), "'", path,
               "' is not a checkpoint folder (no state.json)");
  Checkpoint c;
  c.model = load_safetensors((dir / "model.safetensors").string());
  c.optimizer = load_safetensors((dir / "optimizer.safetensors").string());
  std::vector<uint8_t> bytes = read_file((dir / "state.json").string());
  try {
    c.state = nlohmann::json::parse(bytes.begin(), bytes.end());
  } catch (const nlohmann::json::exception& e) {
    MINIDL_FAIL((dir / "state.json").string(), ": malformed JSON: ", e.what());
  }
  return c;
}

void check_checkpoint_format(const Checkpoint& c, const std::string& path) {
  // format 1 had no field; anything but a small integer is not a format (and get<int>() of
  // 7e110 would be undefined behaviour: found by fuzzing)
  std::string format = "1";
  if (c.state.is_object() && c.state.contains("format"))
    format = c.state["format"].dump().substr(0, 40);
  MINIDL_CHECK(format == std::to_string(kCheckpointFormat), "checkpoint '", path, "' has format ",
               format, "; this minidl reads format ", kCheckpointFormat,
               " (a run started by an older minidl cannot be resumed by this one)");
}

const std::vector<std::string>& resume_changeable_keys() {
  // the data-parallel keys too: a bucket's all-reduce sums the same values whatever the bucket's
  // size, whether it starts during backward, over which backend, with which timeout
  // sync_every: when the host reads the figures, not what they are
  // memory_format: how the activations lie in memory, not the model (the sums' order, and so the
  // last bits, may differ, as with deterministic)
  // cuda_graph: how the step's kernels are launched, not which
  static const std::vector<std::string> keys = {
      "threads",  "workers",      "out",        "verify_images", "deterministic", "dist",
      "bucket_mb", "overlap",     "dist_timeout", "sync_every",  "memory_format",
      "cuda_graph"};
  return keys;
}

void check_checkpoint_config(const Checkpoint& c, const nlohmann::json& config,
                             const std::string& path) {
  if (!config.is_object()) return;  // a caller without a config (tests, the range test)
  const nlohmann::json saved = c.state.value("config", nlohmann::json());
  MINIDL_CHECK(saved.is_object(), "checkpoint '", path, "' holds no config");
  auto changeable = [](const std::string& k) {
    const std::vector<std::string>& keys = resume_changeable_keys();
    return std::find(keys.begin(), keys.end(), k) != keys.end();
  };
  for (const nlohmann::json* a : {&saved, &config})
    for (const auto& [key, value] : a->items()) {
      if (changeable(key)) continue;
      const nlohmann::json mine = config.value(key, nlohmann::json()),
                           theirs = saved.value(key, nlohmann::json());
      // A setting added after the checkpoint was written (init_from, ...) is off there: equal
      // when this run leaves it off too (empty).
      if (!saved.contains(key) && mine == "") continue;
      MINIDL_CHECK(mine == theirs, "checkpoint '", path, "' was trained with ", key, " = ",
                   theirs.dump().substr(0, 80), ", this run has ", mine.dump().substr(0, 80));
    }
}

}  // namespace minidl
