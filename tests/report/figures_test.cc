// The report's figures: the power-law fit, and draw_figures on small result rows built here
// (one failed cell among them), checked through the files gnuplot writes.
#include "report/figures.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <numbers>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "core/error.h"

namespace {
namespace fs = std::filesystem;
using infermark::Figure;
using nlohmann::json;

// ---------------------------------------------------------------------------------------
// fit_power_law

TEST(PowerLawFit, RecoversExactParametersFromNoiselessData) {
  std::vector<double> x, y;
  for (int i = 1; i <= 20; ++i) {
    x.push_back(0.5 * i);
    y.push_back(3.0 * std::pow(0.5 * i, -0.7));
  }
  const auto fit = infermark::fit_power_law(x, y);
  EXPECT_EQ(fit.points, 20);
  EXPECT_NEAR(fit.a, 3.0, 1e-9);
  EXPECT_NEAR(fit.b, -0.7, 1e-9);
  EXPECT_NEAR(fit.r2, 1.0, 1e-12);
}

TEST(PowerLawFit, NoiseLowersRSquared) {
  std::vector<double> x, y;
  for (int i = 1; i <= 40; ++i) {
    const double noise = std::exp(0.15 * std::sin(7.3 * i));  // deterministic, multiplicative
    x.push_back(i);
    y.push_back(3.0 * std::pow(i, -0.7) * noise);
  }
  const auto fit = infermark::fit_power_law(x, y);
  EXPECT_EQ(fit.points, 40);
  EXPECT_LT(fit.r2, 1.0);
  EXPECT_GT(fit.r2, 0.5);
  EXPECT_NEAR(fit.b, -0.7, 0.1);
}

TEST(PowerLawFit, IgnoresNonPositiveValuesAndNeedsTwoPoints) {
  // Only (2, 8) and (4, 32) are usable: y = 2 x^2.
  auto fit = infermark::fit_power_law({0, -1, 2, 4, 5}, {1, 1, 8, 32, 0});
  EXPECT_EQ(fit.points, 2);
  EXPECT_NEAR(fit.a, 2.0, 1e-9);
  EXPECT_NEAR(fit.b, 2.0, 1e-9);

  for (const auto& [x, y] : std::vector<std::pair<std::vector<double>, std::vector<double>>>{
           {{}, {}}, {{2}, {3}}, {{0, 1}, {5, -2}}}) {
    fit = infermark::fit_power_law(x, y);
    EXPECT_LT(fit.points, 2);
    EXPECT_EQ(fit.a, 0);
    EXPECT_EQ(fit.b, 0);
    EXPECT_EQ(fit.r2, 0);
  }
}

// ---------------------------------------------------------------------------------------
// Fixture rows (schema infermark.result/1, only the fields the figures read)

json row(const std::string& framework, const std::string& model, const std::string& scenario,
         int64_t batch, const std::string& status = "ok", json metrics = json::object(),
         double p50 = 10) {
  json r = {{"schema", "infermark.result/1"},
            {"model", {{"name", model}}},
            {"backend", {{"name", framework}, {"version", "1.0"}}},
            {"scenario", scenario},
            {"batch", batch},
            {"threads", 0},
            {"repeat", 0},
            {"status", status},
            {"metrics", metrics}};
  if (status == "ok") {
    r["latency_ms"] = {{"p50", p50}, {"p90", p50 * 1.2}, {"p99", p50 * 1.5}, {"count", 100}};
    r["metrics"]["energy_j"] = nullptr;
    r["metrics"]["energy_per_image_j"] = nullptr;
  } else {
    r["message"] = "resident memory passed --memory-limit (400 MiB)";
  }
  return r;
}

json offline(const std::string& framework, int64_t batch, double ips, double share = 0.5) {
  return row(framework, "resnet50", "offline", batch, "ok",
             {{"throughput_ips", ips}, {"share_of_peak", share}, {"rss_peak_bytes", 2e8}},
             1000.0 * batch / ips);
}

// draw_figures on rows given as result lines (read as a result file's reader reads them).
std::vector<Figure> draw(const std::vector<json>& lines, const fs::path& dir) {
  std::vector<infermark::ResultRow> rows;
  for (const auto& l : lines) rows.push_back(infermark::row_from_json(l));
  return infermark::draw_figures(rows, dir);
}

// Two frameworks, offline batches 1, 8, 32 and single-stream; openvino's batch 32 ran out of
// memory; onnxruntime's batch 8 ran three times (throughput 10, 20, 100: median 20).
std::vector<json> throughput_rows() {
  return {offline("onnxruntime", 1, 14.8),
          offline("onnxruntime", 8, 10),
          offline("onnxruntime", 8, 20),
          offline("onnxruntime", 8, 100),
          offline("onnxruntime", 32, 15.8),
          offline("openvino", 1, 14.9),
          offline("openvino", 8, 14.0),
          row("openvino", "resnet50", "offline", 32, "oom"),
          row("onnxruntime", "resnet50", "single-stream", 1, "ok", {{"throughput_ips", 15}}, 66),
          row("openvino", "resnet50", "single-stream", 1, "ok", {{"throughput_ips", 15}}, 64)};
}

fs::path fresh_dir(const std::string& what) {
  const fs::path dir =
      fs::temp_directory_path() / ("infermark_figures_" + what + "_" + std::to_string(getpid()));
  fs::remove_all(dir);
  return dir;
}

std::string slurp(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// A PNG: the signature, then an IHDR chunk with a width and height above zero.
void expect_png(const fs::path& file) {
  const std::string b = slurp(file);
  ASSERT_GE(b.size(), 24u) << file;
  EXPECT_EQ(b.substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8)) << file;
  EXPECT_EQ(b.substr(12, 4), "IHDR") << file;
  auto be32 = [&](size_t at) {
    uint32_t v = 0;
    for (size_t i = 0; i < 4; ++i) v = (v << 8) | static_cast<unsigned char>(b[at + i]);
    return v;
  };
  EXPECT_GT(be32(16), 0u) << file;
  EXPECT_GT(be32(20), 0u) << file;
}

const Figure* find(const std::vector<Figure>& figures, const std::string& prefix) {
  for (const auto& f : figures)
    if (f.name.rfind(prefix, 0) == 0) return &f;
  return nullptr;
}

bool has(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

// The rows (fields split on blanks) of the data block whose header comment starts with `what`
// ("# [N] what..."), and N; none when no block has that header.
std::vector<std::vector<std::string>> block_rows(const std::string& dat, const std::string& what,
                                                 int* index = nullptr) {
  std::vector<std::vector<std::string>> rows;
  std::istringstream in(dat);
  bool inside = false;
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("# [", 0) == 0) {
      const size_t close = line.find("] ");
      inside = close != std::string::npos && line.compare(close + 2, what.size(), what) == 0;
      if (inside && index) *index = std::stoi(line.substr(3, close - 3));
      continue;
    }
    if (!inside || line.empty() || line[0] == '#') continue;
    std::istringstream fields(line);
    rows.emplace_back();
    for (std::string f; fields >> f;) rows.back().push_back(f);
  }
  return rows;
}

