#pragma once

#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "core/accuracy_row.h"
#include "core/conformance_row.h"
#include "core/explain_row.h"
#include "core/result.h"

namespace infermark {

// One figure of a report, drawn by gnuplot into out_dir as NAME.png and NAME.svg.
struct Figure {
  std::string name;                 // file stem, e.g. "fig1_throughput_resnet50"
  std::string title;                // what it shows, one line
  std::string caption;              // how to read it (what a failed cell looks like, the fit, ...)
  std::vector<std::string> series;  // the series drawn (framework names, "fit", ...)
};

// The figures of the paper from result rows (docs/results.md), each only when the rows hold
// data for it. Rows of one configuration (rounds, repeats) are one cell, drawn as its median
// with whiskers where it ran more than once (the 95% interval of the median from 6 rounds on,
// min-max below; the caption says which). A framework has one colour in every figure of a
// report, its configurations shades of it.
// - throughput against batch size, one figure per model, grouped bars per configuration, one
//   slot per batch size measured; a failed cell drawn as its status label (oom, error...),
//   never as a zero bar (Figures 1 and 2);
// - single-stream latency per framework and model (p50 bar with p90/p99 marks);
// - server: p50 (solid) and p99 (dashed) latency against offered load per configuration, one
//   panel per batching mode, with the find-peak probes, the peak found and the latency target;
// - ensemble memory (rss_peak_bytes) against batch size per framework (Figure 3);
// - energy per image against throughput with the power-law fit y = a x^b and its R^2, where
//   energy was measured (Figure 4);
// - share of the machine's peak reached, per framework and model.
// Throws Error when gnuplot is missing or fails (the message names the figure).
std::vector<Figure> draw_figures(const std::vector<ResultRow>& rows,
                                 const std::filesystem::path& out_dir);

// Speed against accuracy (report/accuracy.cc): a point per framework and precision of the
// accuracy lines whose model, framework and precision the rows measured offline; none when
// no line matches.
std::optional<Figure> speed_accuracy_figure(const std::vector<ResultRow>& rows,
                                            const std::vector<AccuracyRow>& accuracy,
                                            const std::filesystem::path& out_dir);

// Least-squares fit of y = a * x^b on log-log axes (x, y > 0; others ignored).
struct PowerLawFit {
  double a = 0, b = 0, r2 = 0;
  int points = 0;
};
PowerLawFit fit_power_law(const std::vector<double>& x, const std::vector<double>& y);

// The conformance matrix as squares coloured by verdict (report/conformance.cc).
std::optional<Figure> conformance_figure(const std::vector<ConformanceRow>& rows,
                                         const std::filesystem::path& dir);

// Per model, batch and precision explained (report/explain.cc): a stacked bar per framework of
// its time by operator class and outside kernels, and a roofline of the nodes with FLOPs.
std::vector<Figure> explain_figures(const std::vector<ExplainReport>& reports,
                                    const std::filesystem::path& dir);

}  // namespace infermark
