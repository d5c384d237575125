// Hostile but fair use of minidl_train (issue 12): each case that once crashed, answered wrongly or
// lost data is a row here. A bad-use row must exit 2 with one line naming the key or file, and
// leave an existing run directory byte for byte as it was; the run-directory rows check that runs
// never mix and that resumes are validated, fall back and say so.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <vector>

#include "core/safetensors.h"
#include "data/image_io.h"
#include "data/idx.h"
#include "optim/checkpoint.h"
#include "tests/integration/cli_util.h"

namespace minidl {
namespace {

namespace fs = std::filesystem;
using cli_test::run;
using cli_test::TempDir;

// Every file under `dir` with its bytes.
std::map<std::string, std::string> snapshot(const std::string& dir) {
  std::map<std::string, std::string> files;
  for (const auto& e : fs::recursive_directory_iterator(dir))
    if (e.is_regular_file()) {
      std::ifstream in(e.path(), std::ios::binary);
      files[e.path().string()] = std::string(std::istreambuf_iterator<char>(in), {});
    }
  return files;
}

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// A short LeNet run with checkpoints every 10 iterations (3 of them).
std::string small_run(const std::string& out, const std::string& extra = "", int iterations = 30) {
  return "train --model lenet --batch-size 32 --iterations " + std::to_string(iterations) +
         " --checkpoint-every 10 "
         "--keep-checkpoints 0 --eval-every 30 --eval-batches 2 --log-every 10 "
         "--lr fixed:value=0.01 --momentum 0.9 --threads 2 --workers 1 --out " +
         out + " " + extra;
}

void expect_bad_use(const std::string& args, const std::string& fragment,
                    const std::string& run_dir) {
  std::map<std::string, std::string> before = snapshot(run_dir);
  cli_test::Result r = run(args);
  EXPECT_EQ(r.code, 2) << args << "\n" << r.output;
  EXPECT_NE(r.output.find(fragment), std::string::npos) << args << "\n" << r.output;
  EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'), 1) << args << "\n" << r.output;
  EXPECT_TRUE(snapshot(run_dir) == before) << args << " changed " << run_dir;
}

TEST(BadInput, SettingsExitTwoNamingTheKeyAndTouchNothing) {
  SKIP_WITHOUT_FASHION();
  TempDir dir;
  const std::string out = dir / "run";
  ASSERT_EQ(run(small_run(out)).code, 0);
  const std::string nan_lr = cli_test::write_config(dir, "nan_lr", "lr: nan\n", R"({"lr": "nan"})");
  const std::string std0 = cli_test::write_config(dir, "std0", "normalize: {mean: [0.5], std: [0]}\n",
                                                  R"({"normalize": {"mean": [0.5], "std": [0]}})");
  // --force: even a forced run checks everything before it moves the old run aside
  const std::string tail = " --force --iterations 5 --threads 2 --out " + out;
  const std::pair<std::string, std::string> cases[] = {
      {"train --weight-decay nan" + tail, "--weight-decay: expected a number, got 'nan'"},
      {"train --weight-decay -1" + tail, "setting 'weight_decay' must be a finite number >= 0"},
      {"train --label-smoothing 2" + tail, "setting 'label_smoothing' must be in [0, 1)"},
      {"train --label-smoothing nan" + tail, "--label-smoothing: expected a number"},
      {"train --crop-pad -100" + tail, "setting 'crop_pad' must be >= 0"},
      {"train --workers -1" + tail, "setting 'workers' must be in [0, 256]"},
      {"train --workers 100000" + tail, "setting 'workers' must be in [0, 256]"},
      {"train --epochs -1 --iterations 0 --out " + out, "setting 'epochs' must be >= 0"},
      {"train --eval-batches 0" + tail, "setting 'eval_batches' must be positive, or -1"},
      {"train --config " + std0 + tail, "setting 'normalize'"},
      {"train --config " + nan_lr + tail, "schedule 'nan' is unknown"},
      {"train --lr fixed:value=0." + std::string(50000, '1') + tail, "key 'value'"},
      {"train --batch-size 99999999999999999999" + tail, "--batch-size: expected an integer"},
      {"train --batch-size 1000000000" + tail, "needs about"},
      {"train --out \"$(printf 'runs/\\377')\" --iterations 5", "'out' is not valid UTF-8"},
      {"predict --weights " + out + " --batch-size 0 --input x.npy --output y.npy",
       "setting 'batch_size' must be positive"},
      {"predict --weights " + out + " --batch-size -1 --input x.npy --output y.npy",
       "setting 'batch_size' must be positive"},
      {"train --resume " + out + " --lr 0.1", "--lr cannot be changed"},
  };
  for (const auto& [args, fragment] : cases) expect_bad_use(args, fragment, out);
  EXPECT_FALSE(fs::exists("runs/\377"));
}

TEST(BadInput, NonFiniteWeightsScoreZeroNotAHundredPercent) {
  SKIP_WITHOUT_FASHION();
  TempDir dir;
  ASSERT_EQ(run(small_run(dir / "run")).code, 0);
  TensorMap w = load_checkpoint(dir / "run").model;
  for (auto& [name, t] : w) t = Tensor::full(t.shape(), NAN, t.dtype());
  save_safetensors(dir / "nan.safetensors", w);
  cli_test::Result r = run("eval --weights " + (dir / "nan.safetensors") +
                           " --model lenet --threads 2 --batch-size 500");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("loss nan, top-1 0.00%, top-5 0.00%"), std::string::npos) << r.output;
}

TEST(BadInput, ForceMovesTheOldRunAsideAndEvalScoresTheNewOne) {
  SKIP_WITHOUT_FASHION();
  TempDir dir;
  const std::string out = dir / "run";
  ASSERT_EQ(run(small_run(out)).code, 0);
  std::map<std::string, std::string> old_files = snapshot(out);
  cli_test::Result r = run(small_run(out, "--force --seed 2", 20));
  ASSERT_EQ(r.code, 0) << r.output;
  const std::string said = "moved the run that was in " + out + " to ";
  size_t at = r.output.find(said);
  ASSERT_NE(at, std::string::npos) << r.output;
  std::string aside = r.output.substr(at + said.size());
  aside = aside.substr(0, aside.find('\n'));
  // the old run is whole where it went; the new directory holds the new run alone
  std::map<std::string, std::string> moved = snapshot(aside);
  ASSERT_EQ(moved.size(), old_files.size()) << aside;
  for (const auto& [path, bytes] : old_files)
    EXPECT_EQ(moved[aside + path.substr(out.size())], bytes) << path;
  std::vector<std::string> ckpts = list_checkpoints(out);
  ASSERT_EQ(ckpts.size(), 2u);  // 10 and 20, none of the old run's 30
  EXPECT_EQ(fs::path(ckpts.back()).filename(), "iter_000000020");
  EXPECT_EQ(read_text(out + "/metrics.csv").find("\n30,"), std::string::npos);
  r = run("eval --weights " + out + " --threads 2 --batch-size 1000");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find(ckpts.back() + " on "), std::string::npos) << r.output;
}