// The lines of a gnuplot script that contain `what`.
std::vector<std::string> lines_with(const std::string& gp, const std::string& what) {
  std::vector<std::string> out;
  std::istringstream in(gp);
  for (std::string line; std::getline(in, line);)
    if (line.find(what) != std::string::npos) out.push_back(line);
  return out;
}

// The colour ("#RRGGBB") of the plot element titled `title` in a gnuplot script; empty when
// no element has that title.
std::string colour_of(const std::string& gp, const std::string& title) {
  for (const std::string& line : lines_with(gp, "title '" + title + "'")) {
    const size_t at = line.find("title '" + title + "'");
    const size_t lc = line.rfind("lc rgb '#", at);
    if (lc != std::string::npos) return line.substr(lc + 8, 7);
  }
  return "";
}

// The hue of "#RRGGBB" in degrees: the angle of the colour around the grey axis, which
// mixing with white or black (a shade) keeps.
double hue(const std::string& hex) {
  unsigned r = 0, g = 0, b = 0;
  std::sscanf(hex.c_str(), "#%02x%02x%02x", &r, &g, &b);
  return std::atan2(std::sqrt(3.0) * (double(g) - b), 2.0 * r - g - b) * 180 / std::numbers::pi;
}

double hue_distance(double a, double b) {
  const double d = std::fabs(a - b);
  return std::min(d, 360 - d);
}

