// Reports are pure functions of result rows: tables checked as text, verdicts of compare,
// and a whole report written from a fixture.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "report/report.h"

namespace infermark {
namespace {
namespace fs = std::filesystem;
using nlohmann::json;

json stats(int64_t params, int layers) {
  return {{"parameters", params}, {"buffers", 10}, {"layers", layers},
          {"jumps", {{"total", 16}, {"by_type", {{"add", 16}}}}}, {"parameters_per_layer", 1.0 * params / layers},
          {"macs_per_image", 4.1e9}, {"flops_per_image", 8.2e9}, {"weight_bytes", 4 * params},
          {"input", {{"shape_chw", {3, 224, 224}}}}};
}

// One result row: mean iteration time `ms` with a 95% interval of +-ci percent.
json row(const std::string& fw, const std::string& scenario, int batch, double ips,
         const std::string& status = "ok", double ci = 0.01) {
  const double ms = 1000.0 * batch / ips;
  json r = {{"schema", "infermark.result/1"},
            {"model", {{"name", "resnet50"}, {"stats", stats(25557032, 50)}}},
            {"backend", {{"name", fw}, {"settings_asked", json::object()}}},
            {"scenario", scenario}, {"batch", batch}, {"threads", 0}, {"status", status},
            {"metrics", {{"throughput_ips", ips}, {"rss_peak_bytes", 100 << 20}, {"share_of_peak", 0.5}}},
            {"latency_ms", {{"mean", ms}, {"p50", ms}, {"p90", ms}, {"p99", ms * 1.2}, {"cv", 0.02},
                            {"ci95_low", ms * (1 - ci)}, {"ci95_high", ms * (1 + ci)}}}};
  if (status != "ok") {
    r["metrics"] = json::object();
    r["latency_ms"] = json::object();
    r["message"] = "killed";
  }
  return r;
}

std::vector<json> fixture() {
  std::vector<json> rows = {row("onnxruntime", "offline", 1, 17), row("onnxruntime", "offline", 8, 19),
                            row("openvino", "offline", 1, 15), row("openvino", "offline", 8, 14),
                            row("openvino", "offline", 32, 0, "oom"), row("onnxruntime", "single-stream", 1, 16),
                            row("openvino", "single-stream", 1, 18)};
  json load = row("openvino", "load", 1, 1);
  load["metrics"] = {{"load_cold_ms", 900.0}, {"load_warm_ms", 90.0}, {"first_inference_cold_ms", 70.0},
                     {"cache_cold", "miss"}, {"cache_warm", "hit"}};
  rows.push_back(load);
  return rows;
}

const Table& find(const std::vector<Table>& ts, const std::string& name) {
  for (const auto& t : ts)
    if (t.name == name) return t;
  throw std::runtime_error("no table " + name);
}

TEST(Report, Table1FromTheModelStatistics) {
  const std::string md = to_markdown(find(make_tables(fixture()), "table1_models"));
  EXPECT_NE(md.find("| resnet50 | 224x224 | 25557032 | 10 | 50 | 16 add:16 |"), std::string::npos) << md;
}

TEST(Report, OfflineTableShowsFailuresAsTheirStatus) {
  const std::string md = to_markdown(find(make_tables(fixture()), "offline_throughput"));
  EXPECT_NE(md.find("| batch 1 | batch 8 | batch 32 |"), std::string::npos) << md;
  EXPECT_NE(md.find("| resnet50 | openvino | 15.00 | 14.00 | oom |"), std::string::npos) << md;
  EXPECT_NE(md.find("| resnet50 | onnxruntime | 17.00 | 19.00 |  |"), std::string::npos) << md;
}

TEST(Report, BestFrameworkPerScenarioFromTheData) {
  const std::string md = to_markdown(find(make_tables(fixture()), "best_framework"));
  // Throughput: ORT's best batch (19) against OpenVINO's best (15).
  EXPECT_NE(md.find("| highest throughput (batch applications) | resnet50 | onnxruntime | 19.00 images/s | openvino | 15.00 images/s | 1.27x |"),
            std::string::npos) << md;
  // Latency: OpenVINO 18 images/s is 55.6 ms against ORT's 62.5 ms.
  EXPECT_NE(md.find("| lowest latency (data-flow applications) | resnet50 | openvino |"), std::string::npos) << md;
}

TEST(Report, Table3LoadingTime) {
  const std::string csv = to_csv(find(make_tables(fixture()), "table3_loading"));
  EXPECT_NE(csv.find("resnet50,openvino,CPU,900,90,70.0,0.10,miss/hit"), std::string::npos) << csv;
}

// A framework's settings label its rows (an ablation: the same framework twice).
TEST(Report, SettingsAskedLabelTheRows) {
  std::vector<json> rows = fixture();
  json xla = row("tensorflow", "offline", 1, 9.5);
  xla["backend"]["settings_asked"] = {{"xla", "true"}, {"intra_op_threads", "2"}};
  rows.push_back(xla);
  json load = rows.back();
  load["scenario"] = "load";
  load["metrics"] = {{"load_cold_ms", 140000.0}, {"load_warm_ms", 5600.0}, {"first_inference_cold_ms", 115.0},
                     {"cache_cold", "miss"}, {"cache_warm", "hit"}};
  rows.push_back(load);
  const auto tables = make_tables(rows);
  const std::string offline = to_csv(find(tables, "offline_throughput"));
  EXPECT_NE(offline.find("tensorflow (intra_op_threads=2 xla=true)"), std::string::npos) << offline;
  const std::string loading = to_csv(find(tables, "table3_loading"));
  EXPECT_NE(loading.find("resnet50,tensorflow (intra_op_threads=2 xla=true),CPU,140000,5600"), std::string::npos)
      << loading;
}

TEST(Report, FailedAndUnstableCellsAreListed) {
  const std::string md = to_markdown(find(make_tables(fixture()), "unstable_or_failed"));
  EXPECT_NE(md.find("| resnet50 | openvino | offline | 32 | oom |"), std::string::npos) << md;
}

TEST(Compare, Verdicts) {
  const std::vector<json> a = {row("onnxruntime", "offline", 8, 100), row("openvino", "offline", 8, 100),
                               row("openvino", "single-stream", 1, 20), row("onnxruntime", "offline", 1, 10)};
  const std::vector<json> b = {row("onnxruntime", "offline", 8, 101), row("openvino", "offline", 8, 130),
                               row("openvino", "single-stream", 1, 15), row("onnxruntime", "offline", 1, 0, "crash")};
  const auto c = compare(a, b);
  ASSERT_EQ(c.size(), 4u);
  EXPECT_EQ(c[0].verdict, "same within noise");  // 1% apart, intervals of 1% each
  EXPECT_NEAR(c[0].ratio, 1.01, 1e-9);
  EXPECT_EQ(c[1].verdict, "faster");
  EXPECT_NEAR(c[1].ratio, 1.3, 1e-9);
  EXPECT_LT(c[1].ratio_low, 1.3);
  EXPECT_GT(c[1].ratio_high, 1.3);
  EXPECT_EQ(c[2].verdict, "slower");  // latency rose from 50 ms to 66.7 ms
  EXPECT_EQ(c[3].verdict.rfind("not comparable", 0), 0u);
}

TEST(Report, ReadResultsNamesTheBadLine) {
  const fs::path f = fs::temp_directory_path() / ("infermark_rr_" + std::to_string(getpid()) + ".jsonl");
  std::ofstream(f) << row("openvino", "offline", 1, 1).dump() << "\n{not json\n";
  try {
    read_results({f});
    FAIL();
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("line 2"), std::string::npos) << e.what();
  }
  fs::remove(f);
  EXPECT_THROW(read_results({f}), std::exception);
}

TEST(Report, WholeReportFromAFixture) {
  const fs::path dir = fs::temp_directory_path() / ("infermark_report_" + std::to_string(getpid()));
  const fs::path index = write_report(fixture(), dir);
  std::ifstream in(index);
  const std::string html((std::istreambuf_iterator<char>(in)), {});
  EXPECT_NE(html.find("<svg"), std::string::npos) << "figures inlined";
  EXPECT_NE(html.find("Which framework wins where"), std::string::npos);
  for (const char* t : {"table1_models", "table3_loading", "offline_throughput", "single_stream_latency",
                        "best_framework", "unstable_or_failed"}) {
    EXPECT_TRUE(fs::exists(dir / (std::string(t) + ".md"))) << t;
    EXPECT_TRUE(fs::exists(dir / (std::string(t) + ".csv"))) << t;
  }
  int png = 0, svg = 0;
  for (const auto& e : fs::directory_iterator(dir)) {
    png += e.path().extension() == ".png";
    svg += e.path().extension() == ".svg";
  }
  EXPECT_GE(png, 2);
  EXPECT_EQ(png, svg);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace infermark
