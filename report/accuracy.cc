// Speed against accuracy: the lines of `infermark accuracy` beside the result rows of the
// same model (report/report.h).
#include <algorithm>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <tuple>

#include "core/error.h"
#include "core/metrics.h"
#include "core/text.h"
#include "report/figures.h"
#include "report/figures_plot.h"
#include "report/report.h"

namespace infermark {
namespace {
namespace fs = std::filesystem;
using nlohmann::json;

std::string model_name(const std::string& model) {
  const fs::path p(model);
  return p.has_extension() ? p.stem().string() : model;
}

// The best offline throughput of (model, backend, precision): the highest median over rounds
// of its configurations (batch, concurrency, settings), and where.
struct Best {
  double ips = 0;
  std::string where;
};
std::map<std::tuple<std::string, std::string, std::string>, Best> best_offline(
    const std::vector<ResultRow>& rows) {
  std::map<std::string, std::vector<double>> by_config;
  std::map<std::string, const ResultRow*> example;
  for (const auto& r : rows) {
    if (!r.ok() || r.cell.scenario != scenario::kOffline ||
        !r.metrics.contains(metric::kThroughputIps))
      continue;
    const std::string id = identity(r.cell, {"arm"});
    by_config[id].push_back(r.metrics[metric::kThroughputIps].get<double>());
    example[id] = &r;
  }
  std::map<std::tuple<std::string, std::string, std::string>, Best> best;
  for (const auto& [id, values] : by_config) {
    const ResultRow& r = *example[id];
    const double median = aggregate(values).value_or(Aggregate{}).median;
    Best& b = best[{model_name(r.cell.model.name), r.cell.backend, r.cell.precision}];
    if (median > b.ips) {
      b.ips = median;
      b.where = "batch " + std::to_string(r.cell.batch) +
                (r.cell.concurrency > 1 ? " at " + std::to_string(r.cell.concurrency) + " in flight"
                                        : "");
    }
  }
  return best;
}

}  // namespace

Table speed_accuracy_table(const std::vector<ResultRow>& rows,
                           const std::vector<AccuracyRow>& acc) {
  Table t;
  t.name = "speed_accuracy";
  t.title = "Speed against accuracy, per framework and precision";
  t.columns = {"model",           "framework",      "precision",      "best offline images/s",
               "top-1 agreement", "top-1 accuracy", "top-5 accuracy", "max rel. difference",
               "top-1 changed on"};
  const auto best = best_offline(rows);
  for (const auto& a : acc) {
    const std::string model = model_name(a.model);
    std::vector<std::string> row = {model, a.backend, a.precision};
    const auto it = best.find({model, a.backend, a.precision});
    row.push_back(it == best.end() ? "not measured"
                                   : fixed(it->second.ips, 2) + " (" + it->second.where + ")");
    if (!a.ok()) {
      row.insert(row.end(), {a.status, "", "", "", a.message});
      t.rows.push_back(row);
      continue;
    }
    auto share = [&](const std::optional<double>& v) {
      return v ? formatted(*v * 100, "%.1f%%") : std::string("-");
    };
    row.push_back(share(a.top1_agreement));
    row.push_back(share(a.top1_accuracy));
    row.push_back(share(a.top5_accuracy));
    row.push_back(a.max_rel_diff ? formatted(*a.max_rel_diff, "%.2e") : std::string("-"));
    std::string changed;
    for (const auto& d : a.disagreements) changed += (changed.empty() ? "" : "; ") + d;
    row.push_back(changed.empty() ? "none of " + std::to_string(a.images) : changed);
    t.rows.push_back(row);
  }
  t.note =
      "From `infermark accuracy` (images, precision, agreement with the fp32 reference "
      "framework) and, where the result files measured the same model, framework and "
      "precision offline, the highest median throughput over batch sizes and requests in "
      "flight.";
  return t;
}

std::optional<Figure> speed_accuracy_figure(const std::vector<ResultRow>& rows,
                                            const std::vector<AccuracyRow>& acc,
                                            const fs::path& dir) {
  using namespace figures;
  const auto best = best_offline(rows);
  const Palette palette = Palette::of(rows);
  std::map<std::string, std::string> colour_of;  // framework -> colour of its first label
  for (const auto& r : rows) colour_of.emplace(r.cell.backend, palette.colour(r.label()));
  Plot p;
  p.name = "fig_speed_accuracy";
  p.title = "Speed against accuracy";
  p.xlabel = "best offline throughput (images/s)";
  p.ylabel = "top-1 agreement with the fp32 reference (%)";
  p.settings = {"set key outside right", "set grid", "set offsets graph 0.05, graph 0.05, 1, 1"};
  int points = 0;
  std::set<std::string> models;
  for (const auto& a : acc) {
    if (!a.ok() || !a.top1_agreement) continue;
    const std::string model = model_name(a.model);
    const std::string& backend = a.backend;
    const std::string& precision = a.precision;
    const auto it = best.find({model, backend, precision});
    if (it == best.end()) continue;
    const int block = p.block(backend + " " + precision);
    p.data << fmt(it->second.ips) << " " << fmt(*a.top1_agreement * 100) << "\n";
    const int type = precision == "fp32" ? 7 : (precision == "bf16" ? 9 : 5);
    const std::string colour = colour_of.count(backend) ? colour_of[backend] : "#888888";
    p.element(p.source(block) + " using 1:2 with points pt " + std::to_string(type) +
              " ps 1.8 lc rgb " + quote(colour) + " title " + quote(backend + " " + precision));
    models.insert(model);
    ++points;
  }
  if (points == 0) return std::nullopt;
  render(dir, p);
  return Figure{p.name,
                p.title + " (" + join_names(models) + ")",
                "One point per framework and precision: its highest median offline throughput "
                "(x) and the share of images whose top-1 class is the fp32 reference's (y); "
                "circles fp32, triangles bf16, squares int8.",
                {}};
}

}  // namespace infermark
