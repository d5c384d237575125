// The optimiser against PyTorch itself (Debian's python3-torch through /usr/bin/python3):
// - OneCycleLR (two/three phases, cos/linear, div factors, pct_start, momentum cycling) and
//   CyclicLR (triangular, triangular2, exp_range) at every step, 1e-9 relative in double;
// - torch.optim.SGD (Nesterov on/off, weight decay) over 5 steps with changing LR and momentum
//   against minidl's torch form, 1e-6 relative in f32.
// The committed scripts tests/reference/optim_*_reference.py write torch's values to a fresh
// temporary folder. Skipped when `import torch` fails.
#include <gtest/gtest.h>

#include <unistd.h>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "optim/schedule.h"
#include "optim/sgd.h"
#include "tests/testing.h"

namespace minidl {
namespace {

namespace fs = std::filesystem;

bool torch_available() {
  return std::system("/usr/bin/python3 -c 'import torch' > /dev/null 2>&1") == 0;
}

// A fresh folder under the system temp dir, removed when the test ends.
struct TempDir {
  fs::path path;
  TempDir() {
    static int counter = 0;
    path = fs::temp_directory_path() /
           ("minidl_optim_ref_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
    fs::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

// Runs tests/reference/<script> OUTDIR with /usr/bin/python3.
void run_script(const std::string& script, const fs::path& out) {
  const char* src = std::getenv("MINIDL_SOURCE_DIR");
  fs::path path = fs::path(src ? src : ".") / "tests" / "reference" / script;
  ASSERT_TRUE(fs::exists(path)) << path << " not found (set MINIDL_SOURCE_DIR)";
  std::string cmd = "/usr/bin/python3 '" + path.string() + "' '" + out.string() + "'";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
}

bool close(double actual, double ref, double rtol, double atol) {
  return std::fabs(actual - ref) <= atol + rtol * std::fabs(ref);
}

TEST(OptimReference, OneCycleLrAndCyclicLrMatchPyTorchAtEveryStep) {
  if (!torch_available()) GTEST_SKIP() << "PyTorch is not importable by /usr/bin/python3";
  TempDir dir;
  ASSERT_NO_FATAL_FAILURE(run_script("optim_schedules_reference.py", dir.path));
  int files = 0;
  for (int k = 0;; ++k) {
    std::ifstream in(dir.path / ("schedule_" + std::to_string(k) + ".csv"));
    if (!in) break;
    ++files;
    std::string lr_line, mom_line, header, row;
    std::getline(in, lr_line);
    std::getline(in, mom_line);
    std::getline(in, header);
    ASSERT_EQ(lr_line.rfind("# lr: ", 0), 0u);
    auto lr = parse_schedule(lr_line.substr(6), ScheduleRole::lr);
    auto mom = parse_schedule(mom_line.substr(12), ScheduleRole::momentum);
    SCOPED_TRACE(lr->spec());
    int64_t rows = 0, bad = 0;
    while (std::getline(in, row)) {
      long long step = 0;
      double want_lr = 0, want_mom = 0;
      ASSERT_EQ(std::sscanf(row.c_str(), "%lld,%lf,%lf", &step, &want_lr, &want_mom), 3) << row;
      ++rows;
      if (!close(lr->value(step), want_lr, 1e-9, 1e-15) ||
          !close(mom->value(step), want_mom, 1e-9, 1e-15)) {
        if (++bad <= 5)
          ADD_FAILURE() << "step " << step << ": lr " << lr->value(step) << " vs torch " << want_lr
                        << ", momentum " << mom->value(step) << " vs torch " << want_mom;
      }
    }
    EXPECT_GT(rows, 0);
    EXPECT_EQ(bad, 0) << "of " << rows << " steps";
  }
  EXPECT_EQ(files, 8);
}

// ---- torch.optim.SGD ----

struct SgdCase {
  bool nesterov = false;
  double weight_decay = 0;
  std::vector<double> lr, momentum;
  std::vector<std::vector<float>> init;
  std::map<std::pair<int, int>, std::vector<float>> grad, result;  // (step, tensor)
};

std::vector<double> read_numbers(std::istringstream& in) {
  std::vector<double> v;
  double x;
  while (in >> x) v.push_back(x);
  return v;
}

std::vector<float> to_floats(const std::vector<double>& v) {
  return std::vector<float>(v.begin(), v.end());  // each value is an exact f32
}

SgdCase read_case(const fs::path& path) {
  SgdCase c;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream ls(line);
    std::string tag;
    ls >> tag;
    if (tag == "config") {
      int n;
      ls >> n >> c.weight_decay;
      c.nesterov = n != 0;
    } else if (tag == "lr") {
      c.lr = read_numbers(ls);
    } else if (tag == "momentum") {
      c.momentum = read_numbers(ls);
    } else if (tag == "init") {
      int i;
      ls >> i;
      c.init.resize(i + 1);
      c.init[i] = to_floats(read_numbers(ls));
    } else if (tag == "grad" || tag == "result") {
      int step, i;
      ls >> step >> i;
      (tag == "grad" ? c.grad : c.result)[{step, i}] = to_floats(read_numbers(ls));
    }
  }
  return c;
}

TEST(OptimReference, TorchFormMatchesTorchOptimSgdOverFiveSteps) {
  if (!torch_available()) GTEST_SKIP() << "PyTorch is not importable by /usr/bin/python3";
  TempDir dir;
  ASSERT_NO_FATAL_FAILURE(run_script("optim_sgd_reference.py", dir.path));
  int cases = 0;
  for (int k = 0; fs::exists(dir.path / ("sgd_" + std::to_string(k) + ".txt")); ++k, ++cases) {
    SgdCase c = read_case(dir.path / ("sgd_" + std::to_string(k) + ".txt"));
    SCOPED_TRACE("nesterov " + std::to_string(c.nesterov) + ", weight decay " +
                 std::to_string(c.weight_decay));
    ASSERT_EQ(c.lr.size(), 5u);
    ASSERT_EQ(c.init.size(), 3u);
    std::vector<Parameter> ps(c.init.size());
    for (size_t i = 0; i < ps.size(); ++i) {
      int64_t n = static_cast<int64_t>(c.init[i].size());
      ps[i].name = "p" + std::to_string(i);
      ps[i].value = Tensor::from_vector(c.init[i], {n});
      ps[i].grad = Tensor::zeros({n});
    }
    std::vector<Parameter*> ptrs;
    for (Parameter& p : ps) ptrs.push_back(&p);
    Sgd sgd(ParameterArena::pack(ptrs), {SgdForm::torch, c.nesterov, c.weight_decay});
    for (int step = 0; step < 5; ++step) {
      for (size_t i = 0; i < ps.size(); ++i)
        ps[i].grad.copy_(Tensor::from_vector(c.grad.at({step, int(i)}), ps[i].grad.shape()));
      ASSERT_TRUE(sgd.step(c.lr[step], c.momentum[step]));
      for (size_t i = 0; i < ps.size(); ++i) {
        Tensor want = Tensor::from_vector(c.result.at({step, int(i)}), ps[i].value.shape());
        EXPECT_TRUE(testing::all_close(ps[i].value, want, 1e-7, 1e-6))
            << "step " << step << ", tensor " << i;
      }
    }
  }
  EXPECT_EQ(cases, 4);
}

}  // namespace
}  // namespace minidl
