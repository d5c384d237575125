#include "dist/bootstrap.h"

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <limits>
#include <system_error>
#include <thread>

#include "core/error.h"
#include "core/file_io.h"

namespace minidl {
namespace {

struct Launcher {
  const char* name;
  const char* rank;
  const char* world_size;
  const char* local_rank;
};

// The order of precedence (bootstrap.h says why).
constexpr Launcher kLaunchers[] = {
    {"minidl", "MINIDL_RANK", "MINIDL_WORLD_SIZE", "MINIDL_LOCAL_RANK"},
    {"OpenMPI", "OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_LOCAL_RANK"},
    {"Slurm", "SLURM_PROCID", "SLURM_NTASKS", "SLURM_LOCALID"},
};

// A plain decimal integer that fits int: digits only, at most 9 of them (no overflow to think of).
int parse_env_int(const std::map<std::string, std::string>& env, const char* name,
                  const char* launcher) {
  auto it = env.find(name);
  MINIDL_CHECK(it != env.end(), name, " is not set, but the other ", launcher,
               " variables are: set all three or none");
  const std::string& v = it->second;
  bool digits = !v.empty() && v.size() <= 9;
  for (char c : v) digits = digits && c >= '0' && c <= '9';
  MINIDL_CHECK(digits, name, "='", v, "' is not a non-negative decimal integer");
  return std::stoi(v);
}

}  // namespace

RankInfo rank_info_from_env(const std::map<std::string, std::string>& env) {
  for (const Launcher& l : kLaunchers) {
    if (!env.count(l.rank) && !env.count(l.world_size) && !env.count(l.local_rank)) continue;
    RankInfo info;
    info.launcher = l.name;
    info.rank = parse_env_int(env, l.rank, l.name);
    info.world_size = parse_env_int(env, l.world_size, l.name);
    info.local_rank = parse_env_int(env, l.local_rank, l.name);
    MINIDL_CHECK(info.world_size >= 1, l.world_size, "='", env.at(l.world_size),
                 "': the world size must be at least 1");
    MINIDL_CHECK(info.rank < info.world_size, l.rank, "='", env.at(l.rank),
                 "' is not below the world size ", l.world_size, "=", info.world_size);
    MINIDL_CHECK(info.local_rank < info.world_size, l.local_rank, "='", env.at(l.local_rank),
                 "' is not below the world size ", l.world_size, "=", info.world_size);
    return info;
  }
  return RankInfo{};
}

RankInfo rank_info_from_process() {
  std::map<std::string, std::string> env;
  for (const Launcher& l : kLaunchers)
    for (const char* name : {l.rank, l.world_size, l.local_rank})
      if (const char* v = std::getenv(name)) env[name] = v;
  return rank_info_from_env(env);
}

std::vector<uint8_t> exchange_blob_via_file(const std::string& dir, const std::string& name,
                                            int rank, const std::vector<uint8_t>& blob, size_t size,
                                            double timeout_s) {
  MINIDL_CHECK(
      !name.empty() && name.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrs"
                                              "tuvwxyz0123456789._-") == std::string::npos,
      "exchange_blob_via_file: the name '", name, "' may hold only [A-Za-z0-9._-]");
  MINIDL_CHECK(!dir.empty(), "exchange_blob_via_file: no shared folder given");
  const std::string path = (std::filesystem::path(dir) / name).string();
  if (rank == 0) {
    MINIDL_CHECK(blob.size() == size, "exchange_blob_via_file: rank 0's blob has ", blob.size(),
                 " bytes, expected ", size);
    write_file_atomic(path, blob);
    return blob;
  }
  // The rename makes the file appear whole, so the first time it exists it is complete. Poll
  // quickly at first (ranks usually start together), then every 100 ms.
  using clock = std::chrono::steady_clock;
  const auto deadline = clock::now() + std::chrono::duration<double>(timeout_s);
  auto pause = std::chrono::milliseconds(1);
  for (;;) {
    std::error_code ec;
    if (std::filesystem::exists(path, ec)) {
      std::vector<uint8_t> got = read_file(path);
      MINIDL_CHECK(got.size() == size, "'", path, "' holds ", got.size(), " bytes, expected ", size,
                   " (a file of another run or program? use a fresh run key or folder)");
      return got;
    }
    MINIDL_CHECK(clock::now() < deadline, "rank ", rank, " waited ", timeout_s, " s for '", path,
                 "', which rank 0 writes: is rank 0 running, and is '", dir,
                 "' the same shared folder on every rank?");
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::milliseconds(100));
  }
}

}  // namespace minidl
