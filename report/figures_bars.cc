// The bar figures: offline throughput and ensemble memory against batch size, single-stream
// latency and the share of peak per model. Groups of bars along x, one bar per configuration
// in each group, whiskers where a cell ran in rounds; a failed cell is its status written
// upright at its slot.
#include <algorithm>
#include <cmath>
#include <functional>
#include <map>

#include "core/metrics.h"
#include "report/figures_cells.h"

namespace infermark::figures {
namespace {

struct BarValue {
  std::optional<Spread> value;  // none: failed (status) or not measured
  std::string status = "ok";
  std::string text;  // optional value label above the bar
};

struct Bars {
  std::vector<std::string> groups;                      // tic label of each slot along x
  std::vector<std::string> series;                      // bars in each group, in order
  std::map<std::pair<size_t, size_t>, BarValue> cells;  // (group, series) -> value
  double scale = 1;                                     // value shown = value * scale

  double width() const { return 0.8 / static_cast<double>(std::max<size_t>(1, series.size())); }
  // The centre of bar s in group g: groups sit at x = 0, 1, 2...
  double x(size_t g, size_t s) const {
    const double n = static_cast<double>(std::max<size_t>(1, series.size()));
    return static_cast<double>(g) + (static_cast<double>(s) - 0.5 * (n - 1)) * width();
  }
};

struct Drawn {
  std::vector<std::string> series;
  Whiskers whiskers;
};

// Draws bars into p: one slot per group (only groups that were measured or tried, so no empty
// slot), one colour per configuration, whiskers over the bars where cells had rounds.
Drawn draw_bars(Plot& p, const Bars& b, const Palette& palette) {
  const double w = b.width();
  std::string tics = "set xtics (";
  for (size_t g = 0; g < b.groups.size(); ++g)
    tics += std::string(g ? ", " : "") + quote(b.groups[g]) + " " + std::to_string(g);
  p.settings.push_back(tics + ")");
  p.settings.push_back("set xtics scale 0");
  p.settings.push_back("set boxwidth " + fmt(w * 0.92) + " absolute");
  p.settings.push_back("set style fill solid 0.9 border rgb '#404040'");
  p.settings.push_back("set errorbars 0.6");
  p.settings.push_back("set xrange [-0.55:" + fmt(static_cast<double>(b.groups.size()) - 0.45) +
                       "]");
  bool any = false, any_text = false;
  for (const auto& [k, v] : b.cells) {
    any = any || v.value.has_value();
    any_text = any_text || !v.text.empty();
  }
  p.settings.push_back(any ? "set yrange [0:*]" : "set yrange [0:1]");
  p.settings.push_back(std::string("set offsets 0, 0, graph ") + (any_text ? "0.12" : "0.05") +
                       ", 0");
  // Under the plot, so that it never covers a bar and long labels do not narrow the plot.
  p.settings.push_back("set key below center horizontal Left reverse samplen 2 font ',9'");
  p.width = 1000;
  p.height = 560;
  Drawn d;
  std::vector<int> blocks;  // of the series with bars
  for (size_t s = 0; s < b.series.size(); ++s) {
    const std::string& label = b.series[s];
    const std::string colour = palette.colour(label);
    const int idx =
        p.block("series " + label + ": x median low high kind label (failed cells as comments)");
    bool has = false;
    for (size_t g = 0; g < b.groups.size(); ++g) {
      const auto it = b.cells.find({g, s});
      if (it == b.cells.end()) continue;
      const BarValue& v = it->second;
      if (v.value) {
        p.data << fmt(b.x(g, s)) << " " << v.value->columns(b.scale) << " \""
               << (v.text.empty() ? "-" : v.text) << "\"\n";
        d.whiskers.add(*v.value);
        has = true;
      } else if (v.status != "ok") {
        p.data << "# " << fmt(b.x(g, s)) << " status " << v.status << "\n";
        p.label(v.status, "first " + fmt(b.x(g, s)) + ", graph 0.015",
                "rotate by 90 left front font ',10' tc rgb '" + colour + "'");
      }
    }
    const std::string style = "boxes lc rgb '" + colour + "'";
    if (has) {
      blocks.push_back(idx);
      p.element(p.source(idx) + " using 1:2 with " + style + " title " + quote(label));
      // Value labels above the bar or its whisker, whichever is higher.
      if (any_text)
        p.element(p.source(idx) +
                  " using 1:($4>$2?$4:$2):(stringcolumn(6) eq '-' ? '' : stringcolumn(6)) "
                  "with labels offset 0,0.7 font ',8' notitle");
    } else {
      p.data << "# (no bar)\n";
      p.element(legend_only(style, label));
    }
    d.series.push_back(label);
  }
  // Whiskers after every bar, so that no bar covers one; titled once in the legend.
  for (size_t i = 0; i < blocks.size(); ++i) {
    const bool titled = i + 1 == blocks.size();
    for (const auto& e : d.whiskers.elements(p.source(blocks[i]), 1, titled)) p.element(e);
  }
  return d;
}

// Bars against the batch sizes measured (one slot each, labelled with the batch) for the cells
// given: value(cell) per configuration.
template <class Value>
Drawn batch_bars(Plot& p, const std::vector<const Cell*>& cells, const Palette& palette,
                 Value value) {
  std::set<int64_t> batch_set;
  for (const Cell* c : cells) batch_set.insert(c->batch);
  const std::vector<int64_t> batches(batch_set.begin(), batch_set.end());
  Bars b;
  b.series = series_of(cells, palette);
  for (int64_t batch : batches) b.groups.push_back(std::to_string(batch));
  for (const Cell* c : cells) {
    const auto g = std::find(batches.begin(), batches.end(), c->batch) - batches.begin();
    const auto s = std::find(b.series.begin(), b.series.end(), c->label) - b.series.begin();
    BarValue v;
    v.status = c->status();
    if (c->ok()) {
      v.value = value(*c);
      if (!v.value) v.status = "n/a";
    }
    b.cells[{static_cast<size_t>(g), static_cast<size_t>(s)}] = v;
  }
  return draw_bars(p, b, palette);
}

// Bars per model (groups) and configuration.
Drawn model_bars(Plot& p, const std::vector<std::string>& models,
                 const std::vector<std::string>& series,
                 const std::map<std::pair<std::string, std::string>, BarValue>& values,
                 const Palette& palette, double scale) {
  Bars b;
  b.series = series;
  b.scale = scale;
  b.groups = models;
  for (size_t g = 0; g < models.size(); ++g)
    for (size_t s = 0; s < series.size(); ++s) {
      const auto it = values.find({models[g], series[s]});
      if (it != values.end()) b.cells[{g, s}] = it->second;
    }
  return draw_bars(p, b, palette);
}

std::string caption(const std::string& bars, const Drawn& d) {
  const std::string w = d.whiskers.caption();
  return bars + (w.empty() ? "" : " " + w) + " " + kFailedNote;
}

}  // namespace

// One figure of bars against batch size per model of a scenario.
struct BatchFigure {
  std::string scenario, stem, title, ylabel, bars;
  std::function<std::optional<Spread>(const Cell&)> value;
};

void batch_figures(const std::vector<Cell>& cells, const Palette& palette, const fs::path& dir,
                   const BatchFigure& f, FigureList& out) {
  for (const std::string& model : models_in(select(cells, f.scenario))) {
    Plot p;
    p.name = f.stem + stem(model);
    p.title = f.title + model + " against batch size";
    p.xlabel = "batch size (images; the sizes measured)";
    p.ylabel = f.ylabel;
    const Drawn d = batch_bars(p, select(cells, f.scenario, model), palette, f.value);
    render(dir, p);
    out.push_back({p.name, p.title, caption(f.bars, d), d.series});
  }
}

void throughput_figures(const std::vector<Cell>& cells, const Palette& palette, const fs::path& dir,
                        FigureList& out) {
  batch_figures(cells, palette, dir,
                {"offline", "fig1_throughput_", "Offline throughput of ", "throughput (images/s)",
                 "Bars: median throughput over rounds and repeats, one slot per batch size "
                 "measured, one colour per framework (shades: its configurations).",
                 [](const Cell& c) { return c.metric_spread(metric::kThroughputIps); }},
                out);
}

void memory_figures(const std::vector<Cell>& cells, const Palette& palette, const fs::path& dir,
                    FigureList& out) {
  batch_figures(cells, palette, dir,
                {"ensemble", "fig3_memory_", "Peak resident memory of the ensemble ",
                 "peak resident memory (MiB)",
                 "Bars: median peak resident set size (rss_peak_bytes) of the process running all "
                 "members, one slot per batch size measured, one colour per framework.",
                 [](const Cell& c) -> std::optional<Spread> {
                   auto s = c.metric_spread(metric::kRssPeakBytes);
                   if (!s) return s;
                   for (double* v : {&s->median, &s->low, &s->high}) *v /= 1024.0 * 1024.0;
                   return s;
                 }},
                out);
}

void single_stream_figure(const std::vector<Cell>& cells, const Palette& palette,
                          const fs::path& dir, FigureList& out) {
  const auto mine = select(cells, "single-stream");
  if (mine.empty()) return;
  const std::set<std::string> model_set = models_in(mine);
  const std::vector<std::string> models(model_set.begin(), model_set.end());
  const auto series = series_of(mine, palette);
  std::map<std::pair<std::string, std::string>, BarValue> values;
  double lo = INFINITY, hi = 0;
  for (const Cell* c : mine) {
    BarValue v;
    v.status = c->status();
    if (c->ok()) {
      v.value = c->latency_spread("p50");
      if (!v.value) v.status = "n/a";
    }
    if (v.value && v.value->low > 0) {
      lo = std::min(lo, v.value->low);
      hi = std::max({hi, v.value->high, c->latency("p99").value_or(0)});
    }
    values[{c->model, c->label}] = v;
  }
  Plot p;
  p.name = "fig_latency_single_stream";
  p.title = "Single-stream latency per model and framework";
  p.xlabel = "model";
  p.ylabel = "latency per image (ms)";
  Drawn d = model_bars(p, models, series, values, palette, 1);
  const bool log = hi > 0 && lo > 0 && hi / lo > 30;
  if (log) {
    // Bars on a log axis: start them at the bottom of the range.
    for (auto& s : p.settings)
      if (s.rfind("set yrange", 0) == 0)
        s = "set yrange [" + fmt(std::pow(10, std::floor(std::log10(lo)))) + ":*]";
    p.settings.push_back("set logscale y");
    p.settings.push_back("set grid mytics");
  }
  // p90 and p99 as open markers beside each bar, apart from the whisker on its centre.
  Bars layout;
  layout.series = series;
  for (const char* q : {"p90", "p99"}) {
    const int idx = p.block(std::string(q) + " marks: x median_ms");
    bool has = false;
    for (const Cell* c : mine) {
      const auto v = c->latency(q);
      if (!c->ok() || !v) continue;
      const auto g = std::find(models.begin(), models.end(), c->model) - models.begin();
      const auto s = std::find(series.begin(), series.end(), c->label) - series.begin();
      p.data << fmt(layout.x(static_cast<size_t>(g), static_cast<size_t>(s)) +
                    0.25 * layout.width())
             << " " << fmt(*v) << "\n";
      has = true;
    }
    if (!has) {
      p.data << "# (none)\n";
      continue;
    }
    const bool p90 = std::string(q) == "p90";
    p.element(p.source(idx) + " using 1:2 with points pt " + (p90 ? "8" : "10") +
              " ps 1.3 lw 1.5 lc rgb 'black' title " + quote(std::string(q) + " (median)"));
    d.series.push_back(q);
  }
  render(dir, p);
  out.push_back(
      {p.name, p.title,
       caption("Bars: median p50 latency of one image after another over rounds and repeats; "
               "open triangles beside each bar: its p90 (pointing up) and p99 (pointing down)" +
                   std::string(log ? "; logarithmic latency axis." : "."),
               d),
       d.series});
}

void share_figure(const std::vector<Cell>& cells, const Palette& palette, const fs::path& dir,
                  FigureList& out) {
  // The best share over the offline batch sizes; single-stream where a model has no offline cell.
  std::map<std::pair<std::string, std::string>, BarValue> values;  // (model, label)
  std::set<std::string> models, used;
  std::vector<const Cell*> drawn;
  for (const char* scenario : {"offline", "single-stream"}) {
    std::map<std::pair<std::string, std::string>, BarValue> here;
    for (const Cell* c : select(cells, scenario)) {
      const std::pair<std::string, std::string> k{c->model, c->label};
      if (values.count(k)) continue;
      BarValue& v = here[k];
      if (c->ok()) {
        if (auto s = c->metric_spread(metric::kShareOfPeak);
            s && (!v.value || s->median > v.value->median)) {
          v.value = s;
          v.status = "ok";
        }
      } else if (!v.value && v.status == "ok") {
        v.status = c->status();
      }
      drawn.push_back(c);
    }
    for (auto& [k, v] : here) {
      if (!v.value && v.status == "ok") v.status = "n/a";
      if (v.value) v.text = fmt(v.value->median * 100, "%.0f") + "%";
      values[k] = v;
      models.insert(k.first);
      used.insert(scenario);
    }
  }
  if (std::none_of(values.begin(), values.end(),
                   [](const auto& kv) { return kv.second.value.has_value(); }))
    return;  // nothing measured it
  Plot p;
  p.name = "fig_share_of_peak";
  p.title = "Share of the machine's peak FP32 rate reached";
  p.xlabel = "model";
  p.ylabel = "share of peak FP32 FLOP/s (%)";
  const Drawn d = model_bars(p, {models.begin(), models.end()}, series_of(drawn, palette), values,
                             palette, 100);
  render(dir, p);
  out.push_back({p.name, p.title,
                 caption("Bars: throughput x FLOPs per image / peak FP32 FLOP/s of the cores "
                         "used, the best median over batch sizes (scenarios: " +
                             join_names(used) + ").",
                         d),
                 d.series});
}

}  // namespace infermark::figures