TEST(BadInput, ResumeIsValidatedFallsBackAndSaysWhenThereIsNothingToDo) {
  SKIP_WITHOUT_FASHION();
  TempDir dir;
  const std::string out = dir / "run";
  ASSERT_EQ(run(small_run(out)).code, 0);
  // a finished run: nothing to train, nothing written, no made-up accuracy
  std::map<std::string, std::string> before = snapshot(out);
  cli_test::Result r = run("train --resume " + out);
  EXPECT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("finished at iteration 30; nothing to train"), std::string::npos)
      << r.output;
  EXPECT_EQ(r.output.find("test accuracy"), std::string::npos) << r.output;
  EXPECT_TRUE(snapshot(out) == before);

  // the newest checkpoint with an impossible state, the one before cut short: the oldest is used
  std::vector<std::string> ckpts = list_checkpoints(out);
  ASSERT_EQ(ckpts.size(), 3u);
  std::string state = read_text(ckpts[2] + "/state.json");
  size_t at = state.find("\"iteration\": 30");
  ASSERT_NE(at, std::string::npos) << state;
  std::ofstream(ckpts[2] + "/state.json") << state.replace(at, 15, "\"iteration\": -5");
  fs::resize_file(ckpts[1] + "/optimizer.safetensors", 64);
  std::ofstream(out + "/metrics.csv", std::ios::app) << "garbage,\xff\n";
  r = run("train --resume " + out);
  EXPECT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("warning: skipped checkpoint " + ckpts[2]), std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("warning: skipped checkpoint " + ckpts[1]), std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("resumed from " + ckpts[0] + " at iteration 10"), std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("is not a metrics row; dropped"), std::string::npos) << r.output;

  // a checkpoint whose every field is wrong in another way: refused, with its reason
  state = read_text(ckpts[0] + "/state.json");
  at = state.find("\"iteration\": 10");
  ASSERT_NE(at, std::string::npos) << state;
  std::ofstream(ckpts[0] + "/state.json") << state.replace(at, 15, "\"iteration\": 1e12");
  for (const std::string& c : {ckpts[1], ckpts[2]}) fs::remove_all(c);
  before = snapshot(out);
  r = run("train --resume " + out);
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("no checkpoint of"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("'iteration' must be an integer"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find(" ["), std::string::npos) << "no source conditions: " << r.output;
  EXPECT_TRUE(snapshot(out) == before);
}

// A .npy file: magic, version 1.0, the header padded to 64 bytes, then `data` bytes of zeros.
void write_npy(const std::string& path, const std::string& header, size_t data, int version = 1) {
  std::string h = header;
  const size_t prefix = version == 1 ? 10 : 12;
  while ((prefix + h.size() + 1) % 64) h += ' ';
  h += '\n';
  std::string bytes = "\x93NUMPY";
  bytes += static_cast<char>(version);
  bytes += '\0';
  for (size_t i = 0; i < prefix - 8; ++i) bytes += static_cast<char>((h.size() >> (8 * i)) & 0xFF);
  std::ofstream(path, std::ios::binary) << bytes << h << std::string(data, '\0');
}