// ---------------------------------------------------------------------------------------
// draw_figures

TEST(DrawFigures, ThroughputBarsWithAFailedCell) {
  const fs::path dir = fresh_dir("throughput");
  const auto figures = draw(throughput_rows(), dir);
  ASSERT_FALSE(figures.empty());

  const Figure* f = find(figures, "fig1_throughput_resnet50");
  ASSERT_NE(f, nullptr);
  EXPECT_FALSE(f->title.empty());
  EXPECT_FALSE(f->caption.empty());
  EXPECT_TRUE(has(f->series, "onnxruntime"));
  EXPECT_TRUE(has(f->series, "openvino"));

  for (const auto& fig : figures) {
    SCOPED_TRACE(fig.name);
    expect_png(dir / (fig.name + ".png"));
    EXPECT_TRUE(fs::exists(dir / (fig.name + ".gp")));  // kept, to redraw by hand
    EXPECT_TRUE(fs::exists(dir / (fig.name + ".dat")));
    const std::string svg = slurp(dir / (fig.name + ".svg"));
    EXPECT_NE(svg.find("<svg"), std::string::npos);
    EXPECT_NE(svg.find("onnxruntime"), std::string::npos);
    EXPECT_NE(svg.find("openvino"), std::string::npos);
  }
  const std::string svg = slurp(dir / (f->name + ".svg"));
  EXPECT_NE(svg.find("oom"), std::string::npos) << "the failed cell is drawn as its status";

  // Repeats are folded into their median: 20 images/s for onnxruntime at batch 8 (the second
  // slot), the bar; 10 and 100 only as the ends of its whisker (min-max of 3 rounds, kind 2).
  const std::string dat = slurp(dir / (f->name + ".dat"));
  const auto onnx = block_rows(dat, "series onnxruntime:");
  ASSERT_EQ(onnx.size(), 3u) << dat;
  EXPECT_EQ(std::vector<std::string>(onnx[1].begin() + 1, onnx[1].begin() + 5),
            (std::vector<std::string>{"20", "10", "100", "2"}))
      << dat;
  for (const auto& r : onnx) EXPECT_NE(r[1], "100") << dat;

  // Single-stream is present, the share of peak too; nothing for absent scenarios or energy.
  EXPECT_NE(find(figures, "fig_latency_single_stream"), nullptr);
  EXPECT_NE(find(figures, "fig_share_of_peak"), nullptr);
  for (const auto& fig : figures) {
    EXPECT_EQ(fig.name.find("server"), std::string::npos) << fig.name;
    EXPECT_EQ(fig.name.find("memory"), std::string::npos) << fig.name;
    EXPECT_EQ(fig.name.find("energy"), std::string::npos) << fig.name;
  }
  fs::remove_all(dir);
}

// An ablation (`--set a.k=v1,v2`) or a thread sweep is drawn as one bar per configuration,
// keyed like the tables, never as one bar holding the median of different settings.
TEST(DrawFigures, CellsThatDifferInSettingsOrThreadsAreSeparateBars) {
  json v1 = offline("onnxruntime", 1, 10), v2 = offline("onnxruntime", 1, 30),
       t1 = offline("onnxruntime", 1, 5);
  v1["backend"]["settings_asked"] = {{"graph_optimization_level", "basic"}};
  v2["backend"]["settings_asked"] = {{"graph_optimization_level", "all"}};
  t1["backend"]["settings_asked"] = {{"graph_optimization_level", "all"}};
  t1["threads"] = 1;
  const fs::path dir = fresh_dir("ablation");
  const auto figures = draw({v1, v2, t1}, dir);
  const Figure* f = find(figures, "fig1_throughput_resnet50");
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->series.size(), 3u);
  EXPECT_TRUE(has(f->series, "onnxruntime (graph_optimization_level=basic)"));
  EXPECT_TRUE(has(f->series, "onnxruntime (graph_optimization_level=all)"));
  EXPECT_TRUE(has(f->series, "onnxruntime (graph_optimization_level=all threads 1)"));
  fs::remove_all(dir);
}

