// Reports are pure functions of result rows: tables checked as text, verdicts of compare,
// and a whole report written from a fixture.
#include "report/report.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>
#include <set>

#include "core/error.h"
#include "report/advise.h"

namespace infermark {
namespace {
namespace fs = std::filesystem;
using nlohmann::json;

json stats(int64_t params, int layers) {
  return {{"parameters", params},
          {"buffers", 10},
          {"layers", layers},
          {"jumps", {{"total", 16}, {"by_type", {{"add", 16}}}}},
          {"parameters_per_layer", 1.0 * params / layers},
          {"macs_per_image", 4.1e9},
          {"flops_per_image", 8.2e9},
          {"weight_bytes", 4 * params},
          {"input", {{"shape", {3, 224, 224}}, {"layout", "NCHW"}}}};
}

// One result row: mean iteration time `ms` with a 95% interval of +-ci percent.
json row(const std::string& fw, const std::string& scenario, int batch, double ips,
         const std::string& status = "ok", double ci = 0.01) {
  const double ms = 1000.0 * batch / ips;
  json r = {
      {"schema", "infermark.result/1"},
      {"model", {{"name", "resnet50"}, {"stats", stats(25557032, 50)}}},
      {"backend", {{"name", fw}, {"settings_asked", json::object()}}},
      {"scenario", scenario},
      {"batch", batch},
      {"threads", 0},
      {"status", status},
      {"metrics", {{"throughput_ips", ips}, {"rss_peak_bytes", 100 << 20}, {"share_of_peak", 0.5}}},
      {"latency_ms",
       {{"mean", ms},
        {"p50", ms},
        {"p90", ms},
        {"p99", ms * 1.2},
        {"cv", 0.02},
        {"ci95_low", ms * (1 - ci)},
        {"ci95_high", ms * (1 + ci)}}}};
  if (status != "ok") {
    r["metrics"] = json::object();
    r["latency_ms"] = json::object();
    r["message"] = "killed";
  }
  return r;
}

std::vector<ResultRow> typed(const std::vector<json>& rows) {
  std::vector<ResultRow> out;
  for (const auto& r : rows) out.push_back(row_from_json(r));
  return out;
}

std::vector<json> fixture() {
  std::vector<json> rows = {
      row("onnxruntime", "offline", 1, 17),     row("onnxruntime", "offline", 8, 19),
      row("openvino", "offline", 1, 15),        row("openvino", "offline", 8, 14),
      row("openvino", "offline", 32, 0, "oom"), row("onnxruntime", "single-stream", 1, 16),
      row("openvino", "single-stream", 1, 18)};
  json load = row("openvino", "load", 1, 1);
  load["metrics"] = {{"load_cold_ms", 900.0},
                     {"load_warm_ms", 90.0},
                     {"first_inference_cold_ms", 70.0},
                     {"cache_cold", "miss"},
                     {"cache_warm", "hit"}};
  rows.push_back(load);
  return rows;
}

const Table& find(const std::vector<Table>& ts, const std::string& name) {
  for (const auto& t : ts)
    if (t.name == name) return t;
  throw std::runtime_error("no table " + name);
}

TEST(Report, Table1FromTheModelStatistics) {
  const std::string md = to_markdown(find(make_tables(typed(fixture())), "table1_models"));
  EXPECT_NE(md.find("| resnet50 | 224x224 | 25557032 | 10 | 50 | 16 add:16 |"), std::string::npos)
      << md;
}

// The image size from the dims the file declares, placed by its layout; files written before
// the layout was read from the model have "shape_chw".
TEST(Report, Table1ReadsTheImageSizeInEitherLayout) {
  std::vector<json> rows = fixture();
  json nhwc = row("onnxruntime", "offline", 1, 10);
  nhwc["model"]["name"] = "keras_net";
  nhwc["model"]["stats"]["input"] = {{"shape", {192, 160, 3}}, {"layout", "NHWC"}};
  rows.push_back(nhwc);
  json old = row("onnxruntime", "offline", 1, 10);
  old["model"]["name"] = "old_file";
  old["model"]["stats"]["input"] = {{"shape_chw", {3, 96, 128}}};
  rows.push_back(old);
  const std::string md = to_markdown(find(make_tables(typed(rows)), "table1_models"));
  EXPECT_NE(md.find("| keras_net | 192x160 |"), std::string::npos) << md;
  EXPECT_NE(md.find("| old_file | 96x128 |"), std::string::npos) << md;
}

// Rows from two machines (a study across node types) are never one configuration: each is
// labelled with its machine and kept apart in the tables; from one machine, nothing changes.
TEST(Report, RowsFromTwoMachinesAreKeptApartAndLabelled) {
  auto on = [](json r, const std::string& cpu) {
    r["env"] = {{"cpu_model", cpu}, {"cores_used", 2}};
    return r;
  };
  const fs::path f =
      fs::temp_directory_path() / ("infermark_machines_" + std::to_string(getpid()) + ".jsonl");
  std::ofstream(f) << on(row("onnxruntime", "offline", 1, 17), "CPU A").dump() << "\n"
                   << on(row("onnxruntime", "offline", 1, 30), "CPU B").dump() << "\n";
  const std::vector<ResultRow> rows = read_results({f});
  const std::string md = to_markdown(find(make_tables(rows), "offline_throughput"));
  EXPECT_NE(md.find("| resnet50 | onnxruntime (on CPU A, 2 cores) | 17.00 |"), std::string::npos)
      << md;
  EXPECT_NE(md.find("| resnet50 | onnxruntime (on CPU B, 2 cores) | 30.00 |"), std::string::npos)
      << md;
  std::ofstream(f) << on(row("onnxruntime", "offline", 1, 17), "CPU A").dump() << "\n";
  EXPECT_EQ(read_results({f}).at(0).machine, "");
  fs::remove(f);
}

TEST(Report, OfflineTableShowsFailuresAsTheirStatus) {
  const std::string md = to_markdown(find(make_tables(typed(fixture())), "offline_throughput"));
  EXPECT_NE(md.find("| batch 1 | batch 8 | batch 32 |"), std::string::npos) << md;
  EXPECT_NE(md.find("| resnet50 | openvino | 15.00 | 14.00 | oom | 15.00 (batch 1) |"),
            std::string::npos)
      << md;
  EXPECT_NE(md.find("| resnet50 | onnxruntime | 17.00 | 19.00 |  | 19.00 (batch 8) |"),
            std::string::npos)
      << md;
}

// A framework's throughput is its best over the requests it kept in flight and the batch
// size, and the tables say which; the configurations stay one framework row.
TEST(Report, ThroughputIsTheBestOverConcurrencyAndBatchAndSaysWhich) {
  std::vector<json> rows = fixture();
  json two = row("openvino", "offline", 1, 24);
  two["concurrency"] = 2;
  rows.push_back(two);
  json four = row("openvino", "offline", 8, 12);
  four["concurrency"] = 4;
  rows.push_back(four);
  const auto tables = make_tables(typed(rows));
  const std::string md = to_markdown(find(tables, "offline_throughput"));
  EXPECT_NE(md.find("| resnet50 | openvino | 24.00 at 2 in flight | 14.00 | oom | 24.00 (batch 1 "
                    "at 2 in flight) |"),
            std::string::npos)
      << md;
  EXPECT_EQ(md.find("x2"), std::string::npos) << md;
  const std::string best = to_markdown(find(tables, "best_framework"));
  EXPECT_NE(best.find("| highest throughput (batch applications) | resnet50 | openvino (batch 1 "
                      "at 2 in flight) | 24.00 images/s | onnxruntime (batch 8) | 19.00 "
                      "images/s | 1.26x |"),
            std::string::npos)
      << best;
}

TEST(Report, BestFrameworkPerScenarioFromTheData) {
  const std::string md = to_markdown(find(make_tables(typed(fixture())), "best_framework"));
  // Throughput: ORT's best batch (19) against OpenVINO's best (15).
  EXPECT_NE(md.find("| highest throughput (batch applications) | resnet50 | onnxruntime (batch 8) "
                    "| 19.00 images/s | openvino (batch 1) | 15.00 images/s | 1.27x |"),
            std::string::npos)
      << md;
  // Latency: OpenVINO 18 images/s is 55.6 ms against ORT's 62.5 ms.
  EXPECT_NE(md.find("| lowest latency (data-flow applications) | resnet50 | openvino |"),
            std::string::npos)
      << md;
}

TEST(Report, Table3LoadingTime) {
  const std::string csv = to_csv(find(make_tables(typed(fixture())), "table3_loading"));
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
  load["metrics"] = {{"load_cold_ms", 140000.0},
                     {"load_warm_ms", 5600.0},
                     {"first_inference_cold_ms", 115.0},
                     {"cache_cold", "miss"},
                     {"cache_warm", "hit"}};
  rows.push_back(load);
  const auto tables = make_tables(typed(rows));
  const std::string offline = to_csv(find(tables, "offline_throughput"));
  EXPECT_NE(offline.find("tensorflow (intra_op_threads=2 xla=true)"), std::string::npos) << offline;
  const std::string loading = to_csv(find(tables, "table3_loading"));
  EXPECT_NE(loading.find("resnet50,tensorflow (intra_op_threads=2 xla=true),CPU,140000,5600"),
            std::string::npos)
      << loading;
}

// Item 8 of the trustworthy-numbers issue: a framework that ran the batcher's batches as one
// call per image is marked in the server table, not shown as if it batched.
TEST(Report, ServerTableSaysWhenTheFrameworkDidNotBatch) {
  json s = row("tvm", "server", 1, 10);
  s["server"] = {{"max_batch", 8}, {"max_queue_delay_ms", 5.0}, {"rate_qps", 10.0}};
  s["metrics"]["mean_batch"] = 3.5;
  s["batched"] = false;
  json t = s;
  t["backend"]["name"] = "onnxruntime";
  t["batched"] = true;
  const std::string md = to_markdown(find(make_tables(typed({s, t})), "server"));
  EXPECT_NE(md.find("| 3.50 (run as 1-image calls) |"), std::string::npos) << md;
  EXPECT_EQ(md.find("onnxruntime | 8 | 5.0 | 10.00 | 10.00 | 100.00 | 120.00 | 3.50 (run"),
            std::string::npos)
      << md;
}

// A find-peak server row at `peak` q/s under a 500 ms target whose own run (at the peak) had
// p99 `p99` ms and achieved `achieved` of the offered rate; with `confirmed`, written as runs
// since confirmation write it, without, as files written before.
json peak_row(const std::string& fw, double peak, double p99, double achieved,
              std::optional<bool> confirmed) {
  json r = row(fw, "server", 1, peak);
  r["server"] = {{"max_batch", 8}, {"max_queue_delay_ms", 20.0}, {"rate_qps", 2.0}};
  r["peak"] = {{"slo_p99_ms", 500.0}};
  r["latency_ms"]["p99"] = p99;
  r["metrics"]["offered_qps"] = peak;
  r["metrics"]["achieved_qps"] = achieved * peak;
  r["metrics"]["queries"] = 240;
  r["metrics"]["peak_qps"] = peak;
  r["metrics"]["slo_p99_ms"] = 500.0;
  if (confirmed) {
    r["metrics"]["peak_confirmed"] = *confirmed;
    r["metrics"]["achieved_fraction"] = achieved;
    if (!*confirmed) {
      r["metrics"]["peak_qps"] = 0.0;
      r["metrics"]["peak_reason"] = "no rate down to 3 queries/s held in a full-length run";
    }
  }
  return r;
}

// Issue 28, item 1: the server table shows a peak only where the run at it met the rule, never
// next to its own failing figures, and says what the rule is.
TEST(Report, ServerTableShowsOnlyConfirmedPeaks) {
  const std::vector<json> rows = {
      peak_row("onnxruntime", 20.5, 310, 0.99, true),           // confirmed
      peak_row("openvino", 30, 900, 0.6, false),                // none held
      peak_row("tvm", 24.06, 912, 16.0 / 24.06, std::nullopt),  // an older file, failing
      peak_row("iree", 18, 420, 0.99, std::nullopt)};           // an older file, meeting
  const std::vector<ResultRow> typed_rows = typed(rows);
  const std::vector<Table> tables = make_tables(typed_rows);
  const Table& t = find(tables, "server");
  const std::string md = to_markdown(t);
  EXPECT_NE(md.find("| 20.50 (p99 <= 500 ms) |"), std::string::npos) << md;
  EXPECT_NE(md.find("| 18.00 (p99 <= 500 ms) |"), std::string::npos) << md;
  EXPECT_EQ(md.find("24.06 (p99"), std::string::npos) << md;
  EXPECT_EQ(md.find("30.00 (p99"), std::string::npos) << md;
  for (const auto& r : t.rows) {
    if (r[1] == "openvino" || r[1] == "tvm") {
      EXPECT_EQ(r.back(), "none confirmed") << md;
    }
  }
  EXPECT_NE(t.note.find("at least 100 answered queries"), std::string::npos) << t.note;
  EXPECT_NE(t.note.find("95% of the offered rate achieved"), std::string::npos) << t.note;

  EXPECT_EQ(confirmed_peak_qps(typed_rows[0]), 20.5);
  EXPECT_TRUE(std::isnan(confirmed_peak_qps(typed_rows[1])));
  EXPECT_TRUE(std::isnan(confirmed_peak_qps(typed_rows[2])));
  EXPECT_EQ(confirmed_peak_qps(typed_rows[3]), 18);
  // An older row whose run was not at its peak (the peak was 0: it ran at the lowest rate).
  json lo = peak_row("iree", 18, 420, 0.99, std::nullopt);
  lo["metrics"]["offered_qps"] = 3.0;
  EXPECT_TRUE(std::isnan(confirmed_peak_qps(row_from_json(lo))));

  // The best-framework table counts confirmed peaks only: tvm's 24.06 does not win.
  const std::string best = to_markdown(find(tables, "best_framework"));
  EXPECT_NE(best.find("| highest load under the p99 target (web service) | resnet50 | onnxruntime"),
            std::string::npos)
      << best;
}

// Some rounds confirmed a peak, others none: the median of those confirmed, and how many.
TEST(Report, ServerTableSaysHowManyRoundsConfirmed) {
  json a = peak_row("onnxruntime", 20, 310, 0.99, true), b = a, c = a;
  b["round"] = 1;
  b["metrics"]["peak_qps"] = 22.0;
  c["round"] = 2;
  c["metrics"]["peak_qps"] = 0.0;
  c["metrics"]["peak_confirmed"] = false;
  const std::string md = to_markdown(find(make_tables(typed({a, b, c})), "server"));
  EXPECT_NE(md.find("| 21.00 (p99 <= 500 ms), 2 of 3 confirmed |"), std::string::npos) << md;
}

TEST(Report, FailedAndUnstableCellsAreListed) {
  const std::string md = to_markdown(find(make_tables(typed(fixture())), "unstable_or_failed"));
  EXPECT_NE(md.find("| resnet50 | openvino | offline | 32 | oom |"), std::string::npos) << md;
}

TEST(Compare, Verdicts) {
  const std::vector<json> a = {
      row("onnxruntime", "offline", 8, 100), row("openvino", "offline", 8, 100),
      row("openvino", "single-stream", 1, 20), row("onnxruntime", "offline", 1, 10)};
  const std::vector<json> b = {
      row("onnxruntime", "offline", 8, 101), row("openvino", "offline", 8, 130),
      row("openvino", "single-stream", 1, 15), row("onnxruntime", "offline", 1, 0, "crash")};
  const auto c = compare(typed(a), typed(b));
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

// Item 5 of the trustworthy-numbers issue: a figure without an interval (a load cell, a peak
// search, a single sample) gives no verdict, whatever the ratio.
TEST(Compare, NoVerdictWithoutAnInterval) {
  json load_a = row("openvino", "load", 1, 1), load_b = load_a;
  load_a["metrics"] = {{"load_cold_ms", 900.0}};
  load_b["metrics"] = {{"load_cold_ms", 300.0}};
  const auto c = compare(typed({load_a, row("onnxruntime", "offline", 1, 10, "ok", 0)}),
                         typed({load_b, row("onnxruntime", "offline", 1, 20, "ok", 0)}));
  ASSERT_EQ(c.size(), 2u);
  for (const auto& x : c)
    EXPECT_EQ(x.verdict.rfind("no verdict", 0), 0u) << x.cell << ": " << x.verdict;
  EXPECT_NEAR(c[0].ratio, 1.0 / 3, 1e-9);
}

TEST(Compare, MedianIntervalNeedsSixValues) {
  EXPECT_FALSE(aggregate({}).has_value());
  const Aggregate five = *aggregate({5, 1, 4, 2, 3});
  EXPECT_EQ(five.median, 3);
  EXPECT_FALSE(five.has_interval());
  // n = 10: P(Binomial(10, 1/2) <= 1) = 1.1% <= 2.5% < P(<= 2) = 5.5%: [x(2), x(9)].
  const Aggregate ten = *aggregate({10, 1, 9, 2, 8, 3, 7, 4, 6, 5});
  EXPECT_EQ(ten.median, 5.5);
  EXPECT_EQ(ten.low, 2);
  EXPECT_EQ(ten.high, 9);
}

// Rows of two configurations of one file over rounds whose speed drifts by 30%: the paired
// per-round ratios cancel the drift; an A/A pair contains 1, a true 2x is found in every round.
std::vector<ResultRow> drifting_rounds(double b_factor, const std::string& by) {
  std::vector<json> rows;
  const double drift[] = {1.0, 0.8, 1.25, 0.9, 1.1, 0.75, 1.3, 0.95};
  const double noise[] = {1.01, 0.99, 1.0, 1.02, 0.98, 1.0, 1.01, 0.99};
  for (int round = 0; round < 8; ++round)
    for (const std::string& side : {std::string("a"), std::string("b")}) {
      const bool is_b = side == "b";
      json r = row(by == "backend" && is_b ? "opencv" : "onnxruntime", "offline", 1,
                   20 * drift[round] * (is_b ? b_factor * noise[round] : 1.0));
      if (by == "arm") r["arm"] = side;
      r["round"] = round;
      rows.push_back(r);
    }
  return typed(rows);
}

TEST(Compare, WithinOneFilePairedByRound) {
  const auto aa = compare_within(drifting_rounds(1.0, "arm"), "arm");
  ASSERT_EQ(aa.size(), 1u);
  EXPECT_EQ(aa[0].pairs, 8);
  EXPECT_EQ(aa[0].a_label, "a");
  EXPECT_LE(aa[0].ratio_low, 1.0);
  EXPECT_GE(aa[0].ratio_high, 1.0);
  EXPECT_LT(aa[0].ratio_high / aa[0].ratio_low, 1.05) << "the drift cancels in the pairs";
  EXPECT_EQ(aa[0].verdict, "same within noise");

  const auto ab =
      compare_within(drifting_rounds(0.5, "backend"), "backend", "onnxruntime", "opencv");
  ASSERT_EQ(ab.size(), 1u);
  EXPECT_NEAR(ab[0].ratio, 0.5, 0.01);
  EXPECT_EQ(ab[0].verdict, "slower");
  EXPECT_THROW(compare_within(drifting_rounds(1.0, "arm"), "colour"), Error);
  EXPECT_THROW(compare_within(drifting_rounds(1.0, "arm"), "arm", "a", "c"), Error);
}

TEST(Compare, TwoFilesWithRoundsUseTheRoundsSpread) {
  std::vector<json> a, b;
  for (int round = 0; round < 6; ++round) {
    json x = row("onnxruntime", "offline", 1, 20 + round % 3, "ok", 0);
    x["round"] = round;
    json y = x;
    y["metrics"]["throughput_ips"] = 40 + round % 3;
    a.push_back(x);
    b.push_back(y);
  }
  const auto c = compare(typed(a), typed(b));
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].verdict, "faster");
  EXPECT_GT(c[0].ratio_low, 1.5);
  EXPECT_LT(c[0].ratio_high, 2.5);
}

// With rounds, the best-framework table pairs the winner and the runner-up round by round:
// a 10% lead under a 30% drift of the machine is an advantage with an interval; two equal
// frameworks are a tie, whichever median happens to lead.
TEST(Report, BestFrameworkAdvantageHasAnIntervalWithRounds) {
  auto throughput_row = [](const std::vector<ResultRow>& rows) {
    const std::string md = to_markdown(find(make_tables(rows), "best_framework"));
    const size_t at = md.find("| highest throughput (batch applications) |");
    return at == std::string::npos ? md : md.substr(at, md.find('\n', at) - at);
  };
  std::string row = throughput_row(drifting_rounds(1 / 1.1, "backend"));
  EXPECT_EQ(
      row.rfind("| highest throughput (batch applications) | resnet50 | onnxruntime (batch", 0), 0u)
      << row;
  EXPECT_NE(row.find("| 1.10x ["), std::string::npos) << row;
  EXPECT_EQ(row.find("same within noise"), std::string::npos) << row;
  row = throughput_row(drifting_rounds(1.0, "backend"));
  EXPECT_NE(row.find("same within noise"), std::string::npos) << row;
  // Rounds of two result files ran at different times: never paired.
  auto two_files = drifting_rounds(1 / 1.1, "backend");
  for (auto& r : two_files) r.source = r.cell.backend + ".jsonl";
  row = throughput_row(two_files);
  EXPECT_NE(row.find("| 1.10x |"), std::string::npos) << row;
}

TEST(Report, ReadResultsNamesTheBadLine) {
  const fs::path f =
      fs::temp_directory_path() / ("infermark_rr_" + std::to_string(getpid()) + ".jsonl");
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
  const fs::path index = write_report(typed(fixture()), dir);
  std::ifstream in(index);
  const std::string html((std::istreambuf_iterator<char>(in)), {});
  EXPECT_NE(html.find("<svg"), std::string::npos) << "figures inlined";
  EXPECT_NE(html.find("Which framework wins where"), std::string::npos);
  for (const char* t : {"table1_models", "table3_loading", "offline_throughput",
                        "single_stream_latency", "best_framework", "unstable_or_failed"}) {
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

// Speed against accuracy: each accuracy line beside the best offline median the result rows
// measured for its model (a file's stem), framework and precision, over batch sizes; a line
// whose framework refused the precision keeps its reason; the figure has a point per measured
// pair; an accuracy file is recognized by its lines, and a bad one is named.
TEST(Report, SpeedAgainstAccuracy) {
  std::vector<json> rows = {row("onnxruntime", "offline", 1, 17),
                            row("onnxruntime", "offline", 8, 19),
                            row("openvino", "offline", 1, 15)};
  json int8 = row("openvino", "offline", 8, 40);
  int8["precision"] = "int8";
  rows.push_back(int8);
  const json base = {{"schema", "infermark-accuracy/1"},
                     {"model", "/photos/resnet50.onnx"},
                     {"images", 10},
                     {"reference", "onnxruntime"}};
  json a = base, b = base, c = base, d = base;
  a.update({{"backend", "onnxruntime"},
            {"precision", "fp32"},
            {"status", "ok"},
            {"top1_agreement", 1.0},
            {"top1_accuracy", 0.9},
            {"top5_accuracy", 1.0},
            {"max_rel_diff", 0.0},
            {"disagreements", json::array()}});
  b.update({{"backend", "openvino"},
            {"precision", "int8"},
            {"status", "ok"},
            {"top1_agreement", 0.9},
            {"max_rel_diff", 0.2},
            {"disagreements", {"cat.png 285 (reference 282)"}}});
  c.update({{"backend", "onnxruntime"},
            {"precision", "bf16"},
            {"status", "unsupported"},
            {"message", "onnxruntime: precision bf16 is not offered"}});
  d.update({{"backend", "tvm"},
            {"precision", "fp32"},
            {"status", "ok"},
            {"top1_agreement", 1.0},
            {"max_rel_diff", 1e-6},
            {"disagreements", json::array()}});
  std::vector<AccuracyRow> typed_acc;
  for (const auto& j : {a, b, c, d}) typed_acc.push_back(accuracy_row_from_json(j));
  const Table t = speed_accuracy_table(typed(rows), typed_acc);
  ASSERT_EQ(t.rows.size(), 4u);
  EXPECT_EQ(t.rows[0][0], "resnet50");
  EXPECT_EQ(t.rows[0][3], "19.00 (batch 8)");  // the best of batch 1 and 8
  EXPECT_EQ(t.rows[0][4], "100.0%");
  EXPECT_EQ(t.rows[0][5], "90.0%");
  EXPECT_EQ(t.rows[0][8], "none of 10");
  EXPECT_EQ(t.rows[1][3], "40.00 (batch 8)");  // int8's own cells, not fp32's
  EXPECT_EQ(t.rows[1][5], "-");                // no labels
  EXPECT_EQ(t.rows[1][8], "cat.png 285 (reference 282)");
  EXPECT_EQ(t.rows[2][4], "unsupported");
  EXPECT_EQ(t.rows[2][8], "onnxruntime: precision bf16 is not offered");
  EXPECT_EQ(t.rows[3][3], "not measured");

  const fs::path dir =
      fs::temp_directory_path() / ("infermark_speed_acc_" + std::to_string(getpid()));
  fs::create_directories(dir);
  {
    std::ofstream f(dir / "acc.jsonl");
    for (const auto& j : {a, b, c, d}) f << j.dump() << "\n";
    std::ofstream(dir / "results.jsonl") << rows[0].dump() << "\n";
    std::ofstream(dir / "bad.jsonl") << a.dump() << "\n{\"schema\": \"x\"}\n";
  }
  EXPECT_TRUE(is_accuracy_file(dir / "acc.jsonl"));
  EXPECT_FALSE(is_accuracy_file(dir / "results.jsonl"));
  EXPECT_EQ(read_accuracy({dir / "acc.jsonl"}).size(), 4u);
  try {
    read_accuracy({dir / "bad.jsonl"});
    ADD_FAILURE() << "a bad accuracy line was read";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("bad.jsonl' line 2"), std::string::npos) << e.what();
  }
  const fs::path index = write_report(typed(rows), dir / "report", typed_acc);
  EXPECT_TRUE(fs::exists(dir / "report" / "speed_accuracy.md"));
  EXPECT_TRUE(fs::exists(dir / "report" / "fig_speed_accuracy.svg"));
  std::ifstream dat(dir / "report" / "fig_speed_accuracy.dat");
  const std::string data((std::istreambuf_iterator<char>(dat)), {});
  EXPECT_NE(data.find("19 100"), std::string::npos) << data;
  EXPECT_NE(data.find("40 90"), std::string::npos) << data;
  std::ifstream html(index);
  const std::string page((std::istreambuf_iterator<char>(html)), {});
  EXPECT_NE(page.find("Speed against accuracy"), std::string::npos);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace infermark

namespace infermark {
namespace {

// Rounds of two frameworks' offline cells, written as a study's rows are (schema 2 fields).
std::vector<ResultRow> rounds_of(const std::vector<std::pair<std::string, std::vector<double>>>& fw,
                                 int batch = 1, double p99_factor = 1.2) {
  std::vector<json> rows;
  for (const auto& [name, values] : fw)
    for (size_t i = 0; i < values.size(); ++i) {
      json r = row(name, "offline", batch, values[i]);
      r["schema"] = "infermark.result/2";
      r["round"] = static_cast<int>(i);
      r["latency_ms"]["p99"] = r["latency_ms"]["p50"].get<double>() * p99_factor;
      r["metrics"]["child_peak_rss_bytes"] = 100 << 20;
      rows.push_back(r);
    }
  auto out = typed(rows);
  for (auto& r : out) r.source = "r.jsonl";
  return out;
}

TEST(Advise, TheWinnerWithItsPairedRatioAgainstTheBestOfAnotherFramework) {
  // b is about 1.5x a in every round, while both drift together round by round.
  const auto rows = rounds_of({{"a", {100, 120, 90, 110, 105}}, {"b", {150, 181, 134, 166, 158}}});
  const auto recs = advise(rows, {});
  ASSERT_EQ(recs.size(), 1u);
  const Recommendation& r = recs.front();
  EXPECT_EQ(r.scenario, "offline");
  EXPECT_EQ(r.winner.row.cell.backend, "b");
  ASSERT_TRUE(r.runner_up.has_value());
  EXPECT_EQ(r.runner_up->row.cell.backend, "a");
  EXPECT_EQ(r.vs_runner_up.pairs, 5);
  EXPECT_NEAR(r.vs_runner_up.ratio, 1.5, 0.02);
  // Paired rounds cancel the drift: the interval is narrow and above 1.
  EXPECT_GT(r.vs_runner_up.low, 1.45);
  EXPECT_LT(r.vs_runner_up.high, 1.55);
  const Table t = advice_table(recs);
  ASSERT_EQ(t.rows.size(), 1u);
  EXPECT_NE(t.rows[0][2].find("b"), std::string::npos);
}

TEST(Advise, ALatencyLimitExcludesTheFasterConfigurationAndSaysWhy) {
  auto rows = rounds_of({{"a", {100, 101, 99}}});
  // b is faster but its p99 (10 ms per image at batch 8 -> 80 ms x 3) breaks p99<=100ms.
  auto slow_tail = rounds_of({{"b", {200, 201, 199}}}, 8, 3.0);
  rows.insert(rows.end(), slow_tail.begin(), slow_tail.end());
  Limits limits;
  limits.latency.push_back(parse_constraint("p99<=100ms"));
  const auto recs = advise(rows, limits);
  ASSERT_EQ(recs.size(), 1u);
  EXPECT_EQ(recs[0].winner.row.cell.backend, "a");
  ASSERT_EQ(recs[0].excluded.size(), 1u);
  EXPECT_NE(recs[0].excluded[0].find("p99 120.00 ms > 100.00 ms"), std::string::npos)
      << recs[0].excluded[0];
  // Without the limit, b wins.
  EXPECT_EQ(advise(rows, {}).front().winner.row.cell.backend, "b");
}

TEST(Advise, LatencyObjectivesPreferLowerAndRatiosStayOrientedForTheWinner) {
  const auto rows = rounds_of({{"a", {100, 100, 100}}, {"b", {50, 50, 50}}});
  const auto recs = advise(rows, {}, "latency-p99");
  ASSERT_EQ(recs.size(), 1u);
  EXPECT_EQ(recs[0].winner.row.cell.backend, "a");  // 10 ms per image against 20
  EXPECT_NEAR(recs[0].vs_runner_up.ratio, 2.0, 1e-9);
}

TEST(Advise, ParetoFrontKeepsWhatNoOtherBeatsOnEveryAxis) {
  auto rows = rounds_of({{"fast", {200}}});           // fast, p99 6 ms
  auto low = rounds_of({{"low", {100}}}, 1, 0.3);     // slower, p99 3 ms: on the front
  auto worse = rounds_of({{"worse", {90}}}, 1, 2.0);  // slower and higher p99: off it
  rows.insert(rows.end(), low.begin(), low.end());
  rows.insert(rows.end(), worse.begin(), worse.end());
  const Objective o = objective_for("", "offline");
  const auto front = pareto_front(rank(rows, o, {}), o);
  std::set<std::string> names;
  for (const auto& s : front) names.insert(s.row.cell.backend);
  EXPECT_EQ(names, (std::set<std::string>{"fast", "low"}));
}

TEST(Advise, BadConstraintsAndObjectivesAreRefusedByName) {
  EXPECT_NEAR(parse_constraint("p99<=0.05s").limit_ms, 50, 1e-9);
  EXPECT_NEAR(parse_constraint("p50<=8ms").limit_ms, 8, 1e-9);
  for (const char* bad : {"p99<50ms", "p99<=50", "p42<=5ms", "p99<=-1ms", "latency"})
    EXPECT_THROW(parse_constraint(bad), Error) << bad;
  EXPECT_THROW(objective_for("fastest", "offline"), Error);
  EXPECT_THROW(objective_for("peak-rate", "offline"), Error);
  EXPECT_THROW(objective_for("throughput", "server"), Error);
}

// Explain lines (`infermark explain --out`): read back grouped by model, batch and precision, a
// framework explained again replacing its earlier line; per report a table by operator class, a
// table of the slowest nodes, a stacked bar figure and a roofline; a line that is not one is
// named, never taken for another kind of file.
TEST(Report, ExplainLinesGiveTablesAndFigures) {
  const fs::path dir =
      fs::temp_directory_path() / ("infermark_explain_" + std::to_string(getpid()));
  fs::create_directories(dir);
  ExplainReport r;
  r.model = "resnet50";
  r.batch = 2;
  r.precision = "fp32";
  r.limits = {5e11, "fp32 FMA peak (env)", 4e10};
  FrameworkExplain ort;
  ort.backend = "onnxruntime";
  ort.profiler = "ONNX Runtime's session profiler";
  ort.runs = 30;
  ort.latency_ms = 40;
  ort.latency_low_ms = 39;
  ort.latency_high_ms = 41;
  ort.profiled_ms = 41;
  ort.kernel_ms = 38;
  ort.overhead_ms = 2;
  ort.classes = {{"convolution", 36}, {"pooling", 2}};
  NodeTime conv;
  conv.node = "conv1";
  conv.op_type = "Conv";
  conv.cls = "convolution";
  conv.ms = 36;
  conv.flops = 7.2e9;  // 200 GFLOP/s
  conv.bytes = 1e8;    // 72 FLOP/B
  ort.nodes = {conv};
  FrameworkExplain old = ort;
  old.latency_ms = 99;  // replaced by the later line of the same framework
  FrameworkExplain tvm;
  tvm.backend = "tvm";
  tvm.status = "unsupported";
  tvm.reason = "tvm gives no per-kernel profile here: not wired in";
  {
    std::ofstream out(dir / "explain.jsonl");
    for (const auto* f : {&old, &ort, &tvm}) out << to_json(r, *f).dump() << "\n";
  }
  ASSERT_TRUE(is_explain_file(dir / "explain.jsonl"));
  const std::vector<ExplainReport> read = read_explain({dir / "explain.jsonl"});
  ASSERT_EQ(read.size(), 1u);
  ASSERT_EQ(read[0].frameworks.size(), 2u);
  EXPECT_DOUBLE_EQ(read[0].frameworks[0].latency_ms, 40);
  EXPECT_EQ(read[0].batch, 2);
  EXPECT_DOUBLE_EQ(read[0].limits.bandwidth_bytes_s, 4e10);

  const std::vector<Table> tables = explain_tables(read);
  ASSERT_EQ(tables.size(), 2u);
  EXPECT_EQ(tables[0].name, "explain_resnet50_b2_fp32");
  ASSERT_EQ(tables[0].rows.size(), 2u);
  const auto& row = tables[0].rows[0];
  EXPECT_EQ(row[1], "20.000 [19.500, 20.500]");  // per image, batch 2
  EXPECT_EQ(row[2], "+2.5%");
  EXPECT_EQ(row[3], "95%");
  EXPECT_EQ(row[4], "18.000");  // convolution per image
  EXPECT_EQ(tables[0].rows[1][1], "unsupported: " + tvm.reason);
  ASSERT_EQ(tables[1].rows.size(), 1u);
  EXPECT_EQ(tables[1].rows[0][6], "200.0");  // GFLOP/s
  EXPECT_EQ(tables[1].rows[0][7], "40%");    // of the 500 GFLOP/s peak
  EXPECT_EQ(tables[1].rows[0][8], "72.0");   // FLOP/B

  const fs::path index = write_report({}, dir / "report", {}, {}, read);
  for (const char* f :
       {"fig_explain_classes_resnet50_b2_fp32", "fig_explain_roofline_resnet50_b2_fp32"})
    for (const char* ext : {".png", ".svg"})
      EXPECT_TRUE(fs::exists(dir / "report" / (std::string(f) + ext))) << f << ext;
  std::ifstream in(index);
  const std::string html((std::istreambuf_iterator<char>(in)), {});
  EXPECT_NE(html.find("Where the time goes"), std::string::npos);

  // Hostile lines: a batch past an integer's range, a node without its time, a schema that is
  // not a string: each one error naming the file's line.
  for (
      const std::string bad :
      {R"({"schema":"infermark-explain/1","model":"m","backend":"b","status":"ok","batch":1e300})",
       R"({"schema":"infermark-explain/1","model":"m","backend":"b","status":"ok","nodes":[{"node":"x"}]})",
       R"({"schema":"infermark-explain/1","model":"m","backend":"b","status":"ok","classes":[1]})"}) {
    std::ofstream(dir / "bad.jsonl") << to_json(r, ort).dump() << "\n" << bad << "\n";
    try {
      read_explain({dir / "bad.jsonl"});
      ADD_FAILURE() << "accepted " << bad;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("line 2"), std::string::npos) << e.what();
    }
  }
  std::ofstream(dir / "other.jsonl") << R"({"schema":7})"
                                     << "\n";
  EXPECT_FALSE(is_explain_file(dir / "other.jsonl"));
  fs::remove_all(dir);
}

// The report in a real browser (Debian's Chromium, headless): a report of every kind of table
// and figure opens with nothing on its console, every link and source is a file of the report,
// and a screenshot is kept in the build folder (test-artifacts/report.png) to look at.
TEST(ReportBrowser, OpensWithoutConsoleMessagesOrBrokenLinks) {
  const fs::path dir =
      fs::temp_directory_path() / ("infermark_browser_" + std::to_string(getpid()));
  ExplainReport explained;
  explained.model = "resnet50";
  explained.precision = "fp32";
  explained.limits = {5e11, "fp32 FMA peak (env)", 4e10};
  FrameworkExplain f;
  f.backend = "onnxruntime";
  f.latency_ms = f.profiled_ms = 20;
  f.kernel_ms = 19;
  f.overhead_ms = 1;
  f.classes = {{"convolution", 19}};
  NodeTime conv;
  conv.node = "conv1";
  conv.cls = "convolution";
  conv.ms = 19;
  conv.flops = 4e9;
  conv.bytes = 1e8;
  f.nodes = {conv};
  explained.frameworks = {f};
  const fs::path index = write_report(typed(fixture()), dir, {}, {}, {explained});
  std::ifstream in(index);
  const std::string html((std::istreambuf_iterator<char>(in)), {});

  // Every href and src: an anchor, or a file the report wrote.
  int links = 0;
  for (const char* attr : {"href=\"", "src=\""})
    for (size_t at = html.find(attr); at != std::string::npos; at = html.find(attr, at + 1)) {
      const size_t start = at + std::strlen(attr), stop = html.find('"', start);
      ASSERT_NE(stop, std::string::npos);
      const std::string target = html.substr(start, stop - start);
      if (target.empty() || target[0] == '#') continue;
      ++links;
      EXPECT_TRUE(fs::is_regular_file(dir / target)) << "broken link: " << target;
    }
  EXPECT_GT(links, 4);

  const fs::path artifacts = fs::path(INFERMARK_BINARY).parent_path() / "test-artifacts";
  fs::create_directories(artifacts);
  const fs::path shot = artifacts / "report.png", log = dir / "chromium.log";
  fs::remove(shot);
  const std::string version_cmd =
      "chromium --version > " + (dir / "version.txt").string() + " 2>/dev/null";
  ASSERT_EQ(std::system(version_cmd.c_str()), 0)
      << "Chromium is missing (scripts/deps/apt-packages.txt)";
  std::ifstream version_file(dir / "version.txt");
  std::string version;
  std::getline(version_file, version);
  std::cout << "browser: " << version << "\n";
  const std::string cmd =
      "timeout 120 chromium --headless=new --no-sandbox --disable-gpu "
      "--enable-logging=stderr --v=0 --window-size=1200,2400 --screenshot=" +
      shot.string() + " 'file://" + index.string() + "' > " + log.string() + " 2>&1";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  std::ifstream log_in(log);
  for (std::string line; std::getline(log_in, line);)
    EXPECT_EQ(line.find(":CONSOLE"), std::string::npos) << "the page's console: " << line;
  ASSERT_TRUE(fs::exists(shot));
  EXPECT_GT(fs::file_size(shot), 20000u) << "a screenshot of an empty page";
  std::cout << "screenshot: " << shot.string() << "\n";
  fs::remove_all(dir);
}

}  // namespace
}  // namespace infermark
