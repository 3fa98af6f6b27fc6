// A study on a real Slurm: the ctest fixture slurm_cluster (tests/slurm/slurm_cluster.sh)
// starts Debian's munged, slurmctld and slurmd with a one-node configuration before this test
// and stops them after it; SLURM_CONF points the clients at it. The cells use the test's fake
// framework (build/tests/plugins), so the study takes seconds.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "core/result.h"
#include "tests/command.h"

namespace {
namespace fs = std::filesystem;

using Cmd = infermark::CommandRun;
using infermark::result_lines;

Cmd sh(const std::string& cmd) { return infermark::run_command(cmd + " 2>&1 </dev/null"); }

Cmd infermark(const std::string& args) {
  return sh(std::string("INFERMARK_PLUGIN_PATH=") + FAKE_PLUGIN_DIR + " " + INFERMARK_BINARY + " " +
            args);
}

std::string hostname() {
  char buf[256] = {};
  gethostname(buf, sizeof buf - 1);
  return buf;
}

// 12 cells (2 models x 3 batches x 2 service times), 2 per array task, submitted held so that
// one task can be cancelled before it starts; the other 5 tasks run, collect merges them and
// records the cancelled task's 2 cells; --resume submits exactly those 2 again.
TEST(Slurm, AStudyRunsAsAnArrayIsCollectedAndResumesWhatScancelStopped) {
  ASSERT_NE(std::getenv("SLURM_CONF"), nullptr) << "the slurm_cluster fixture sets SLURM_CONF";
  const fs::path dir = fs::temp_directory_path() / ("infermark_slurm_" + std::to_string(getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  const fs::path out = dir / "r.jsonl";
  const std::string study =
      "bench --models resnet50,efficientnet_b0 --backends fake --batches 1,2,4 "
      "--set fake.service_ms=2,3 --input-size 64 --width 0.25 --min-duration 0.1 --warmup 0 "
      "--out " +
      out.string() + " --slurm --cells-per-task 2";
  const std::string study_dir = (dir / "r.slurm").string();

  const Cmd submit = infermark(study + " --sbatch-arg=--hold");
  ASSERT_EQ(submit.code, 0) << submit.output;
  ASSERT_NE(submit.output.find("submitted 12 cells as job "), std::string::npos) << submit.output;
  const nlohmann::json state = nlohmann::json::parse(std::ifstream(dir / "r.slurm/study.json"));
  const std::string job = state["submissions"][0]["job"];
  ASSERT_EQ(state["submissions"][0]["tasks"].size(), 6u);
  const Cmd cancel = sh("scancel " + job + "_2");
  ASSERT_EQ(cancel.code, 0) << cancel.output;
  const Cmd release = sh("scontrol release " + job);
  ASSERT_EQ(release.code, 0) << release.output;

  const Cmd collected = infermark("collect " + study_dir + " --wait --poll 0.5");
  ASSERT_EQ(collected.code, 0) << collected.output;
  EXPECT_NE(collected.output.find("6 tasks: 5 done, 1 stopped by Slurm"), std::string::npos)
      << collected.output;
  std::map<std::string, std::string> status;  // cell key -> status
  for (const auto& l : result_lines(out)) status[l["cell_key"]] = l["status"];
  ASSERT_EQ(status.size(), 12u);
  std::set<std::string> stopped;
  for (const auto& [key, s] : status)
    if (s != "ok") stopped.insert(key);
  ASSERT_EQ(stopped.size(), 2u) << "task 2's two cells";
  for (const auto& l : result_lines(out))
    if (stopped.count(l["cell_key"])) {
      EXPECT_EQ(l["status"].get<std::string>().rfind("slurm_", 0), 0u) << l.dump();
      EXPECT_NE(l["message"].get<std::string>().find("array task 2 of job " + job),
                std::string::npos)
          << l.dump();
    }

  // Without --resume the study is not submitted twice.
  const Cmd again = infermark(study);
  EXPECT_NE(again.code, 0);
  EXPECT_NE(again.output.find("--resume"), std::string::npos) << again.output;

  const Cmd resume = infermark(study + " --resume");
  ASSERT_EQ(resume.code, 0) << resume.output;
  EXPECT_NE(resume.output.find("submitted 2 cells as job "), std::string::npos) << resume.output;
  const nlohmann::json after = nlohmann::json::parse(std::ifstream(dir / "r.slurm/study.json"));
  ASSERT_EQ(after["submissions"].size(), 2u);
  const fs::path cells = dir / "r.slurm" / after["submissions"][1]["cells"].get<std::string>();
  std::set<std::string> resubmitted;  // exactly the cells that Slurm stopped
  for (const auto& c : result_lines(cells))
    resubmitted.insert(infermark::cell_key(infermark::cell_from_json(c)));
  EXPECT_EQ(resubmitted, stopped);
  ASSERT_EQ(infermark("collect " + study_dir + " --wait --poll 0.5").code, 0);

  const auto rows = result_lines(out);
  std::set<std::string> keys;
  for (const auto& l : rows) {
    EXPECT_EQ(l["status"], "ok") << l.dump();
    EXPECT_EQ(l["node"], hostname()) << l.dump();
    EXPECT_TRUE(l["env"].contains("cpu_model")) << l.dump();
    keys.insert(l["cell_key"]);
  }
  EXPECT_EQ(rows.size(), 12u);
  EXPECT_EQ(keys, [&] {
    std::set<std::string> k;
    for (const auto& [key, s] : status) k.insert(key);
    return k;
  }());
  const Cmd report = infermark("report " + out.string() + " --out " + (dir / "report").string());
  EXPECT_EQ(report.code, 0) << report.output;
  EXPECT_TRUE(fs::exists(dir / "report" / "index.html"));
  fs::remove_all(dir);
}

// The paper's study on Slurm (two of its parts, the fake framework's small models): one array
// job, and collect --wait merges the tasks and writes the report that paper would have.
TEST(Slurm, ThePaperRunsAsAnArrayAndCollectWritesItsReport) {
  ASSERT_NE(std::getenv("SLURM_CONF"), nullptr) << "the slurm_cluster fixture sets SLURM_CONF";
  const fs::path dir =
      fs::temp_directory_path() / ("infermark_slurm_paper_" + std::to_string(getpid()));
  fs::remove_all(dir);
  const Cmd submit = infermark(
      "paper --quick --backends fake --input-size 64 --width 0.25 --parts loading,ensemble "
      "--out " +
      dir.string() + " --slurm --cells-per-task 3");
  ASSERT_EQ(submit.code, 0) << submit.output;
  // Four load cells and the ensemble at batches 1 and 4, two tasks of three.
  ASSERT_NE(submit.output.find("submitted 6 cells as job "), std::string::npos) << submit.output;
  EXPECT_FALSE(fs::exists(dir / "report")) << "the report waits for the results";

  const Cmd collected =
      infermark("collect " + (dir / "results.slurm").string() + " --wait --poll 0.5");
  ASSERT_EQ(collected.code, 0) << collected.output;
  EXPECT_NE(collected.output.find("2 tasks: 2 done"), std::string::npos) << collected.output;
  std::map<std::string, int> scenarios;
  for (const auto& l : result_lines(dir / "results.jsonl")) {
    EXPECT_EQ(l["status"], "ok") << l.dump();
    ++scenarios[l["scenario"].get<std::string>()];
  }
  EXPECT_EQ(scenarios, (std::map<std::string, int>{{"load", 4}, {"ensemble", 2}}));
  EXPECT_NE(collected.output.find("report: "), std::string::npos) << collected.output;
  EXPECT_TRUE(fs::exists(dir / "report" / "index.html"));
  fs::remove_all(dir);
}

}  // namespace
