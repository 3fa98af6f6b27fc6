// The report's figures: result rows grouped into cells (report/figures_cells.cc), one colour per
// framework over the whole report (report/figures_plot.cc), each figure drawn by its own part
// (report/figures_bars.cc, report/figures_server.cc; the energy figure here, beside its fit).
#include "report/figures.h"

#include <algorithm>
#include <cmath>
#include <map>

#include "core/error.h"
#include "core/metrics.h"
#include "report/figures_cells.h"

namespace infermark {
namespace figures {
namespace {

struct EnergyPoint {
  Spread throughput, energy;
};

void energy_figure(const std::vector<Cell>& cells, const Palette& palette, const fs::path& dir,
                   FigureList& out) {
  std::map<std::string, std::vector<EnergyPoint>> points;  // label -> its cells
  std::vector<double> all_x, all_y;
  double lo_x = INFINITY, hi_x = 0, lo_y = INFINITY, hi_y = 0;  // whiskers included
  for (const Cell& c : cells) {
    if (!c.ok()) continue;
    const auto x = c.metric_spread(metric::kThroughputIps),
               y = c.metric_spread(metric::kEnergyPerImageJ);
    if (!x || !y || x->median <= 0 || y->median <= 0) continue;
    points[c.label].push_back({*x, *y});
    all_x.push_back(x->median);
    all_y.push_back(y->median);
    // A whisker end at or below zero has no place on a log axis: the range ends at the median.
    lo_x = std::min(lo_x, x->low > 0 ? x->low : x->median);
    hi_x = std::max(hi_x, x->high);
    lo_y = std::min(lo_y, y->low > 0 ? y->low : y->median);
    hi_y = std::max(hi_y, y->high);
  }
  if (points.empty()) return;
  Plot p;
  p.name = "fig4_energy";
  p.title = "Energy per image against throughput";
  p.xlabel = "throughput (images/s, log scale)";
  p.ylabel = "energy per image (J, log scale)";
  p.settings.push_back("set logscale xy");
  // Around the points: gnuplot's own log ranges end on whole decades, mostly empty.
  p.settings.push_back("set xrange [" + fmt(lo_x / 1.3) + ":" + fmt(hi_x * 1.3) + "]");
  p.settings.push_back("set yrange [" + fmt(lo_y / 1.3) + ":" + fmt(hi_y * 1.3) + "]");
  p.settings.push_back(log_tics("x", lo_x / 1.3, hi_x * 1.3));
  p.settings.push_back(log_tics("y", lo_y / 1.3, hi_y * 1.3));
  p.settings.push_back("set grid xtics mxtics mytics");
  p.settings.push_back("set key top right");
  p.settings.push_back("set errorbars 0.5");
  std::vector<std::string> series;
  std::vector<const Cell*> all;
  all.reserve(cells.size());
  for (const Cell& c : cells) all.push_back(&c);
  Whiskers whiskers;
  for (const std::string& label : series_of(all, palette)) {
    const auto it = points.find(label);
    if (it == points.end()) continue;
    auto& v = it->second;
    std::sort(v.begin(), v.end(), [](const EnergyPoint& a, const EnergyPoint& b) {
      return a.throughput.median < b.throughput.median;
    });
    const int idx = p.block("series " + label +
                            ": throughput_ips energy_per_image_j ips_low ips_high j_low j_high "
                            "kind");
    for (const auto& [x, y] : v) {
      p.data << fmt(x.median) << " " << fmt(y.median) << " " << fmt(x.low) << " " << fmt(x.high)
             << " " << fmt(y.low) << " " << fmt(y.high) << " " << static_cast<int>(x.kind) << "\n";
      whiskers.add(x);
    }
    const std::string colour = palette.colour(label);
    p.element(p.source(idx) + " using 1:2 with points pt " +
              std::to_string(palette.point_type(label)) + " ps 1.3 lc rgb '" + colour + "' title " +
              quote(label));
    // Both whiskers of a cell measured in rounds: solid for an interval, dashed for min-max.
    for (int kind : {1, 2})
      p.element(p.source(idx) + " using ($7==" + std::to_string(kind) +
                "?$1:NaN):2:3:4:5:6 with xyerrorbars lc rgb '" + colour + "' lw 1 " +
                (kind == 1 ? "dt 1" : "dt (3,2)") + " pt 7 ps 0 notitle");
    series.push_back(label);
  }
  const PowerLawFit fit = fit_power_law(all_x, all_y);
  std::string caption =
      "Points: median energy per image and throughput of each cell, one colour per framework "
      "(shades and markers: its configurations), log-log axes.";
  if (const std::string w = whiskers.caption(); !w.empty())
    caption += " " + w + " Whiskers are drawn on both axes.";
  if (fit.points >= 2) {
    const double lo = *std::min_element(all_x.begin(), all_x.end());
    const double hi = *std::max_element(all_x.begin(), all_x.end());
    const int idx =
        p.block("power-law fit y = a x^b, a = " + fmt(fit.a) + ", b = " + fmt(fit.b) +
                ", R^2 = " + fmt(fit.r2) + ", " + std::to_string(fit.points) + " points");
    for (int i = 0; i <= 48; ++i) {
      const double x = hi > lo ? lo * std::pow(hi / lo, i / 48.0) : lo;
      p.data << fmt(x) << " " << fmt(fit.a * std::pow(x, fit.b)) << "\n";
    }
    const std::string fit_text = "fit y = " + fmt(fit.a, "%.3g") + " x^" + fmt(fit.b, "%.3f") +
                                 ", R^2 = " + fmt(fit.r2, "%.3f");
    p.element(p.source(idx) + " using 1:2 with lines lc rgb '#404040' dt 2 lw 1.5 title " +
              quote(fit_text));
    p.label(fit_text + " (" + std::to_string(fit.points) + " cells)", "graph 0.02, graph 0.05",
            "left front");
    series.push_back("fit");
    caption += " Dashed line: least-squares fit of ln(energy) on ln(throughput) over all cells, " +
               fit_text + "; b < 0 means faster configurations spend less energy per image.";
  }
  render(dir, p);
  out.push_back({p.name, p.title, caption, series});
}

}  // namespace
}  // namespace figures

PowerLawFit fit_power_law(const std::vector<double>& x, const std::vector<double>& y) {
  std::vector<double> lx, ly;
  const size_t n = std::min(x.size(), y.size());
  for (size_t i = 0; i < n; ++i)
    if (x[i] > 0 && y[i] > 0 && std::isfinite(x[i]) && std::isfinite(y[i])) {
      lx.push_back(std::log(x[i]));
      ly.push_back(std::log(y[i]));
    }
  PowerLawFit fit;
  fit.points = static_cast<int>(lx.size());
  if (lx.size() < 2) {
    fit.points = static_cast<int>(lx.size());
    return fit;
  }
  const double m = static_cast<double>(lx.size());
  double mx = 0, my = 0;
  for (size_t i = 0; i < lx.size(); ++i) {
    mx += lx[i];
    my += ly[i];
  }
  mx /= m;
  my /= m;
  double sxx = 0, sxy = 0, syy = 0;
  for (size_t i = 0; i < lx.size(); ++i) {
    sxx += (lx[i] - mx) * (lx[i] - mx);
    sxy += (lx[i] - mx) * (ly[i] - my);
    syy += (ly[i] - my) * (ly[i] - my);
  }
  if (sxx <= 0) return {0, 0, 0, fit.points};  // all x equal: no slope to fit
  fit.b = sxy / sxx;
  fit.a = std::exp(my - fit.b * mx);
  double ss_res = 0;
  for (size_t i = 0; i < lx.size(); ++i) {
    const double r = ly[i] - (my + fit.b * (lx[i] - mx));
    ss_res += r * r;
  }
  fit.r2 = syy > 0 ? 1 - ss_res / syy : 1;
  return fit;
}

std::vector<Figure> draw_figures(const std::vector<ResultRow>& rows,
                                 const std::filesystem::path& out_dir) {
  using namespace figures;
  const std::vector<Cell> cells = cells_of(rows);
  std::vector<Figure> out;
  if (cells.empty()) return out;
  std::error_code ec;
  fs::create_directories(out_dir, ec);
  if (ec)
    throw Error("cannot create the figure folder '" + out_dir.string() + "': " + ec.message());
  // Once for the whole report, so that a framework has the same colour in every figure.
  const Palette palette = Palette::of(rows);
  throughput_figures(cells, palette, out_dir, out);
  single_stream_figure(cells, palette, out_dir, out);
  server_figures(cells, palette, out_dir, out);
  memory_figures(cells, palette, out_dir, out);
  energy_figure(cells, palette, out_dir, out);
  share_figure(cells, palette, out_dir, out);
  return out;
}

}  // namespace infermark
