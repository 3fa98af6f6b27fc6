// The conformance suite on three small members of the public set (a mobile net with hard-swish
// and squeeze-excitation, a channel-shuffle net, a two-layer vision transformer), exported by
// PyTorch as users do, on every framework the build enabled: each pair a row, none ends the
// command, resumable, and the report draws the matrix.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include "tests/command.h"
#include "tests/enabled_frameworks.h"

namespace infermark {
namespace {
namespace fs = std::filesystem;

TEST(Conformance, SmallMembersOnEveryFramework) {
  const fs::path models = fs::path(INFERMARK_TEST_DATA) / "conformance-test";
  const CommandRun exported = run_command(
      "/usr/bin/python3 " + std::string(INFERMARK_SOURCE_DIR) +
      "/scripts/conformance/export_torchvision.py --set test --out " + models.string() + " 2>&1");
  ASSERT_EQ(exported.code, 0) << exported.output;
  const fs::path dir = fs::temp_directory_path() / ("infermark_conf_" + std::to_string(getpid()));
  fs::create_directories(dir);
  const std::vector<std::string> frameworks = enabled_frameworks();
  std::string list;
  for (const auto& f : frameworks) list += (list.empty() ? "" : ",") + f;
  const std::string out = (dir / "conf.jsonl").string();
  const std::string cmd = std::string(INFERMARK_BINARY) + " conformance --models " +
                          models.string() + " --backends " + list + " --timeout 900 --out " + out;
  const CommandRun r = run_command(cmd + " 2>&1");
  ASSERT_EQ(r.code, 0) << r.output;

  const std::vector<nlohmann::json> rows = result_lines(out);
  ASSERT_EQ(rows.size(), 3 * frameworks.size()) << r.output;
  const std::set<std::string> verdicts = {"runs",    "wrong",   "refused", "error",
                                          "crashed", "timeout", "oom"};
  std::map<std::string, int> runs;
  for (const auto& row : rows) {
    const std::string v = row["verdict"];
    EXPECT_TRUE(verdicts.count(v)) << row.dump();
    if (v == "runs") {
      ++runs[row["backend"]];
      EXPECT_LE(row["max_rel"].get<double>(), 1e-3) << row.dump();
    } else {
      EXPECT_FALSE(row["reason"].get<std::string>().empty()) << row.dump();
    }
    if (v == "crashed") {
      EXPECT_NE(row["reason"].get<std::string>().find("(SIG"), std::string::npos) << row.dump();
    }
    std::cout << row["backend"].get<std::string>() << " " << row["model"].get<std::string>() << ": "
              << v << " " << row.value("reason", "") << "\n";
  }
  // The references of the field run every member.
  EXPECT_EQ(runs["onnxruntime"], 3) << r.output;
  EXPECT_EQ(runs["openvino"], 3) << r.output;

  // Resumable: a second run runs nothing and leaves the rows as they were.
  const CommandRun again = run_command(cmd + " 2>&1");
  EXPECT_EQ(again.code, 0) << again.output;
  EXPECT_NE(again.output.find("0 pairs run now"), std::string::npos) << again.output;
  EXPECT_EQ(result_lines(out).size(), rows.size());

  // The report's matrix: a row per model, a column per framework.
  const CommandRun rep = run_command(std::string(INFERMARK_BINARY) + " report " + out + " --out " +
                                     (dir / "report").string() + " 2>&1");
  ASSERT_EQ(rep.code, 0) << rep.output;
  std::ifstream md(dir / "report" / "conformance.md");
  const std::string table((std::istreambuf_iterator<char>(md)), {});
  for (const char* model : {"mobilenet_v3_small", "shufflenet_v2_x0_5", "vit_tiny"})
    EXPECT_NE(table.find(model), std::string::npos) << table;
  for (const auto& f : frameworks) EXPECT_NE(table.find(f), std::string::npos) << table;
  EXPECT_TRUE(fs::exists(dir / "report" / "fig_conformance.svg"));
  fs::remove_all(dir);
}

}  // namespace
}  // namespace infermark
