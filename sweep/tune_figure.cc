// The figure of `infermark tune` (Tuner::pareto_figure, sweep/tune_internal.h): every
// configuration measured by p99 latency and the objective, the Pareto front marked, drawn with
// gnuplot beside the result file.
#include <cmath>
#include <cstdio>

#include "core/error.h"
#include "report/figures_plot.h"
#include "sweep/tune_internal.h"

namespace infermark::tune_internal {
namespace fs = std::filesystem;

void Tuner::pareto_figure(const std::vector<Standing>& all,
                          const std::vector<Standing>& front) const {
  using namespace figures;
  Plot p;
  p.name = fs::path(o_.out).stem().string() + "_pareto";
  p.title = "tune: " + template_.model.name + " " + o_.scenario;
  p.xlabel = "p99 latency (ms)";
  // The objective with its unit, as value_text writes it ("412 images/s" -> "images/s").
  const std::string unit = value_text(1, objective_);
  p.ylabel = objective_.name + " (" + unit.substr(unit.find(' ') + 1) + ")";
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
    render(fs::absolute(o_.out).parent_path(), p);
    std::printf("figure: %s.png\n", (fs::absolute(o_.out).parent_path() / p.name).c_str());
  } catch (const Error& e) {
    std::printf("no figure: %s\n", e.what());
  }
}

}  // namespace infermark::tune_internal
