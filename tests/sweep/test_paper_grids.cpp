// The paper's tables as sweep grids (tools/paper/*.yaml, docs/results.md "Paper tables"): every grid
// parses and every run's settings pass train's checks; every row of the paper tables has the
// paper's number beside it (paper_values.json); and one run of every row completes 8 iterations on
// synthetic data of its dataset's shape and class count, through the sweep itself (2 slots), so the
// tables are known to start on a machine with the data. 8 iterations, not 5: the step baselines'
// drops at 50/75/87.5/93.75% of training must fall on distinct iterations (5 gives 3, 4, 4, 5). The
// synthetic epoch is long (64 iterations and more, but for ImageNet's, whose schedules count
// iterations), so schedules given in epochs stay near their start, as in the first iterations of
// the real run; LeNet's batch is 64: squeezed into a few small batches of random labels, its 1cycle
// rows diverged. About 70 s on 2 cores; the ImageNet rows (ResNet-50 at 224x224) half of it.
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>

#include "tests/integration/cli_util.h"
#include "tests/sweep/sweep_util.h"
#include "tools/train/cli.h"
#include "tools/train/sweep.h"

namespace minidl {
namespace {

namespace fs = std::filesystem;

std::string paper_dir() {
  const char* env = std::getenv("MINIDL_SOURCE_DIR");
  return (env ? std::string(env) : fs::current_path().string()) + "/tools/paper";
}

std::vector<fs::path> grid_files() {
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(paper_dir()))
    if (e.path().extension() == ".yaml") files.push_back(e.path());
  std::sort(files.begin(), files.end());
  return files;
}

// The synthetic stand-in of a dataset: image shape, classes, images, and the batch that keeps the
// check quick.
struct Standin {
  std::string shape;
  int classes, images, batch;
};
Standin synthetic_like(const std::string& dataset) {
  if (dataset == "cifar10") return {"3x32x32", 10, 1024, 2};
  if (dataset == "cifar100") return {"3x32x32", 100, 1024, 2};
  if (dataset == "imagefolder") return {"3x224x224", 1000, 64, 2};  // ImageNet
  return {"1x28x28", 10, 4096, 64};                                 // mnist, fashion-mnist
}

#define SKIP_WITHOUT_YAML()                                                        \
  do {                                                                             \
    if (!MINIDL_WITH_YAML) GTEST_SKIP() << "this build reads no YAML (portable)"; \
  } while (0)

TEST(PaperGrids, EveryGridParsesAndHasThePapersNumbers) {
  SKIP_WITHOUT_YAML();
  const std::vector<fs::path> files = grid_files();
  ASSERT_GE(files.size(), 8u) << paper_dir();
  nlohmann::json paper =
      nlohmann::json::parse(sweep_test::text_of(paper_dir() + "/paper_values.json"));
  for (const fs::path& f : files) {
    SCOPED_TRACE(f.string());
    cli::Grid g = cli::read_grid(f.string());
    std::set<std::string> rows;
    for (const cli::SweepRun& r : g.runs) rows.insert(r.row);
    EXPECT_EQ(g.runs.size(), rows.size() * (f.stem() == "text_imagenet_resnet50" ? 1 : 4))
        << "the paper's protocol: 4 runs of every configuration";
    const std::string stem = f.stem().string();
    if (stem == "table2_fashion_lenet") continue;  // the paper has no Fashion-MNIST numbers
    ASSERT_TRUE(paper.contains(stem)) << "paper_values.json has no " << stem;
    for (const std::string& row : rows) EXPECT_TRUE(paper[stem].contains(row)) << row;
    EXPECT_EQ(paper[stem].size(), rows.size());
  }
}

TEST(PaperGrids, EveryRowRunsOnSyntheticDataOfItsShape) {
  SKIP_WITHOUT_YAML();
  cli_test::TempDir tmp;
  for (const fs::path& f : grid_files()) {
    SCOPED_TRACE(f.string());
    cli::Grid g = cli::read_grid(f.string());
    const Standin d = synthetic_like(g.runs[0].settings["dataset"].get<std::string>());
    const std::string out = tmp / f.stem().string();
    cli_test::Result r = cli_test::run(
        "sweep " + f.string() + " --out " + out +
        " --slots 2 --threads-per-run 1 --repeats 1 --set dataset=synthetic --set synthetic_shape=" +
        d.shape + " --set synthetic_classes=" + std::to_string(d.classes) +
        " --set synthetic_images=" + std::to_string(d.images) +
        " --set batch_size=" + std::to_string(d.batch) +
        " --set iterations=8 --set eval_batches=1 --set log_every=8 --set checkpoint_every=-1"
        " --set workers=1");
    ASSERT_EQ(r.code, 0) << r.output;
    sweep_test::Table t = sweep_test::read_results(out + "/results.csv");
    std::set<std::string> rows;
    for (const cli::SweepRun& run : g.runs) rows.insert(run.row);
    EXPECT_EQ(t.size(), rows.size());
    for (const auto& [id, cells] : t) {
      EXPECT_EQ(cells.at("status"), "done") << id;
      EXPECT_EQ(cells.at("iterations"), "8") << id;
    }
  }
}

}  // namespace
}  // namespace minidl