TEST(DrawFigures, OnlyScenariosPresentAreDrawn) {
  const fs::path dir = fresh_dir("single");
  const auto figures = draw(
      {row("onnxruntime", "vgg19", "single-stream", 1, "ok", {{"throughput_ips", 3}}, 290)}, dir);
  ASSERT_EQ(figures.size(), 1u);
  EXPECT_EQ(figures[0].name, "fig_latency_single_stream");
  EXPECT_FALSE(fs::exists(dir / "fig1_throughput_vgg19.png"));

  EXPECT_TRUE(draw({}, fresh_dir("none")).empty());
  fs::remove_all(dir);
}

TEST(DrawFigures, AModelWhoseEveryCellFailed) {
  const fs::path dir = fresh_dir("allfailed");
  const auto figures = draw({row("onnxruntime", "corrupt", "offline", 1, "error"),
                             row("openvino", "corrupt", "offline", 1, "unsupported")},
                            dir);
  const Figure* f = find(figures, "fig1_throughput_corrupt");
  ASSERT_NE(f, nullptr);
  expect_png(dir / (f->name + ".png"));
  const std::string svg = slurp(dir / (f->name + ".svg"));
  EXPECT_NE(svg.find("error"), std::string::npos);
  EXPECT_NE(svg.find("unsupported"), std::string::npos);
  EXPECT_NE(svg.find("openvino"), std::string::npos);
  fs::remove_all(dir);
}

TEST(DrawFigures, EnergyFigureWithItsFitOnlyWhereEnergyWasMeasured) {
  std::vector<json> rows;
  const double ips[] = {5, 12, 30, 70};
  for (const char* fw : {"onnxruntime", "openvino"})
    for (int i = 0; i < 4; ++i) {
      json r = offline(fw, int64_t{1} << (2 * i), ips[i] * (fw[1] == 'n' ? 1.0 : 1.3));
      const double x = r["metrics"]["throughput_ips"];
      r["metrics"]["energy_j"] = 100.0;
      r["metrics"]["energy_per_image_j"] = 3.0 * std::pow(x, -0.7);
      rows.push_back(r);
    }
  const fs::path dir = fresh_dir("energy");
  const auto figures = draw(rows, dir);
  const Figure* f = find(figures, "fig4_energy");
  ASSERT_NE(f, nullptr);
  EXPECT_TRUE(has(f->series, "onnxruntime"));
  EXPECT_TRUE(has(f->series, "openvino"));
  EXPECT_TRUE(has(f->series, "fit"));
  expect_png(dir / (f->name + ".png"));
  const std::string svg = slurp(dir / (f->name + ".svg"));
  EXPECT_NE(svg.find("R^2 = 1.000"), std::string::npos);
  EXPECT_NE(svg.find("x^-0.700"), std::string::npos);
  EXPECT_NE(f->caption.find("R^2"), std::string::npos);
  fs::remove_all(dir);
}

json server(const std::string& fw, double max_batch, double rate, double p50) {
  json r = row(fw, "resnet50", "server", 1, "ok",
               {{"throughput_ips", rate},
                {"offered_qps", rate},
                {"achieved_qps", rate},
                {"max_batch", max_batch},
                {"max_queue_delay_ms", max_batch > 1 ? 10.0 : 0.0}},
               p50);
  // What identifies a server cell: its batcher and offered rate.
  r["server"] = {{"max_batch", max_batch},
                 {"max_queue_delay_ms", max_batch > 1 ? 10.0 : 0.0},
                 {"rate_qps", rate}};
  return r;
}

