#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "core/result.h"

namespace infermark {

// One figure of a report, drawn by gnuplot into out_dir as NAME.png and NAME.svg.
struct Figure {
  std::string name;         // file stem, e.g. "fig1_throughput_resnet50"
  std::string title;        // what it shows, one line
  std::string caption;      // how to read it (what a failed cell looks like, the fit, ...)
  std::vector<std::string> series;  // the series drawn (framework names, "fit", ...)
};

// The figures of the paper from result rows (one JSON object per cell, schema
// infermark.result/1, docs/results.md), each only when the rows hold data for it:
// - throughput against batch size, one figure per model, grouped bars per framework, log2
//   batch axis; a failed cell drawn as its status label (oom, error...), never as a zero bar
//   (Figures 1 and 2);
// - single-stream latency per framework and model (p50 bar with p90/p99 marks);
// - server: p50 and p99 latency against offered rate per framework, batching vs none, with
//   the latency target line when a find-peak ran;
// - ensemble memory (rss_peak_bytes) against batch size per framework (Figure 3);
// - energy per image against throughput with the power-law fit y = a x^b and its R^2, where
//   energy was measured (Figure 4);
// - share of the machine's peak reached, per framework and model.
// Throws Error when gnuplot is missing or fails (the message names the figure).
std::vector<Figure> draw_figures(const std::vector<ResultRow>& rows,
                                 const std::filesystem::path& out_dir);

// Least-squares fit of y = a * x^b on log-log axes (x, y > 0; others ignored).
struct PowerLawFit {
  double a = 0, b = 0, r2 = 0;
  int points = 0;
};
PowerLawFit fit_power_law(const std::vector<double>& x, const std::vector<double>& y);

}  // namespace infermark
