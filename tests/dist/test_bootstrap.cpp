// Bootstrap (dist/bootstrap.h): rank, world size and local rank from each launcher's variables, the
// order of precedence, strict parsing with errors naming the variable, and the file exchange of
// NCCL's unique id between two threads.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <thread>

#include "core/error.h"
#include "core/file_io.h"
#include "dist/bootstrap.h"
#include "tests/testing.h"

namespace minidl {
namespace {

using Env = std::map<std::string, std::string>;

TEST(Bootstrap, NoLauncherIsRankZeroOfOne) {
  RankInfo info = rank_info_from_env({{"PATH", "/usr/bin"}});
  EXPECT_EQ(info.rank, 0);
  EXPECT_EQ(info.world_size, 1);
  EXPECT_EQ(info.local_rank, 0);
  EXPECT_EQ(info.launcher, "none");
}

TEST(Bootstrap, EachLauncher) {
  RankInfo m = rank_info_from_env(
      {{"MINIDL_RANK", "3"}, {"MINIDL_WORLD_SIZE", "8"}, {"MINIDL_LOCAL_RANK", "3"}});
  EXPECT_EQ(m.launcher, "minidl");
  EXPECT_EQ(m.rank, 3);
  EXPECT_EQ(m.world_size, 8);
  EXPECT_EQ(m.local_rank, 3);
  RankInfo o = rank_info_from_env({{"OMPI_COMM_WORLD_RANK", "5"},
                                   {"OMPI_COMM_WORLD_SIZE", "6"},
                                   {"OMPI_COMM_WORLD_LOCAL_RANK", "1"}});
  EXPECT_EQ(o.launcher, "OpenMPI");
  EXPECT_EQ(o.rank, 5);
  EXPECT_EQ(o.world_size, 6);
  EXPECT_EQ(o.local_rank, 1);
  RankInfo s =
      rank_info_from_env({{"SLURM_PROCID", "0"}, {"SLURM_NTASKS", "1"}, {"SLURM_LOCALID", "0"}});
  EXPECT_EQ(s.launcher, "Slurm");
  EXPECT_EQ(s.world_size, 1);
}

// minidl's own wins over OpenMPI, and OpenMPI over Slurm (an mpirun inside an allocation).
TEST(Bootstrap, Precedence) {
  Env env = {{"SLURM_PROCID", "0"},         {"SLURM_NTASKS", "1"},
             {"SLURM_LOCALID", "0"},        {"OMPI_COMM_WORLD_RANK", "1"},
             {"OMPI_COMM_WORLD_SIZE", "2"}, {"OMPI_COMM_WORLD_LOCAL_RANK", "1"}};
  RankInfo o = rank_info_from_env(env);
  EXPECT_EQ(o.launcher, "OpenMPI");
  EXPECT_EQ(o.rank, 1);
  env["MINIDL_RANK"] = "2";
  env["MINIDL_WORLD_SIZE"] = "4";
  env["MINIDL_LOCAL_RANK"] = "0";
  RankInfo m = rank_info_from_env(env);
  EXPECT_EQ(m.launcher, "minidl");
  EXPECT_EQ(m.rank, 2);
  EXPECT_EQ(m.world_size, 4);
}

TEST(Bootstrap, BadValuesNameTheVariable) {
  auto with = [](const std::string& rank, const std::string& size, const std::string& local) {
    return Env{{"MINIDL_RANK", rank}, {"MINIDL_WORLD_SIZE", size}, {"MINIDL_LOCAL_RANK", local}};
  };
  for (const char* bad : {"", "-1", "+1", " 1", "1 ", "1x", "0x1", "1.0", "9999999999", "abc"})
    EXPECT_MINIDL_ERROR(rank_info_from_env(with(bad, "4", "0")), "MINIDL_RANK='",
                        "not a non-negative decimal integer");
  EXPECT_MINIDL_ERROR(rank_info_from_env(with("0", "0", "0")), "MINIDL_WORLD_SIZE='0'",
                      "at least 1");
  EXPECT_MINIDL_ERROR(rank_info_from_env(with("4", "4", "0")), "MINIDL_RANK='4'",
                      "not below the world size");
  EXPECT_MINIDL_ERROR(rank_info_from_env(with("0", "4", "4")), "MINIDL_LOCAL_RANK='4'");
  EXPECT_MINIDL_ERROR(rank_info_from_env({{"SLURM_PROCID", "1"}, {"SLURM_NTASKS", "2"}}),
                      "SLURM_LOCALID is not set", "Slurm");
  EXPECT_MINIDL_ERROR(rank_info_from_env({{"OMPI_COMM_WORLD_SIZE", "2"}}),
                      "OMPI_COMM_WORLD_RANK is not set");
}

struct TempDir {
  std::filesystem::path path;
  TempDir() {
    path =
        std::filesystem::temp_directory_path() /
        ("minidl_dist_test_" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) +
         "_" + ::testing::UnitTest::GetInstance()->current_test_info()->name() + "_" +
         std::to_string(std::chrono::steady_clock::now().time_since_epoch().count()));
    std::filesystem::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
};

// Rank 1 starts polling before rank 0 writes (rank 0 is late by 50 ms) and gets rank 0's bytes.
TEST(Bootstrap, FileExchangeBetweenTwoThreads) {
  TempDir dir;
  std::vector<uint8_t> id(128);
  for (size_t i = 0; i < id.size(); ++i) id[i] = static_cast<uint8_t>(i * 7 + 3);
  std::vector<uint8_t> got;
  std::string error;
  std::thread rank1([&] {
    try {
      got = exchange_blob_via_file(dir.path.string(), "nccl_id.run1", 1, {}, 128, 10.0);
    } catch (const Error& e) {
      error = e.what();
    }
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(exchange_blob_via_file(dir.path.string(), "nccl_id.run1", 0, id, 128, 10.0), id);
  rank1.join();
  EXPECT_EQ(error, "");
  EXPECT_EQ(got, id);
  // Only the file itself is left: the temporary was renamed over it.
  size_t files = 0;
  for (auto& e : std::filesystem::directory_iterator(dir.path)) files += e.is_regular_file();
  EXPECT_EQ(files, 1u);
}

TEST(Bootstrap, FileExchangeTimesOutClearly) {
  TempDir dir;
  auto start = std::chrono::steady_clock::now();
  EXPECT_MINIDL_ERROR(exchange_blob_via_file(dir.path.string(), "id", 1, {}, 128, 0.2),
                      "rank 1 waited 0.2 s", "which rank 0 writes");
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
}

TEST(Bootstrap, FileExchangeRejectsWrongSizeAndBadNames) {
  TempDir dir;
  write_file_atomic((dir.path / "id").string(), std::string("short"));
  EXPECT_MINIDL_ERROR(exchange_blob_via_file(dir.path.string(), "id", 1, {}, 128, 1.0),
                      "holds 5 bytes, expected 128");
  EXPECT_MINIDL_ERROR(exchange_blob_via_file(dir.path.string(), "../id", 1, {}, 128, 1.0),
                      "may hold only");
  EXPECT_MINIDL_ERROR(exchange_blob_via_file(dir.path.string(), "id2", 0, {1, 2}, 128, 1.0),
                      "rank 0's blob has 2 bytes");
}

}  // namespace
}  // namespace minidl