// A find-peak cell that found `peak` q/s under a p99 target of 200 ms, confirmed by its run at
// the peak (p99 1.5 x p50) unless `confirmed` is false (then no rate held: peak 0).
json find_peak(const std::string& fw, double max_batch, double peak, double p50,
               bool confirmed = true) {
  json r = server(fw, max_batch, peak, p50);
  r["server"]["rate_qps"] = 2.0;  // where the search started
  r["metrics"]["peak_qps"] = confirmed ? peak : 0.0;
  r["peak"] = {{"slo_p99_ms", 200.0}};
  r["metrics"]["slo_p99_ms"] = 200.0;
  r["metrics"]["queries"] = 200;
  r["metrics"]["achieved_fraction"] = 0.99;
  r["metrics"]["peak_confirmed"] = confirmed;
  r["metrics"]["probes"] = {{{"rate_qps", 2}, {"p99_ms", 80}, {"meets", true}},
                            {{"rate_qps", 16}, {"p99_ms", 900}, {"meets", false}},
                            {{"rate_qps", peak}, {"p99_ms", 150}, {"meets", true}}};
  r["metrics"]["peak_confirmations"] = {
      {{"rate_qps", peak}, {"p99_ms", 1.5 * p50}, {"meets", confirmed}}};
  return r;
}

TEST(DrawFigures, ServerLatencyAndEnsembleMemory) {
  std::vector<json> rows;
  for (double rate : {2.0, 4.0, 8.0}) {
    rows.push_back(server("onnxruntime", 8, rate, 60 + rate));
    rows.push_back(server("onnxruntime", 1, rate, 60 + 3 * rate));
  }
  rows.push_back(find_peak("openvino", 8, 11.5, 90));
  for (int64_t b : {1, 8, 32})
    rows.push_back(row("onnxruntime", "ens3", "ensemble", b, "ok",
                       {{"throughput_ips", 5.0}, {"rss_peak_bytes", 3e8 * double(b)}}));
  rows.push_back(row("openvino", "ens3", "ensemble", 1, "ok", {{"rss_peak_bytes", 2.5e8}}));
  rows.push_back(row("openvino", "ens3", "ensemble", 32, "oom"));

  const fs::path dir = fresh_dir("server");
  const auto figures = draw(rows, dir);
  const Figure* s = find(figures, "fig_server_latency_resnet50");
  ASSERT_NE(s, nullptr);
  expect_png(dir / (s->name + ".png"));
  std::string svg = slurp(dir / (s->name + ".svg"));
  EXPECT_NE(svg.find("no batching"), std::string::npos);
  EXPECT_NE(svg.find("batching (max 8, 10 ms)"), std::string::npos);
  EXPECT_NE(svg.find("p99 target 200 ms"), std::string::npos);
  EXPECT_TRUE(has(s->series, "p99 target 200 ms"));

  const Figure* m = find(figures, "fig3_memory_ens3");
  ASSERT_NE(m, nullptr);
  EXPECT_TRUE(has(m->series, "onnxruntime"));
  EXPECT_TRUE(has(m->series, "openvino"));
  expect_png(dir / (m->name + ".png"));
  svg = slurp(dir / (m->name + ".svg"));
  EXPECT_NE(svg.find("oom"), std::string::npos);
  EXPECT_NE(svg.find("MiB"), std::string::npos);
  fs::remove_all(dir);
}

