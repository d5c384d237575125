// The config reader's limits (tools/train/config_file.h): a YAML "billion laughs" took 48 s and
// 8 GB before bad_alloc, and a key given twice in a YAML map silently won (issue 12, item 13).
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>

#include "core/file_io.h"
#include "tests/data/data_testing.h"
#include "tools/train/cli.h"
#include "tools/train/config_file.h"

namespace minidl::cli {
namespace {

// Runs `fn`, expecting a UsageError whose message holds every fragment.
template <typename Fn>
void expect_usage_error(Fn fn, const std::vector<std::string>& fragments) {
  try {
    fn();
    ADD_FAILURE() << "expected a UsageError";
  } catch (const UsageError& e) {
    for (const std::string& f : fragments)
      EXPECT_NE(std::string(e.what()).find(f), std::string::npos)
          << "'" << f << "' not in: " << e.what();
  }
}

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

TEST(ConfigFile, AliasExpansionIsBounded) {
  auto start = std::chrono::steady_clock::now();
  expect_usage_error([] { config_from_text(billion_laughs(), "laughs.yaml"); },
                     {"laughs.yaml", "more than 100000 values once aliases are expanded"});
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
  // An alias inside its own anchor stands for an infinite tree.
  expect_usage_error([] { config_from_text("a: &x [1, *x]\n", "self.yaml"); }, {"self.yaml"});
  // Aliases within the limit still work.
  nlohmann::json j = config_from_text("seed: &s 7\nworkers: *s\nlr: {base: 0.1}\n", "ok.yaml");
  EXPECT_EQ(j["workers"], 7);
  EXPECT_EQ(j["lr"]["base"], 0.1);
}

TEST(ConfigFile, RepeatedKeysAreErrors) {
  expect_usage_error(
      [] { config_from_text("batch_size: 32\nepochs: 1\nbatch_size: 64\n", "r.yaml"); },
      {"r.yaml:3", "key 'batch_size' appears twice"});
  expect_usage_error([] { config_from_text("lr:\n  name: fixed\n  name: step\n", "r.yaml"); },
                     {"r.yaml:3", "key 'name' appears twice"});
  expect_usage_error([] { config_from_text(R"({"epochs": 1, "epochs": 2})", "r.json"); },
                     {"r.json", "key 'epochs' appears twice"});
  expect_usage_error([] { config_from_text("model: \xff\xfe\n", "u.yaml"); },
                     {"u.yaml:1", "not UTF-8"});  // settings print values: JSON needs UTF-8
  expect_usage_error([] { config_from_text("\xc0\xaf: 1\n", "u.yaml"); },
                     {"u.yaml:1", "not UTF-8"});
  expect_usage_error([] { config_from_text("? [a, b]\n: 1\n", "k.yaml"); },
                     {"k.yaml:1", "a map key must be a plain scalar"});
}

TEST(ConfigFile, SizeAndDepthAreBounded) {
  std::string deep;
  for (int i = 0; i < 100; ++i) deep += "[";
  expect_usage_error(
      [&] { config_from_text("a: " + deep + std::string(100, ']') + "\n", "d.yaml"); },
      {"d.yaml:1", "nested more than 64 levels"});
  expect_usage_error(
      [&] { config_from_text("{\"a\": " + deep + std::string(100, ']') + "}", "d.json"); },
      {"d.json", "nested more than 64 levels"});
  std::string big = "model: lenet\n# " + std::string(kMaxConfigBytes, 'x') + "\n";
  expect_usage_error([&] { config_from_text(big, "big.yaml"); },
                     {"big.yaml", "may hold 1048576 at most"});
  testing::TempDir dir;
  write_file_atomic(dir / "big.yaml", big);
  expect_usage_error([&] { read_config_file(dir / "big.yaml"); }, {"big.yaml", "bytes; a config"});
}

}  // namespace
}  // namespace minidl::cli
