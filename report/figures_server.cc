// The server figure: latency against offered load, one panel per batching mode on shared axes,
// a p50 (solid) and a p99 (dashed) curve per configuration, the find-peak probes faint, the
// confirmed peak ringed at the (rate, p99) of the run that confirmed it with a label placed
// where it covers no other, and the p99 target as a horizontal line.
#include <algorithm>
#include <cmath>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <tuple>

#include "core/metrics.h"
#include "core/peak_rule.h"
#include "report/figures_cells.h"
#include "report/report.h"

namespace infermark::figures {
namespace {

using nlohmann::json;

// The panel a cell is drawn in, and the panels' order: batching (largest batch first), then
// none, then cells of files that did not record their batcher.
using ModeKey = std::tuple<int, double, std::string>;
ModeKey mode_of(const Cell& c) {
  if (!c.max_batch) return {2, 0, "batching unknown"};
  if (*c.max_batch <= 1) return {1, 0, "no batching"};
  return {0, -*c.max_batch,
          "dynamic batching (max " + fmt(*c.max_batch, "%g") + ", " +
              fmt(c.queue_delay_ms.value_or(0), "%g") + " ms)"};
}

// The geometry of the figure in pixels, fixed here (explicit margins and axis ranges) so that
// labels can be placed without gnuplot's help.
constexpr int kWidth = 1100, kTitle = 40, kPanel = 380, kPanelTitle = 34, kPanelBottom = 60;
constexpr int kLeft = 75, kRight = 330;  // the key lives in the right margin
constexpr double kPlotW = kWidth - kLeft - kRight, kPlotH = kPanel - kPanelTitle - kPanelBottom;
// DejaVu Sans at 8 points as gnuplot's cairo and SVG terminals draw it, with some room.
constexpr double kCharW = 6.8, kLineH = 13;

struct Axes {
  double x0 = 0, x1 = 1, y0 = 0, y1 = 1;
  bool log_y = false;
  // Pixels from the plot area's bottom left corner.
  double px(double x) const { return (x - x0) / (x1 - x0) * kPlotW; }
  double py(double y) const {
    return (log_y ? std::log(y / y0) / std::log(y1 / y0) : (y - y0) / (y1 - y0)) * kPlotH;
  }
};

struct Box {
  double x0, y0, x1, y1;
  bool overlaps(const Box& o) const { return x0 < o.x1 && o.x0 < x1 && y0 < o.y1 && o.y0 < y1; }
};

// Places each label next to its marker: beside it where free, else stacked further away (then
// joined to it by a thin leader line), never over another label or marker.
class LabelPlacer {
 public:
  void reserve(double x, double y, double r) { taken_.push_back({x - r, y - r, x + r, y + r}); }
  // The box of a label of `chars` characters for a marker at (x, y), and whether it sits apart.
  std::pair<Box, bool> place(double x, double y, size_t chars) {
    const double w = kCharW * static_cast<double>(chars) + 4, h = kLineH;
    std::vector<Box> tries;
    for (int step = 0; step < 12; ++step) {
      const double up = 7 + step * h, gap = 9;
      tries.push_back({x + gap, y + up, x + gap + w, y + up + h});
      tries.push_back({x - gap - w, y + up, x - gap, y + up + h});
      tries.push_back({x + gap, y - up - h, x + gap + w, y - up});
      tries.push_back({x - gap - w, y - up - h, x - gap, y - up});
    }
    for (size_t i = 0; i < tries.size(); ++i) {
      const Box& b = tries[i];
      if (b.x0 < 0 || b.y0 < 0 || b.x1 > kPlotW || b.y1 > kPlotH) continue;
      if (std::any_of(taken_.begin(), taken_.end(), [&](const Box& t) { return t.overlaps(b); }))
        continue;
      taken_.push_back(b);
      return {b, i >= 4};
    }
    // Nowhere free: the first place inside the plot, pushed down the stack of the crowded ones.
    Box b = tries.front();
    b.y0 = std::min(kPlotH - h, 7 + h * static_cast<double>(taken_.size()));
    b.y1 = b.y0 + h;
    if (b.x1 > kPlotW) b = {x - 9 - w, b.y0, x - 9, b.y1};
    taken_.push_back(b);
    return {b, true};
  }