// The colour of a framework comes from its name over the whole report: the same in every
// figure, its configurations shades of it, and other frameworks keep theirs when one of them
// adds configurations (an ablation).
TEST(DrawFigures, AFrameworkHasOneColourInEveryFigure) {
  json basic = offline("onnxruntime", 1, 10), all = offline("onnxruntime", 1, 30);
  basic["backend"]["settings_asked"] = {{"graph_optimization_level", "basic"}};
  all["backend"]["settings_asked"] = {{"graph_optimization_level", "all"}};
  const std::vector<json> rows = {
      basic,
      all,
      offline("openvino", 1, 20),
      row("onnxruntime", "resnet50", "single-stream", 1, "ok", {{"throughput_ips", 15}}, 66),
      row("openvino", "resnet50", "single-stream", 1, "ok", {{"throughput_ips", 15}}, 64),
      server("onnxruntime", 8, 4, 60),
      server("openvino", 8, 4, 50)};
  const fs::path dir = fresh_dir("colours");
  draw(rows, dir);
  const std::string bars = slurp(dir / "fig1_throughput_resnet50.gp");
  const std::string single = slurp(dir / "fig_latency_single_stream.gp");
  const std::string lines = slurp(dir / "fig_server_latency_resnet50.gp");

  // Without the ablation, openvino has the same colour: it comes from its name alone.
  const fs::path plain = fresh_dir("colours_plain");
  draw({offline("onnxruntime", 1, 20), offline("openvino", 1, 20)}, plain);
  const std::string openvino = colour_of(slurp(plain / "fig1_throughput_resnet50.gp"), "openvino");
  ASSERT_FALSE(openvino.empty());
  EXPECT_EQ(colour_of(bars, "openvino"), openvino) << bars;
  EXPECT_EQ(colour_of(single, "openvino"), openvino) << single;
  EXPECT_EQ(colour_of(lines, "openvino"), openvino) << lines;

  // Three configurations of onnxruntime: three shades of one hue, far from openvino's, the
  // default configuration the same in every figure.
  const std::string onnx = colour_of(single, "onnxruntime");
  const std::string onnx_basic = colour_of(bars, "onnxruntime (graph_optimization_level=basic)");
  const std::string onnx_all = colour_of(bars, "onnxruntime (graph_optimization_level=all)");
  ASSERT_TRUE(!onnx.empty() && !onnx_basic.empty() && !onnx_all.empty()) << bars << single;
  EXPECT_EQ(colour_of(lines, "onnxruntime"), onnx) << lines;
  EXPECT_EQ((std::set<std::string>{onnx, onnx_basic, onnx_all}).size(), 3u);
  for (const std::string& shade : {onnx_basic, onnx_all})
    EXPECT_LT(hue_distance(hue(shade), hue(onnx)), 3) << shade << " vs " << onnx;
  EXPECT_GT(hue_distance(hue(openvino), hue(onnx)), 30) << openvino << " vs " << onnx;
  fs::remove_all(dir);
  fs::remove_all(plain);
}

// Batch sizes that were not measured get no slot: batches 1, 8 and 32 give three tics.
TEST(DrawFigures, OnlyMeasuredBatchesAreTics) {
  const fs::path dir = fresh_dir("tics");
  draw(throughput_rows(), dir);
  const auto tics = lines_with(slurp(dir / "fig1_throughput_resnet50.gp"), "set xtics (");
  ASSERT_EQ(tics.size(), 1u);
  EXPECT_EQ(tics[0], "set xtics ('1' 0, '8' 1, '32' 2)");
  fs::remove_all(dir);
}

// A cell measured in rounds is drawn with its spread: the 95% interval of the median from 6
// rounds on, min-max below, nothing for one round; the caption says which is which.
TEST(DrawFigures, ACellWithRoundsGetsWhiskers) {
  auto in_round = [](json r, int round) {
    r["round"] = round;
    return r;
  };
  std::vector<json> rows = {offline("tvm", 1, 40)};
  for (int i = 0; i < 7; ++i) rows.push_back(in_round(offline("onnxruntime", 1, 10 + i), i));
  for (int i = 0; i < 3; ++i) rows.push_back(in_round(offline("openvino", 1, 20 + 5 * i), i));
  const fs::path dir = fresh_dir("rounds");
  const auto figures = draw(rows, dir);
  const Figure* f = find(figures, "fig1_throughput_resnet50");
  ASSERT_NE(f, nullptr);
  const std::string gp = slurp(dir / (f->name + ".gp"));
  const std::string dat = slurp(dir / (f->name + ".dat"));

  // x median low high kind: 7 values give [min, max] as their 95% interval (kind 1); 3 give
  // min-max (kind 2); one gives none (kind 0).
  auto fields = [&](const std::string& series) {
    const auto rows = block_rows(dat, "series " + series + ":");
    return rows.size() == 1 ? std::vector<std::string>(rows[0].begin() + 1, rows[0].begin() + 5)
                            : std::vector<std::string>{};
  };
  EXPECT_EQ(fields("onnxruntime"), (std::vector<std::string>{"13", "10", "16", "1"})) << dat;
  EXPECT_EQ(fields("openvino"), (std::vector<std::string>{"25", "20", "30", "2"})) << dat;
  EXPECT_EQ(fields("tvm"), (std::vector<std::string>{"40", "40", "40", "0"})) << dat;

  // Both kinds drawn as error bars, each in the legend.
  EXPECT_FALSE(lines_with(gp, "with yerrorbars").empty()) << gp;
  EXPECT_FALSE(lines_with(gp, "title '95% interval of the median'").empty()) << gp;
  EXPECT_FALSE(lines_with(gp, "title 'min-max (2-5 rounds)'").empty()) << gp;
  EXPECT_NE(f->caption.find("95%"), std::string::npos) << f->caption;
  EXPECT_NE(f->caption.find("min to max"), std::string::npos) << f->caption;
  fs::remove_all(dir);
}

