// The figure of `infermark tune` (report/tune_figure.h).
#include "report/tune_figure.h"

#include <cmath>
#include <cstdio>

#include "core/error.h"
#include "report/figures_plot.h"

namespace infermark {

void write_tune_figure(const std::vector<Standing>& all, const std::vector<Standing>& front,
                       const Objective& objective, const std::string& title,
                       const std::filesystem::path& dir, const std::string& name) {
  using namespace figures;
  Plot p;
  p.name = name;
  p.title = title;
  p.xlabel = "p99 latency (ms)";
  // The objective with its unit, as value_text writes it ("412 images/s" -> "images/s").
  const std::string unit = value_text(1, objective);
  p.ylabel = objective.name + " (" + unit.substr(unit.find(' ') + 1) + ")";
  p.settings = {"set key outside right", "set grid", "set logscale x"};
  int b = p.block("every configuration");
  for (const auto& s : all)
    if (std::isfinite(s.row.latency("p99")))
      p.data << fmt(s.row.latency("p99")) << " " << fmt(s.value.median) << "\n";
  p.element(p.source(b) + " using 1:2 with points pt 6 lc rgb '#999999' title 'measured'");
  b = p.block("front");
  for (const auto& s : front)
    if (std::isfinite(s.row.latency("p99")))
      p.data << fmt(s.row.latency("p99")) << " " << fmt(s.value.median) << "\n";
  p.element(p.source(b) +
            " using 1:2 with points pt 7 ps 1.5 lc rgb '#c0392b' title 'Pareto front'");
  try {
    render(dir, p);
    std::printf("figure: %s.png\n", (dir / p.name).c_str());
  } catch (const Error& e) {
    std::printf("no figure: %s\n", e.what());
  }
}

}  // namespace infermark