 private:
  std::vector<Box> taken_;
};

struct Peak {
  std::string label;
  Spread rate;
  double p99_ms;
};

struct Extent {
  double lo_x = INFINITY, hi_x = 0, lo_y = INFINITY, hi_y = 0;
  void x(double v) {
    lo_x = std::min(lo_x, v);
    hi_x = std::max(hi_x, v);
  }
  void y(double v) {
    if (!(v > 0)) return;
    lo_y = std::min(lo_y, v);
    hi_y = std::max(hi_y, v);
  }
};

// The confirmed peak of a cell over its rounds (confirmed_peak_qps, report.h) and the median p99
// of the runs that confirmed it, where its ring is drawn; none where no round confirmed one.
std::optional<Peak> confirmed_peak(const Cell& c, const std::string& label) {
  std::vector<double> rates, p99s;
  for (const ResultRow* r : c.ok_rows()) {
    const double rate = confirmed_peak_qps(*r);
    if (std::isnan(rate)) continue;
    rates.push_back(rate);
    p99s.push_back(r->latency("p99"));
  }
  const auto rate = spread_of(rates);
  const auto p99 = spread_of(p99s);
  if (!rate || !p99) return std::nullopt;
  return Peak{label, *rate, p99->median};
}

// The find-peak probes of a cell: (rate, p99) of every rate tried, over its rounds.
std::vector<std::pair<double, double>> probes_of(const Cell& c) {
  std::vector<std::pair<double, double>> out;
  for (const ResultRow* r : c.ok_rows()) {
    const json& m = r->metrics;
    if (!m.contains("probes") || !m["probes"].is_array()) continue;
    for (const json& probe : m["probes"]) {
      const json x = probe.value("rate_qps", json()), y = probe.value("p99_ms", json());
      if (x.is_number() && y.is_number() && y.get<double>() > 0 && std::isfinite(x.get<double>()) &&
          std::isfinite(y.get<double>()))
        out.push_back({x.get<double>(), y.get<double>()});
    }
  }
  return out;
}

// The axes of a panel: its own load range (the modes reach very different loads), the latency
// range of the whole figure (so that the panels compare at a glance).
Axes axes_for(const Extent& panel, const Extent& e) {
  Axes a;
  if (panel.lo_x < INFINITY) a.x1 = std::max(panel.hi_x * 1.08, 1e-9);
  if (e.hi_y <= 0) return a;
  a.log_y = e.lo_y > 0 && e.hi_y / e.lo_y > 30;
  if (a.log_y) {
    a.y0 = e.lo_y / 1.5;
    a.y1 = e.hi_y * 1.6;
  } else {
    a.y1 = e.hi_y * 1.1;
  }
  return a;
}

}  // namespace

void server_figures(const std::vector<Cell>& cells, const Palette& palette, const fs::path& dir,
                    FigureList& out) {
  for (const std::string& model : models_in(select(cells, "server"))) {
    const auto mine = select(cells, "server", model);
    std::map<ModeKey, std::vector<const Cell*>> modes;
    std::map<ModeKey, Extent> extents;
    Extent ext;
    for (const Cell* c : mine) {
      const ModeKey mode = mode_of(*c);
      modes[mode].push_back(c);
      if (!c->offered_qps) continue;
      Extent& mx = extents[mode];
      mx.x(*c->offered_qps);
      for (const char* q : {"p50", "p99"})
        if (const auto s = c->latency_spread(q)) {
          ext.y(s->low);
          ext.y(s->high);
        }
      if (const auto t = c->metric(metric::kSloP99Ms)) ext.y(*t);
      if (const auto peak = confirmed_peak(*c, c->label)) mx.x(peak->rate.high);
      for (const auto& [x, y] : probes_of(*c)) {
        mx.x(x);
        ext.y(y);
      }
    }
    const bool log_y = axes_for({}, ext).log_y;

    Plot p;
    p.name = "fig_server_latency_" + stem(model);
    p.title = "Server latency of " + model + " against offered load";
    p.xlabel = "offered load (queries/s, Poisson arrivals)";
    p.ylabel = std::string("latency (ms") + (log_y ? ", log scale)" : ")");
    p.multiplot = true;
    p.width = kWidth;
    p.height = kTitle + kPanel * static_cast<int>(modes.size());
    p.panels.clear();
    if (log_y) {
      const Axes a = axes_for({}, ext);
      p.settings.push_back("set logscale y");
      p.settings.push_back(log_tics("y", a.y0, a.y1));
    }
    p.settings.push_back("set errorbars 0.5");
    p.settings.push_back("set lmargin at screen " + fmt(double(kLeft) / kWidth));
    p.settings.push_back("set rmargin at screen " + fmt(1 - double(kRight) / kWidth));

    std::vector<std::string> series;
    auto add_series = [&](const std::string& s) {
      if (std::find(series.begin(), series.end(), s) == series.end()) series.push_back(s);
    };
    Whiskers whiskers;
    bool any_probes = false, any_peak = false;
    int panel_index = 0;
    for (const auto& [mode, in_mode] : modes) {
      p.panels.emplace_back();
      const Axes axes = axes_for(extents[mode], ext);
      const double top = kTitle + kPanel * panel_index++;
      const double plot_top = 1 - (top + kPanelTitle) / p.height;
      p.panel().settings = {
          "set title " + quote(std::get<2>(mode)) + " font ',11'",
          "set xrange [" + fmt(axes.x0) + ":" + fmt(axes.x1) + "]",
          "set yrange [" + fmt(axes.y0) + ":" + fmt(axes.y1) + "]",
          "set tmargin at screen " + fmt(plot_top),
          "set bmargin at screen " + fmt(1 - (top + kPanel - kPanelBottom) / p.height),
          "set key at screen " + fmt(1 - (kRight - 20.0) / kWidth) + ", screen " + fmt(plot_top) +
              " left top Left reverse samplen 3 spacing 1.15 font ',9'"};
      std::vector<Peak> peaks;
      std::set<double> targets;
      bool probes = false, panel_peak = false;
      std::vector<std::string> unplaced;
      for (const std::string& label : series_of(in_mode, palette)) {
        std::vector<const Cell*> line;
        for (const Cell* c : in_mode)
          if (c->label == label) line.push_back(c);
        std::sort(line.begin(), line.end(), [](const Cell* a, const Cell* b) {
          return a->offered_qps.value_or(-1) < b->offered_qps.value_or(-1);
        });
        const std::string colour = palette.colour(label);
        const std::string pt = std::to_string(palette.point_type(label));
        Whiskers mine;
        bool drawn = false;
        for (const char* q : {"p50", "p99"}) {
          const int idx = p.block(label + ", " + std::get<2>(mode) + ", " + q +
                                  ": offered_qps median_ms low high kind");
          bool has = false;
          for (const Cell* c : line) {
            const auto s = c->latency_spread(q);
            if (!c->ok() || !c->offered_qps || !s) continue;
            p.data << fmt(*c->offered_qps) << " " << s->columns() << "\n";
            mine.add(*s);
            has = true;
          }
          if (!has) {
            p.data << "# (none)\n";
            continue;
          }
          // p50 solid and titled (the configuration's legend entry), p99 dashed.
          const bool p50 = q[1] == '5';
          // One plot command per line of the figure, built once.
          // NOLINTBEGIN(performance-inefficient-string-concatenation)
          p.element(p.source(idx) + " using 1:2 with linespoints lc rgb '" + colour + "' dt " +
                    (p50 ? "1" : "2") + " lw 2 pt " + pt + " ps 1 " +
                    (p50 ? "title " + quote(label) : std::string("notitle")));
          // NOLINTEND(performance-inefficient-string-concatenation)
          for (const auto& e : mine.elements(p.source(idx), 1, false, colour)) p.element(e);
          drawn = true;
        }
        if (mine.interval) whiskers.interval = true;
        if (mine.range) whiskers.range = true;
        if (!drawn) p.element(legend_only("lines lc rgb '" + colour + "' lw 2", label));
        add_series(label);

        std::vector<std::pair<double, double>> tried;
        for (const Cell* c : line) {
          for (const auto& xy : probes_of(*c)) tried.push_back(xy);
          if (c->ok()) {
            if (auto t = c->metric(metric::kSloP99Ms)) targets.insert(*t);
            if (auto peak = confirmed_peak(*c, label)) peaks.push_back(std::move(*peak));
          } else if (c->offered_qps) {
            p.label(c->status(), "first " + fmt(*c->offered_qps) + ", graph 0.03",
                    "rotate by 90 left front tc rgb '" + colour + "'");
          } else {
            unplaced.push_back(label + ": " + c->status());
          }
        }
        if (!tried.empty()) {
          const int idx =
              p.block(label + ", " + std::get<2>(mode) + ", find-peak probes: rate_qps p99_ms");
          for (const auto& [x, y] : tried) p.data << fmt(x) << " " << fmt(y) << "\n";
          p.element(p.source(idx) + " using 1:2 with points lc rgb '" + palette.faint(label) +
                    "' pt 7 ps 0.6 notitle");
          probes = true;
        }
      }
      // The peaks: a ring on the p99 curve at the peak rate (its spread over rounds as a
      // horizontal whisker), and the rate written beside it.
      LabelPlacer placer;
      for (const Peak& k : peaks) placer.reserve(axes.px(k.rate.median), axes.py(k.p99_ms), 8);
      for (const Peak& k : peaks) {
        const std::string colour = palette.colour(k.label);
        const int idx = p.block(k.label + ", " + std::get<2>(mode) +
                                ", peak: rate_qps p99_ms rate_low rate_high kind");
        p.data << fmt(k.rate.median) << " " << fmt(k.p99_ms) << " " << fmt(k.rate.low) << " "
               << fmt(k.rate.high) << " " << static_cast<int>(k.rate.kind) << "\n";
        p.element(p.source(idx) + " using 1:2 with points lc rgb '" + colour +
                  "' pt 6 ps 2.2 lw 2 notitle");
        if (k.rate.kind != Spread::Kind::kNone)
          p.element(p.source(idx) + " using 1:2:3:4 with xerrorbars lc rgb '" + colour +
                    "' lw 1.5 pt 6 ps 0 notitle");
        const std::string text = "peak " + fmt(k.rate.median, "%.3g") + " q/s";
        const double mx = axes.px(k.rate.median), my = axes.py(k.p99_ms);
        const auto [box, apart] = placer.place(mx, my, text.size());
        const std::string at = "graph " + fmt((box.x0 + 2) / kPlotW, "%.4f") + ", graph " +
                               fmt(0.5 * (box.y0 + box.y1) / kPlotH, "%.4f");
        p.label(text, at, "left front boxed font ',8' tc rgb '" + colour + "'");
        if (apart) {
          const double lx = box.x0 > mx ? box.x0 : box.x1;
          const double ly = 0.5 * (box.y0 + box.y1);
          p.panel().settings.push_back("set arrow from graph " + fmt(lx / kPlotW, "%.4f") +
                                       ", graph " + fmt(ly / kPlotH, "%.4f") + " to first " +
                                       fmt(k.rate.median) + ", first " + fmt(k.p99_ms) +
                                       " nohead lw 0.7 lc rgb '" + colour + "' front");
        }
        panel_peak = true;
      }
      for (size_t i = 0; i < unplaced.size(); ++i)
        p.label(unplaced[i], "graph 0.98, graph " + fmt(0.06 + 0.06 * static_cast<double>(i)),
                "right front");
      // What the styles mean, in every panel's legend.
      p.element("keyentry with lines lc rgb 'black' dt 1 lw 2 title 'p50 (solid)'");
      p.element("keyentry with lines lc rgb 'black' dt 2 lw 2 title 'p99 (dashed)'");
      if (probes)
        p.element(
            "keyentry with points lc rgb '#a0a0a0' pt 7 ps 0.6 title "
            "'find-peak probes (p99 at each rate tried)'");
      if (panel_peak)
        p.element(
            "keyentry with points lc rgb 'black' pt 6 ps 2.2 lw 2 title "
            "'peak: highest rate whose confirming run met the target'");
      for (double t : targets) {
        const std::string title = "p99 target " + fmt(t, "%g") + " ms";
        p.element(fmt(t) + " with lines lc rgb '#B00000' dt 4 lw 1.5 title " + quote(title));
        add_series(title);
      }
      any_probes = any_probes || probes;
      any_peak = any_peak || panel_peak;
    }
    series.insert(series.end(), {"p50", "p99"});
    if (any_probes) series.push_back("find-peak probes (p99)");
    if (any_peak) series.push_back("peak");
    render(dir, p);
    const std::string w = whiskers.caption();
    out.push_back(
        {p.name, p.title,
         "One panel per batching mode, on the same latency axis. Lines: median p50 (solid) and p99 "
         "(dashed) latency, from each request's scheduled arrival, against the offered Poisson "
         "load; one colour per framework (shades and markers: its configurations). Faint dots: "
         "p99 at each rate a find-peak search tried; ring: the highest rate whose full-length "
         "run, measured again after the search, met the target (red dash-dot line: p99 over at "
         "least " +
             std::to_string(kMinQueriesForP99) + " answered queries, every query answered, " +
             fmt(100 * kMinAchievedFraction, "%g") +
             "% of the offered rate achieved within the arrival window), drawn at that run's "
             "rate and p99, with its rate written beside it; a search none of whose runs held "
             "has no ring." +
             (w.empty() ? std::string() : " " + w) +
             " Failed cells are written as their status at their rate.",
         series});
  }
}

}  // namespace infermark::figures