// One panel per batching mode; in each, a configuration's p50 curve solid and its p99 curve
// dashed, as the legend says.
TEST(DrawFigures, ServerPanelsDrawP50SolidAndP99Dashed) {
  std::vector<json> rows;
  for (double rate : {2.0, 4.0, 8.0}) {
    rows.push_back(server("onnxruntime", 8, rate, 60 + rate));
    rows.push_back(server("onnxruntime", 1, rate, 60 + 3 * rate));
  }
  const fs::path dir = fresh_dir("server_styles");
  draw(rows, dir);
  const std::string gp = slurp(dir / "fig_server_latency_resnet50.gp");
  const std::string dat = slurp(dir / "fig_server_latency_resnet50.dat");
  EXPECT_EQ(lines_with(gp, "set multiplot title").size(), 1u) << gp;
  EXPECT_EQ(lines_with(gp, "set title 'dynamic batching (max 8, 10 ms)'").size(), 1u) << gp;
  EXPECT_EQ(lines_with(gp, "set title 'no batching'").size(), 1u) << gp;
  for (const char* mode : {"dynamic batching (max 8, 10 ms)", "no batching"})
    for (const char* q : {"p50", "p99"}) {
      SCOPED_TRACE(std::string(mode) + " " + q);
      int index = -1;
      const auto points = block_rows(dat, std::string("onnxruntime, ") + mode + ", " + q, &index);
      EXPECT_EQ(points.size(), 3u) << dat;
      const auto curve =
          lines_with(gp, "index " + std::to_string(index) + " using 1:2 with linespoints");
      ASSERT_EQ(curve.size(), 1u) << gp;
      EXPECT_NE(curve[0].find(std::string(" dt ") + (q[1] == '5' ? "1 " : "2 ")), std::string::npos)
          << curve[0];
    }
  EXPECT_EQ(lines_with(gp, "dt 1 lw 2 title 'p50 (solid)'").size(), 2u) << gp;
  EXPECT_EQ(lines_with(gp, "dt 2 lw 2 title 'p99 (dashed)'").size(), 2u) << gp;
  fs::remove_all(dir);
}

// Two frameworks that found the same peak rate at the same latency: both peaks are labelled,
// and the labels are apart.
TEST(DrawFigures, PeakLabelsOfTwoFrameworksDoNotOverlap) {
  const fs::path dir = fresh_dir("peaks");
  draw({find_peak("onnxruntime", 8, 11.5, 90), find_peak("openvino", 8, 11.5, 90)}, dir);
  const std::string gp = slurp(dir / "fig_server_latency_resnet50.gp");
  const auto labels = lines_with(gp, "'peak 11.5 q/s' at ");
  ASSERT_EQ(labels.size(), 2u) << gp;
  // Apart by more than a line of text (about 5% of a panel's height) or a label's width.
  double x[2] = {}, y[2] = {};
  for (int i = 0; i < 2; ++i)
    EXPECT_EQ(std::sscanf(labels[i].c_str() + labels[i].find(" at ") + 4, "graph %lf, graph %lf",
                          &x[i], &y[i]),
              2)
        << labels[i];
  EXPECT_TRUE(std::fabs(y[0] - y[1]) > 0.04 || std::fabs(x[0] - x[1]) > 0.15) << labels[0] << "\n"
                                                                              << labels[1];
  EXPECT_NE(slurp(dir / "fig_server_latency_resnet50.svg").find("peak 11.5 q/s"),
            std::string::npos);
  fs::remove_all(dir);
}

