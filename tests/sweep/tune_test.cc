// infermark tune and advise as a user runs them, on the fake framework, whose speed the test
// controls: throughput grows with the batch, with requests in flight, and with mode=fast (a
// setting it declares for the tuner). The tuner must find all three, confirm the winner against
// the defaults in interleaved rounds, continue a killed run without redoing its cells, and
// write a study file that bench reruns.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include "tests/command.h"

namespace {
namespace fs = std::filesystem;
using infermark::result_lines;

std::string program() {
  return std::string("INFERMARK_PLUGIN_PATH=") + FAKE_PLUGIN_DIR + " " + INFERMARK_BINARY;
}

class Tune : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("infermark_tune_" + std::to_string(getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
    setenv("INFERMARK_CACHE_DIR", (dir_ / "cache").c_str(), 1);
  }
  void TearDown() override { fs::remove_all(dir_); }
  // A small model on the fake: 40 ms a batch, halved by mode=fast.
  std::string args() const {
    return "--model resnet50 --input-size 64 --width 0.25 --backends fake "
           "--fix fake.service_ms=40 --batches 1,2,4 --concurrency 1,2 --precision fp32 "
           "--cell-seconds 0.5 --confirm-rounds 3 --finalists 2 --budget 5m --out " +
           (dir_ / "t.jsonl").string();
  }
  infermark::CommandRun tune(const std::string& more = "") const {
    return infermark::run_command(program() + " tune " + args() + " " + more + " 2>&1 </dev/null");
  }
  fs::path dir_;
};

TEST_F(Tune, FindsBatchConcurrencyAndSettingAndConfirmsThemAgainstTheDefaults) {
  const infermark::CommandRun r = tune();
  ASSERT_EQ(r.code, 0) << r.output;
  // The winner: the largest batch, two requests in flight, mode=fast.
  const size_t at = r.output.find("winner: ");
  ASSERT_NE(at, std::string::npos) << r.output;
  const std::string winner = r.output.substr(at, r.output.find('\n', at) - at);
  EXPECT_NE(winner.find("batch 4"), std::string::npos) << winner;
  EXPECT_NE(winner.find("x2"), std::string::npos) << winner;
  EXPECT_NE(winner.find("mode=fast"), std::string::npos) << winner;

  // Every cell is a result line of its phase; the confirmation ran each finalist and the
  // defaults once per round.
  std::map<std::string, int> by_arm;
  std::set<std::string> keys;
  std::map<int, std::set<std::string>> confirmed;  // round -> configurations
  for (const auto& l : result_lines(dir_ / "t.jsonl")) {
    EXPECT_EQ(l["status"], "ok") << l.dump();
    EXPECT_TRUE(keys.insert(l["cell_key"].get<std::string>()).second) << "a cell ran twice";
    by_arm[l["arm"]]++;
    if (l["arm"] == "tune:confirm")
      confirmed[l["round"].get<int>()].insert(l["backend"]["settings_asked"].dump() +
                                              std::to_string(l["batch"].get<int>()) +
                                              std::to_string(l["concurrency"].get<int>()));
  }
  EXPECT_GE(by_arm["tune:screen"], 1);
  EXPECT_GE(by_arm["tune:explore"], 4);  // batches 2 and 4, concurrency 2, mode=fast
  EXPECT_GE(by_arm["tune:rung"], 2);
  ASSERT_EQ(confirmed.size(), 3u);
  for (const auto& [round, configs] : confirmed) EXPECT_EQ(configs.size(), 3u) << round;

  // 4 images per 20 ms with 2 requests in flight against 1 image per 40 ms: 16x, and the
  // interval, paired over the 3 rounds, lies above 1.
  const size_t vs = r.output.find("winner / defaults ");
  ASSERT_NE(vs, std::string::npos) << r.output;
  const double ratio = std::atof(r.output.c_str() + vs + 18);
  EXPECT_GT(ratio, 8) << r.output.substr(vs, 80);
  EXPECT_LT(ratio, 24) << r.output.substr(vs, 80);
  EXPECT_NE(r.output.find("Pareto front"), std::string::npos);

  // The study file reruns the winner and the baseline's defaults with bench.
  const fs::path study = dir_ / "t.toml";
  ASSERT_TRUE(fs::exists(study)) << r.output;
  const infermark::CommandRun rerun = infermark::run_command(
      program() + " --config " + study.string() + " bench --rounds 1 --min-duration 0.05 " +
      "--warmup 0 --out " + (dir_ / "rerun.jsonl").string() + " 2>&1 </dev/null");
  ASSERT_EQ(rerun.code, 0) << rerun.output;
  bool winner_again = false, defaults_again = false;
  for (const auto& l : result_lines(dir_ / "rerun.jsonl")) {
    const auto& s = l["backend"]["settings_asked"];
    if (l["batch"] == 4 && l["concurrency"] == 2 && s.value("mode", "") == "fast")
      winner_again = true;
    if (l["batch"] == 1 && l["concurrency"] == 1 && s.value("mode", "plain") == "plain")
      defaults_again = true;
  }
  EXPECT_TRUE(winner_again);
  EXPECT_TRUE(defaults_again);

  // advise reads the tuning run like any results.
  const infermark::CommandRun advice =
      infermark::run_command(program() + " advise " + (dir_ / "t.jsonl").string() + " 2>&1");
  ASSERT_EQ(advice.code, 0) << advice.output;
  EXPECT_NE(advice.output.find("mode=fast"), std::string::npos) << advice.output;
}

// Killed midway (SIGKILL: no chance to clean up), the same command continues: the cells
// already measured are not run again, and the run ends with an answer.
TEST_F(Tune, AKilledRunContinuesWithoutRedoingItsCells) {
  const fs::path out = dir_ / "t.jsonl";
  const std::string cmd = program() + " tune " + args() +
                          " >/dev/null 2>&1 & pid=$!; "
                          "for i in $(seq 1 300); do [ $(cat " +
                          out.string() +
                          " 2>/dev/null | wc -l) -ge 4 ] && break; sleep 0.1; done; "
                          "kill -KILL $pid; wait $pid 2>/dev/null; true";
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  const auto before = result_lines(out);
  ASSERT_GE(before.size(), 4u);
  const infermark::CommandRun r = tune();
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("continuing"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("winner: "), std::string::npos) << r.output;
  const auto after = result_lines(out);
  ASSERT_GT(after.size(), before.size());
  std::set<std::string> keys;
  for (size_t i = 0; i < after.size(); ++i) {
    EXPECT_TRUE(keys.insert(after[i]["cell_key"].get<std::string>()).second)
        << "cell " << i << " ran twice: " << after[i]["arm"];
    if (i < before.size()) {
      EXPECT_EQ(after[i], before[i]);
    }
  }
}

TEST_F(Tune, BadValuesGetOneLineAndNothingRuns) {
  for (const std::string bad :
       {"--constraint 'p99<50'", "--budget soon", "--scenario server", "--objective fastest",
        "--min-top1-agreement 0.99", "--set fake.mode=turbo", "--fix nothere.key=1",
        "--memory-limit lots"}) {
    const infermark::CommandRun r = tune(bad);
    EXPECT_NE(r.code, 0) << bad;
    EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'), 1) << bad << ": " << r.output;
    EXPECT_FALSE(fs::exists(dir_ / "t.jsonl")) << bad;
  }
  // A result file of another run is not mixed into this one.
  std::ofstream(dir_ / "t.jsonl") << "";
  const infermark::CommandRun bench = infermark::run_command(
      program() + " bench --models resnet50 --input-size 64 --width 0.25 --backends fake " +
      "--min-duration 0.05 --warmup 0 --out " + (dir_ / "other.jsonl").string() + " 2>&1");
  ASSERT_EQ(bench.code, 0) << bench.output;
  fs::copy_file(dir_ / "other.jsonl", dir_ / "t.jsonl", fs::copy_options::overwrite_existing);
  const infermark::CommandRun mixed = tune();
  EXPECT_NE(mixed.code, 0);
  EXPECT_NE(mixed.output.find("another run"), std::string::npos) << mixed.output;
}

}  // namespace
