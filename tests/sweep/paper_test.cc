// The paper's plan: what a budget leaves out and in which order (sweep/paper.h), and the cell
// estimate it plans with (sweep/estimate.h). No framework runs: the estimate is a function.
#include "sweep/paper.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <set>

#include "core/error.h"
#include "sweep/estimate.h"
#include "tests/command.h"

namespace infermark {
namespace {

PaperOptions options(bool quick) {
  PaperOptions o;
  o.quick = quick;
  o.backends = {"onnxruntime", "tvm"};
  return o;
}

// A stand-in for the cell estimate: each cell of a part's matrix costs 1 s, a framework named
// tvm 3 s, model vgg19 4 s, and a server cell 20 s (its peak search).
double cost(const std::vector<PaperPart>& parts) {
  double total = 0;
  for (const auto& p : parts) {
    const Study& s = p.study;
    for (const auto& m : s.models)
      for (const auto& b : s.backends)
        for (const auto& sc : s.scenarios) {
          double cell = (b == "tvm" ? 3 : 1) * (m == "vgg19" ? 4 : 1) * (sc == "server" ? 20 : 1);
          const double per_scenario =
              sc == "offline"    ? static_cast<double>(s.batches.size() * s.concurrencies.size())
              : sc == "ensemble" ? static_cast<double>(s.batches.size())
                                 : 1.0;
          total += cell * per_scenario * s.rounds;
        }
  }
  return total;
}

TEST(PaperBudget, AStudyThatFitsIsLeftWhole) {
  const auto parts = paper_parts(options(false));
  const PaperPlan plan = fit_to_budget(parts, cost(parts) + 1, cost);
  EXPECT_TRUE(plan.left_out.empty());
  EXPECT_EQ(plan.planned_s, plan.full_s);
  ASSERT_EQ(plan.parts.size(), 4u);
  EXPECT_EQ(plan.parts[0].study.rounds, 5);
  EXPECT_EQ(plan.parts[3].study.rounds, 5) << "the server's peak gets rounds too";
}

TEST(PaperBudget, LeavesOutInTheStatedOrderAndStopsWhenItFits) {
  const auto parts = paper_parts(options(false));
  // First the rounds, then the batches above 8, largest first.
  const double after_rounds = [&] {
    auto p = parts;
    p[0].study.rounds = 2;
    p[3].study.rounds = 2;
    return cost(p);
  }();
  const PaperPlan plan = fit_to_budget(parts, after_rounds - 1, cost);
  ASSERT_EQ(plan.left_out.size(), 2u);
  EXPECT_EQ(plan.left_out[0], "models: rounds 5 -> 2; server: rounds 5 -> 2");
  EXPECT_EQ(plan.left_out[1], "models: batch 64");
  EXPECT_LE(plan.planned_s, after_rounds - 1);
  EXPECT_EQ(plan.parts[0].study.batches, (std::vector<int64_t>{1, 2, 4, 8, 16, 32}));
}

TEST(PaperBudget, ASmallBudgetKeepsOneModelOnOneFrameworkAtBatchOne) {
  const auto parts = paper_parts(options(true));
  const PaperPlan plan = fit_to_budget(parts, 1, cost);
  ASSERT_EQ(plan.parts.size(), 1u);
  const Study& s = plan.parts[0].study;
  EXPECT_EQ(plan.parts[0].name, "models");
  EXPECT_EQ(s.models.size(), 1u);
  EXPECT_NE(s.models[0], "vgg19") << "the costliest model goes first";
  EXPECT_EQ(s.backends, (std::vector<std::string>{"onnxruntime"})) << "tvm costs more";
  EXPECT_EQ(s.batches, (std::vector<int64_t>{1}));
  EXPECT_EQ(s.scenarios, (std::vector<std::string>{"offline"}));
  EXPECT_EQ(s.rounds, 1);
  const auto& out = plan.left_out;
  auto at = [&](const std::string& what) {
    return std::find(out.begin(), out.end(), what) - out.begin();
  };
  // The stated order: ensemble before server before load times before single-stream, then
  // models (vgg19 first), then frameworks.
  EXPECT_LT(at("the ensemble part"), at("the server part"));
  EXPECT_LT(at("the server part"), at("the loading part"));
  EXPECT_LT(at("the loading part"), at("models: single-stream"));
  EXPECT_LT(at("models: single-stream"), at("model vgg19"));
  EXPECT_LT(at("model vgg19"), at("framework tvm"));
  EXPECT_EQ(out.back(), "framework tvm");
}

TEST(PaperBudget, BelowTheSmallestStudyIsRefusedWithItsEstimate) {
  const auto parts = paper_parts(options(true));
  try {
    fit_to_budget(parts, 0.5, cost);
    FAIL() << "a budget below one cell was accepted";
  } catch (const Error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("below the smallest study"), std::string::npos) << what;
    EXPECT_NE(what.find("estimated at 0.0 min"), std::string::npos) << what;
  }
}

CellSpec cell(const std::string& backend, const std::string& scenario, int64_t batch, int round) {
  CellSpec c;
  c.model.name = "m";
  c.model.hash = "fnv1a64:1";
  c.model.flops_per_image = 4e9;
  c.backend = backend;
  c.scenario = scenario;
  c.batch = batch;
  c.round = round;
  c.limits.warmup_s = 0;
  c.limits.warmup_iterations = 0;
  c.limits.min_duration_s = 1;
  c.limits.min_iterations = 1;
  return c;
}

TEST(CellEstimate, ACompileIsCountedOncePerEngineAndInEveryLoadCell) {
  Machine m;
  m.cores_used = 2;
  m.peak_fp32_flops = 400e9;  // 200 GFLOP/s effective: a 4 GFLOP image takes 20 ms
  const CellEstimator e(m, {{"tvm", {10, 5}}});
  // Three rounds of one engine: one compile (10 + 5 x 4 GFLOP = 30 s).
  const Estimate rounds = e.estimate({cell("tvm", "offline", 1, 0), cell("tvm", "offline", 1, 1),
                                      cell("tvm", "single-stream", 1, 2)});
  EXPECT_EQ(rounds.compiles, 1u);
  EXPECT_DOUBLE_EQ(rounds.compile_seconds, 30);
  EXPECT_DOUBLE_EQ(rounds.seconds, 30 + 3 * (2 + 1));
  // Another batch is another engine; a load cell compiles in its own empty cache.
  const Estimate more = e.estimate(
      {cell("tvm", "offline", 1, 0), cell("tvm", "offline", 8, 0), cell("tvm", "load", 1, 0)});
  EXPECT_EQ(more.compiles, 3u);
  // A framework without a compile cost compiles nothing.
  EXPECT_EQ(e.estimate({cell("onnxruntime", "load", 1, 0)}).compiles, 0u);
}

TEST(CellEstimate, APeakSearchCountsItsProbesAndConfirmationsAtTheirMinimumLength) {
  Machine m;
  m.cores_used = 2;
  m.peak_fp32_flops = 400e9;  // 20 ms an image: 50 images/s one after another
  const CellEstimator e(m, {});
  CellSpec c = cell("onnxruntime", "server", 1, 0);
  ServerConfig s;
  s.duration_s = 1;
  s.min_queries = 20;  // raised to the 100 a p99 needs
  c.server = s;
  c.peak_slo_p99_ms = 500;
  // 2 s start, 0.5 s one after another, then seven probes and two confirming runs of 100
  // queries at 50/s (2 s each).
  EXPECT_NEAR(e.cell_seconds(c), 2 + 0.5 + 9 * 2, 1e-9);
  c.peak_slo_p99_ms.reset();
  c.server->rate_qps = 10;
  EXPECT_NEAR(e.cell_seconds(c), 2 + 2, 1e-9) << "20 queries at 10/s, no p99 rule";
}

CommandRun paper(const std::string& args) {
  return run_command(std::string("INFERMARK_PLUGIN_PATH=") + FAKE_PLUGIN_DIR + " " +
                     INFERMARK_BINARY + " paper --quick --backends fake --input-size 64 --width " +
                     "0.25 " + args + " 2>&1 </dev/null");
}

// The fake framework's small models, a budget far below the quick study: the plan says what it
// left out, fits the estimate, and the results and report hold only what it kept.
TEST(PaperBudget, ThePaperFitsItsBudgetAndSaysWhatItLeftOut) {
  const std::filesystem::path dir = std::filesystem::temp_directory_path() /
                                    ("infermark_paper_budget_" + std::to_string(getpid()));
  std::filesystem::remove_all(dir);
  const CommandRun r = paper("--budget 20s --out " + dir.string());
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("to fit --budget 0.3 min"), std::string::npos) << r.output;
  for (const char* part : {"the ensemble part", "the server part", "the loading part"})
    EXPECT_NE(r.output.find(std::string("  - ") + part + "\n"), std::string::npos) << r.output;
  std::set<std::string> scenarios;
  size_t rows = 0;
  for (const auto& l : result_lines(dir / "results.jsonl")) {
    scenarios.insert(l["scenario"].get<std::string>());
    ++rows;
  }
  EXPECT_GT(rows, 0u);
  EXPECT_EQ(scenarios, (std::set<std::string>{"offline"})) << r.output;
  EXPECT_TRUE(std::filesystem::exists(dir / "report" / "index.html")) << r.output;

  // A budget no study fits is refused before anything runs, with the smallest one's estimate.
  const CommandRun small = paper("--budget 1s --out " + (dir / "small").string());
  EXPECT_EQ(small.code, 1) << small.output;
  EXPECT_NE(small.output.find("below the smallest study"), std::string::npos) << small.output;
  EXPECT_FALSE(std::filesystem::exists(dir / "small" / "results.jsonl"));
  // A budget is a local run's: a study on Slurm has none.
  const CommandRun slurm = paper("--budget 30m --slurm --out " + (dir / "slurm").string());
  EXPECT_NE(slurm.code, 0);
  EXPECT_NE(slurm.output.find("excludes"), std::string::npos) << slurm.output;
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace infermark
