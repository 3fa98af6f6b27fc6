// `infermark explain` lines in a report: per model, batch and precision, a table of where each
// framework's time goes by operator class, its slowest nodes, a stacked bar per framework and
// a roofline of the nodes (docs/explain.md).
#include <algorithm>
#include <cmath>
#include <cstdio>

#include "core/text.h"
#include "report/figures.h"
#include "report/figures_plot.h"
#include "report/report.h"

namespace infermark {
namespace {

constexpr const char* kOutside = "outside kernels";
constexpr int kTopNodes = 10;

std::string title_of(const ExplainReport& r) {
  return r.model + ", batch " + std::to_string(r.batch) + ", " + r.precision;
}

std::string stem_of(const ExplainReport& r) {
  return figures::stem(r.model) + "_b" + std::to_string(r.batch) + "_" + figures::stem(r.precision);
}

double per_image(const ExplainReport& r, double ms) {
  return ms / static_cast<double>(std::max<int64_t>(1, r.batch));
}

// The colour of each operator class, the time outside kernels grey.
std::string class_colour(const std::string& cls) {
  static const std::map<std::string, std::string> colours = {
      {"convolution", "#1f77b4"},   {"matrix product", "#ff7f0e"}, {"element-wise", "#2ca02c"},
      {"normalisation", "#d62728"}, {"pooling", "#9467bd"},        {"data movement", "#8c564b"},
      {"other", "#e377c2"},         {kOutside, "#9e9e9e"}};
  const auto it = colours.find(cls);
  return it == colours.end() ? "#000000" : it->second;
}

std::vector<const FrameworkExplain*> profiled(const ExplainReport& r) {
  std::vector<const FrameworkExplain*> out;
  for (const auto& f : r.frameworks)
    if (f.status == "ok") out.push_back(&f);
  return out;
}

// Achieved GFLOP/s of a node, and its arithmetic intensity (FLOP per least byte); 0 when the
// node has no FLOPs, time or bytes.
double gflops(const NodeTime& n) { return n.flops > 0 && n.ms > 0 ? n.flops / n.ms / 1e6 : 0; }
double intensity(const NodeTime& n) { return n.flops > 0 && n.bytes > 0 ? n.flops / n.bytes : 0; }

}  // namespace

std::vector<Table> explain_tables(const std::vector<ExplainReport>& reports) {
  std::vector<Table> tables;
  for (const auto& r : reports) {
    Table t;
    t.name = "explain_" + stem_of(r);
    t.title = "Where the time goes: " + title_of(r) + " (ms per image)";
    t.columns = {"framework", "latency ms", "profiled", "kernels / latency"};
    for (const char* cls : kOperatorClasses) t.columns.emplace_back(cls);
    t.columns.emplace_back(kOutside);
    for (const auto& f : r.frameworks) {
      std::vector<std::string> row = {f.backend};
      if (f.status != "ok") {
        row.push_back(f.status + ": " + f.reason);
        row.resize(t.columns.size());
        t.rows.push_back(row);
        continue;
      }
      row.push_back(fixed(per_image(r, f.latency_ms), 3) + " [" +
                    fixed(per_image(r, f.latency_low_ms), 3) + ", " +
                    fixed(per_image(r, f.latency_high_ms), 3) + "]");
      row.push_back(
          f.latency_ms > 0 ? formatted(100 * (f.profiled_ms / f.latency_ms - 1), "%+.1f%%") : "");
      row.push_back(f.latency_ms > 0 ? formatted(100 * f.kernel_ms / f.latency_ms, "%.0f%%") : "");
      for (const char* cls : kOperatorClasses) {
        const auto it = f.classes.find(cls);
        row.push_back(fixed(per_image(r, it == f.classes.end() ? 0.0 : it->second), 3));
      }
      row.push_back(fixed(per_image(r, f.overhead_ms), 3));
      t.rows.push_back(row);
    }
    t.note =
        "Each framework's own profiler (docs/explain.md), its records mapped onto the "
        "model's nodes. Latency: the plain engine's median with its 95% interval; "
        "profiled: the profiled engine's median against it; outside kernels: latency minus "
        "the kernel times (negative where the profiler slowed the kernels). Machine: " +
        r.limits.peak_what + " " + fixed(r.limits.peak_flops / 1e9, 0) +
        " GFLOP/s, triad bandwidth " + fixed(r.limits.bandwidth_bytes_s / 1e9, 1) + " GB/s.";
    tables.push_back(std::move(t));

    Table n;
    n.name = "explain_nodes_" + stem_of(r);
    n.title = "The slowest nodes: " + title_of(r);
    n.columns = {"framework", "node",    "operator", "class",  "ms per image",
                 "share",     "GFLOP/s", "of peak",  "FLOP/B", "of roof"};
    for (const FrameworkExplain* f : profiled(r)) {
      int shown = 0;
      for (const auto& node : f->nodes) {
        if (shown++ >= kTopNodes) break;
        const double g = gflops(node), i = intensity(node);
        const double roof = std::min(r.limits.peak_flops, i * r.limits.bandwidth_bytes_s) / 1e9;
        n.rows.push_back(
            {f->backend, node.node, node.op_type, node.cls, fixed(per_image(r, node.ms), 4),
             f->latency_ms > 0 ? formatted(100 * node.ms / f->latency_ms, "%.1f%%") : "",
             g > 0 ? fixed(g, 1) : "",
             g > 0 && r.limits.peak_flops > 0
                 ? formatted(100 * g * 1e9 / r.limits.peak_flops, "%.0f%%")
                 : "",
             i > 0 ? fixed(i, 1) : "",
             g > 0 && roof > 0 ? formatted(100 * g / roof, "%.0f%%") : ""});
      }
    }
    n.note = "The " + std::to_string(kTopNodes) +
             " nodes that take the most time in each framework. FLOP/B: the node's FLOPs over "
             "its least memory traffic (each input, output and weight once, a lower bound); of "
             "roof: against min(peak, FLOP/B x bandwidth), which data held in the caches can "
             "pass.";
    tables.push_back(std::move(n));
  }
  return tables;
}

std::vector<Figure> explain_figures(const std::vector<ExplainReport>& reports,
                                    const std::filesystem::path& dir) {
  using namespace figures;
  std::vector<Figure> out;
  for (const auto& r : reports) {
    const std::vector<const FrameworkExplain*> fs = profiled(r);
    if (fs.empty()) continue;

    // Stacked bars: one per framework, its classes bottom to top, then outside kernels.
    Plot bars;
    bars.name = "fig_explain_classes_" + stem_of(r);
    bars.title = "Where the time goes: " + title_of(r);
    bars.ylabel = "ms per image";
    bars.width = 300 + 110 * static_cast<int>(fs.size());
    std::string xtics;
    for (size_t i = 0; i < fs.size(); ++i)
      xtics += (i ? ", " : "") + quote(fs[i]->backend) + " " + std::to_string(i);
    bars.settings = {"set xtics (" + xtics + ")", "set xrange [-0.6:" + fmt(fs.size() - 0.4) + "]",
                     "set yrange [0:*]", "set key outside right",
                     "set style fill solid 1.0 border rgb '#ffffff'"};
    std::vector<double> bottom(fs.size(), 0.0);
    std::vector<std::string> layers(std::begin(kOperatorClasses), std::end(kOperatorClasses));
    layers.emplace_back(kOutside);
    for (const auto& cls : layers) {
      std::ostringstream block;
      bool any = false;
      for (size_t i = 0; i < fs.size(); ++i) {
        double ms = cls == kOutside ? fs[i]->overhead_ms : 0.0;
        if (const auto it = fs[i]->classes.find(cls); it != fs[i]->classes.end()) ms = it->second;
        ms = per_image(r, std::max(0.0, ms));  // a negative outside-kernel time is not drawn
        if (ms <= 0) continue;
        block << i << " " << fmt(bottom[i] + ms / 2) << " 0.35 " << fmt(ms / 2) << "\n";
        bottom[i] += ms;
        any = true;
      }
      if (!any) continue;
      const int index = bars.block(cls);
      bars.data << block.str();
      bars.element(bars.source(index) + " using 1:2:3:4 with boxxyerror lc rgb " +
                   quote(class_colour(cls)) + " title " + quote(cls));
    }
    render(dir, bars);
    out.push_back({bars.name,
                   "Where the time goes, by operator class: " + title_of(r),
                   "One bar per framework: the time of its kernels by operator class (its own "
                   "profiler's records mapped onto the model's nodes), then the time outside "
                   "kernels (latency minus the kernel times; not drawn where negative). The "
                   "bar's top is about the framework's latency.",
                   {}});

    // Roofline: each node with FLOPs, at its intensity and achieved rate, under the roofs.
    Plot roof;
    roof.name = "fig_explain_roofline_" + stem_of(r);
    roof.title = "Roofline of the nodes: " + title_of(r);
    roof.xlabel = "FLOP per byte (least memory traffic)";
    roof.ylabel = "GFLOP/s";
    static const char* kColours[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e",
                                     "#9467bd", "#8c564b", "#e377c2", "#17becf"};
    double lo = 0, hi = 0;
    for (size_t i = 0; i < fs.size(); ++i) {
      std::ostringstream block;
      bool any = false;
      for (const auto& n : fs[i]->nodes) {
        const double g = gflops(n), x = intensity(n);
        if (g <= 0 || x <= 0) continue;
        lo = lo == 0 ? x : std::min(lo, x);
        hi = std::max(hi, x);
        block << fmt(x) << " " << fmt(g) << "\n";
        any = true;
      }
      if (!any) continue;
      const int index = roof.block(fs[i]->backend);
      roof.data << block.str();
      roof.element(roof.source(index) + " using 1:2 with points pt 7 ps 0.6 lc rgb " +
                   quote(kColours[i % std::size(kColours)]) + " title " + quote(fs[i]->backend));
    }
    if (hi <= 0) continue;  // no node with FLOPs: no roofline
    roof.settings = {"set logscale xy", "set key outside right",
                     "set xrange [" + fmt(lo / 2) + ":" + fmt(hi * 2) + "]"};
    if (r.limits.peak_flops > 0 && r.limits.bandwidth_bytes_s > 0) {
      roof.settings.push_back("peak = " + fmt(r.limits.peak_flops / 1e9));
      roof.settings.push_back("bw = " + fmt(r.limits.bandwidth_bytes_s / 1e9));
      roof.settings.push_back("set samples 400");
      roof.element("(x * bw < peak ? x * bw : peak) with lines dt 2 lw 2 lc rgb '#444444' title " +
                   quote("roof: " + r.limits.peak_what + ", triad bandwidth"));
    }
    render(dir, roof);
    out.push_back({roof.name,
                   "Roofline of the nodes: " + title_of(r),
                   "One point per node with FLOPs (convolutions, matrix products): its FLOPs "
                   "over its least memory traffic (each input, output and weight once, a lower "
                   "bound), against the rate it reached. The dashed roof is min(peak, intensity "
                   "x bandwidth) with the machine's measured peak and triad bandwidth; a node "
                   "whose data stays in the caches can pass it.",
                   {}});
  }
  return out;
}

}  // namespace infermark
