// The config reader's limits (tools/train/config_file.h): a YAML "billion laughs" took 48 s and
// 8 GB before bad_alloc, and a key given twice in a YAML map silently won (issue 12, item 13).
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>

#include "core/file_io.h"
#include "tests/data/data_testing.h"
#include "tests/testing.h"
#include "tools/train/cli.h"
#include "tools/train/config_file.h"

namespace minidl::cli {
namespace {

// 9 levels of 9 aliases each: 9^9 = 387,420,489 strings once expanded, from ~300 bytes.
std::string billion_laughs() {
  std::string y =
      "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n";
  for (char c = 'b'; c <= 'i'; ++c) {
    y += std::string(1, c) + ": &" + c + " [";
    for (int k = 0; k < 9; ++k) y += std::string(k ? ",*" : "*") + static_cast<char>(c - 1);
    y += "]\n";
  }
  return y;
}

// The YAML cases need the YAML reader, which MINIDL_PORTABLE builds (the GPU machine's bundle) lack;
// their JSON cases run everywhere.
#define SKIP_WITHOUT_YAML() \
  if (!MINIDL_WITH_YAML) GTEST_SKIP() << "a MINIDL_PORTABLE build reads JSON configs only"

TEST(ConfigFile, AliasExpansionIsBounded) {
  SKIP_WITHOUT_YAML();
  auto start = std::chrono::steady_clock::now();
  EXPECT_ERROR_MESSAGE(config_from_text(billion_laughs(), "laughs.yaml"), UsageError, "laughs.yaml",
                       "more than 10000 values once aliases are expanded");
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
  // An alias inside its own anchor stands for an infinite tree.
  EXPECT_ERROR_MESSAGE(config_from_text("a: &x [1, *x]\n", "self.yaml"), UsageError, "self.yaml");
  // Aliases within the limit still work.
  nlohmann::json j = config_from_text("seed: &s 7\nworkers: *s\nlr: {base: 0.1}\n", "ok.yaml");
  EXPECT_EQ(j["workers"], 7);
  EXPECT_EQ(j["lr"]["base"], 0.1);
}

TEST(ConfigFile, RepeatedKeysAreErrors) {
  EXPECT_ERROR_MESSAGE(config_from_text(R"({"epochs": 1, "epochs": 2})", "r.json"), UsageError,
                       "r.json", "key 'epochs' appears twice");
  SKIP_WITHOUT_YAML();
  EXPECT_ERROR_MESSAGE(config_from_text("batch_size: 32\nepochs: 1\nbatch_size: 64\n", "r.yaml"),
                       UsageError, "r.yaml:3", "key 'batch_size' appears twice");
  EXPECT_ERROR_MESSAGE(config_from_text("lr:\n  name: fixed\n  name: step\n", "r.yaml"), UsageError,
                       "r.yaml:3", "key 'name' appears twice");
  EXPECT_ERROR_MESSAGE(config_from_text("? [a, b]\n: 1\n", "k.yaml"), UsageError, "k.yaml:1",
                       "a map key must be a plain scalar");
}

TEST(ConfigFile, TextMustBeUtf8) {  // settings print values in messages, and JSON needs UTF-8
  SKIP_WITHOUT_YAML();
  EXPECT_ERROR_MESSAGE(config_from_text("model: \xff\xfe\n", "u.yaml"), UsageError, "u.yaml:1",
                       "not UTF-8");
  EXPECT_ERROR_MESSAGE(config_from_text("\xc0\xaf: 1\n", "u.yaml"), UsageError, "u.yaml:1",
                       "not UTF-8");
}

TEST(ConfigFile, SizeAndDepthAreBounded) {
  std::string deep(100, '['), closed(100, ']');
  if (MINIDL_WITH_YAML)
    EXPECT_ERROR_MESSAGE(config_from_text("a: " + deep + closed + "\n", "d.yaml"), UsageError,
                         "d.yaml:1", "nested more than 64 levels");
  EXPECT_ERROR_MESSAGE(config_from_text("{\"a\": " + deep + closed + "}", "d.json"), UsageError,
                       "d.json", "nested more than 64 levels");
  std::string big = "model: lenet\n# " + std::string(kMaxConfigBytes, 'x') + "\n";
  EXPECT_ERROR_MESSAGE(config_from_text(big, "big.yaml"), UsageError, "big.yaml",
                       "may hold 1048576 at most");
  testing::TempDir dir;
  write_file_atomic(dir / "big.yaml", big);
  EXPECT_ERROR_MESSAGE(read_config_file(dir / "big.yaml"), UsageError, "big.yaml",
                       "bytes; a config");
}

}  // namespace
}  // namespace minidl::cli