// Files a user might hand over, each built to break one parser the way issue 12 found; each exits
// 2 with one line naming the file, and writes nothing.
TEST(BadInput, HostileFilesExitTwoNamingTheFileAndTouchNothing) {
  SKIP_WITHOUT_FASHION();
  TempDir dir;
  const std::string out = dir / "run";
  ASSERT_EQ(run(small_run(out)).code, 0);
  // item 1: a shape whose product wraps (2^62 + 2 images of 28x28, 1,568 data bytes)
  write_npy(dir / "wrap.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': "
                              "(4611686018427387906, 1, 28, 28), }", 1568);
  // item 2: a 40 KB header without its closing quote
  write_npy(dir / "long.npy", "{'descr': '<f4" + std::string(40000, 'x'), 0, 2);
  // item 12: a 20-digit dimension, a negative one
  write_npy(dir / "digits.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': "
                                "(99999999999999999999, 28, 28), }", 0);
  write_npy(dir / "negative.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': "
                                  "(-4, 28, 28), }", 4 * 28 * 28 * 4);
  // item 1: safetensors with a shape past any size
  {
    std::string header = R"({"w":{"dtype":"F32","shape":[2,31e30],"data_offsets":[0,8]}})";
    std::string bytes(8, '\0');
    for (int i = 0; i < 8; ++i) bytes[i] = static_cast<char>((header.size() >> (8 * i)) & 0xFF);
    std::ofstream(dir / "wrap.safetensors", std::ios::binary) << bytes << header
                                                               << std::string(8, '\0');
  }
  // item 13: a 300-byte billion laughs; item 12: a key given twice
  {
    std::ofstream y(dir / "laughs.yaml");
    y << "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n";
    for (char c = 'b'; c <= 'i'; ++c) {
      y << c << ": &" << c << " [";
      for (int k = 0; k < 9; ++k) y << (k ? ", *" : "*") << static_cast<char>(c - 1);
      y << "]\n";
    }
  }
  const std::string twice =
      cli_test::write_config(dir, "twice", "batch_size: 32\nlr: fixed:value=0.1\nbatch_size: 64\n",
                             R"({"batch_size": 32, "lr": "fixed:value=0.1", "batch_size": 64})");
  const std::string predict = "predict --weights " + out + " --threads 2 --output " +
                              (dir / "y.npy") + " --input ";
  const std::string tail = " --force --iterations 5 --threads 2 --out " + out;
  std::vector<std::pair<std::string, std::string>> cases = {
      {predict + (dir / "wrap.npy"), "wrap.npy: 'shape' [4611686018427387906, 1, 28, 28]"},
      {predict + (dir / "long.npy"), "long.npy: header length"},
      {predict + (dir / "digits.npy"), "digits.npy: .npy header"},
      {predict + (dir / "negative.npy"), "negative.npy: .npy header"},
      {"eval --model lenet --threads 2 --weights " + (dir / "wrap.safetensors"),
       "wrap.safetensors"},
      {"train --config " + twice + tail, "key 'batch_size' appears twice"},
  };
  // Aliases are YAML's: a build without a YAML reader refuses the file for that alone.
  if (MINIDL_WITH_YAML)
    cases.push_back({"train --config " + (dir / "laughs.yaml") + tail, "values once aliases are expanded"});
  for (const auto& [args, fragment] : cases) expect_bad_use(args, fragment, out);
  EXPECT_FALSE(fs::exists(dir / "y.npy"));
}

// item 11: a PNG whose checksums are wrong is refused (stb alone decodes it), and --verify-images
// names every bad file before the run directory exists.
TEST(BadInput, VerifyImagesNamesCorruptFilesBeforeAnythingIsWritten) {
  TempDir dir;
  std::mt19937 rng(3);
  for (const char* split : {"train", "val"})
    for (const char* cls : {"a", "b"}) {
      const fs::path folder = fs::path(dir / "images") / split / cls;
      fs::create_directories(folder);
      for (int i = 0; i < 4; ++i) {
        Tensor img = Tensor::empty({3, 32, 32}, DType::u8);
        for (int64_t k = 0; k < img.numel(); ++k) img.data<uint8_t>()[k] = rng() & 0xFF;
        std::vector<uint8_t> png = encode_png(img);
        std::ofstream(folder / (std::to_string(i) + ".png"), std::ios::binary)
            .write(reinterpret_cast<const char*>(png.data()), png.size());
      }
    }
  // one byte of image data changed: the IDAT chunk's CRC-32 no longer matches
  const std::string bad = dir / "images/train/b/2.png";
  {
    std::fstream f(bad, std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(60);
    char c = 0;
    f.get(c);
    f.seekp(60);
    f.put(static_cast<char>(c ^ 0x55));
  }
  const std::string out = dir / "run";
  cli_test::Result r =
      run("train --dataset imagefolder --data-dir " + (dir / "images") +
          " --verify-images --model resnet18 --batch-size 4 --iterations 2 --threads 2 --out " +
          out);
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("1 of 8 images cannot be decoded"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find(bad + ": PNG chunk 'IDAT'"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("CRC mismatch"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(out));
}

}  // namespace
}  // namespace minidl