// Issue 28, item 1: a peak is ringed only where its confirming run met the target, at that
// run's rate and p99 (the row's own figures); a search whose runs all failed has no ring.
TEST(DrawFigures, OnlyConfirmedPeaksAreRingedAtTheirRunsP99) {
  const fs::path dir = fresh_dir("confirmed");
  draw({find_peak("onnxruntime", 8, 11.5, 90), find_peak("openvino", 8, 14, 95, false)}, dir);
  const std::string gp = slurp(dir / "fig_server_latency_resnet50.gp");
  EXPECT_EQ(lines_with(gp, "'peak 11.5 q/s' at ").size(), 1u) << gp;
  EXPECT_TRUE(lines_with(gp, "'peak 14 q/s' at ").empty()) << gp;
  // The ring's data: rate 11.5 at p99 135 ms (1.5 x the p50 of 90), onnxruntime's only.
  const std::string dat = slurp(dir / "fig_server_latency_resnet50.dat");
  const auto at = dat.find("onnxruntime, dynamic batching (max 8, 10 ms), peak:");
  ASSERT_NE(at, std::string::npos) << dat;
  EXPECT_EQ(dat.compare(dat.find('\n', at) + 1, 9, "11.5 135 "), 0) << dat.substr(at, 200);
  EXPECT_EQ(dat.find("openvino, dynamic batching (max 8, 10 ms), peak:"), std::string::npos);
  fs::remove_all(dir);
}

TEST(DrawFigures, MissingGnuplotIsAnErrorNamingTheFigure) {
  const std::string saved = std::getenv("PATH") ? std::getenv("PATH") : "";
  const fs::path empty = fresh_dir("nopath");
  fs::create_directories(empty);
  setenv("PATH", empty.c_str(), 1);
  std::string message;
  try {
    draw(throughput_rows(), fresh_dir("nognuplot"));
  } catch (const infermark::Error& e) {
    message = e.what();
  }
  setenv("PATH", saved.c_str(), 1);
  EXPECT_NE(message.find("fig1_throughput_resnet50"), std::string::npos) << message;
  EXPECT_NE(message.find("gnuplot"), std::string::npos) << message;
  fs::remove_all(empty);
  fs::remove_all(fresh_dir("nognuplot"));
}

TEST(DrawFigures, GnuplotFailureNamesTheFigureAndItsFirstErrorLine) {
  const fs::path bin = fresh_dir("fakebin");
  fs::create_directories(bin);
  {
    std::ofstream fake(bin / "gnuplot");
    fake << "#!/bin/sh\necho 'plot foo' >&2\n"
            "echo '\"$1\" line 3: undefined variable: foo' >&2\nexit 1\n";
  }
  fs::permissions(bin / "gnuplot", fs::perms::owner_all);
  const std::string saved = std::getenv("PATH") ? std::getenv("PATH") : "";
  setenv("PATH", (bin.string() + ":" + saved).c_str(), 1);
  std::string message;
  try {
    draw(throughput_rows(), fresh_dir("badgnuplot"));
  } catch (const infermark::Error& e) {
    message = e.what();
  }
  setenv("PATH", saved.c_str(), 1);
  EXPECT_NE(message.find("fig1_throughput_resnet50"), std::string::npos) << message;
  EXPECT_NE(message.find("line 3: undefined variable: foo"), std::string::npos) << message;
  fs::remove_all(bin);
  fs::remove_all(fresh_dir("badgnuplot"));
}

}  // namespace
