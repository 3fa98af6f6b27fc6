#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "core/accuracy_row.h"
#include "core/conformance_row.h"
#include "core/explain_row.h"
#include "core/result.h"
#include "core/statistics.h"  // Aggregate, Ratio: for the files that include this one

namespace infermark {

// A table of a report, written as Markdown and CSV.
struct Table {
  std::string name;  // file stem
  std::string title;
  std::vector<std::string> columns;
  std::vector<std::vector<std::string>> rows;
  std::string note;  // how to read it
};
std::string to_markdown(const Table& t);
std::string to_csv(const Table& t);

// The report's tables from result rows (pure functions of the rows):
// model statistics (Table 1), loading time (Table 3), offline throughput, single-stream
// latency, server, ensemble memory, the best framework per scenario and model, and the
// unstable or failed cells.
std::vector<Table> make_tables(const std::vector<ResultRow>& rows);

// Writes DIR/index.html (one page that opens offline: figures inlined as SVG), every figure
// as PNG and SVG, every table as Markdown and CSV. Returns the path of index.html. With the
// lines of `infermark accuracy`, also speed against accuracy (a table and a figure); with those
// of `infermark explain`, where each framework's time goes (tables and figures).
std::filesystem::path write_report(const std::vector<ResultRow>& rows,
                                   const std::filesystem::path& dir,
                                   const std::vector<AccuracyRow>& accuracy = {},
                                   const std::vector<ConformanceRow>& conformance = {},
                                   const std::vector<ExplainReport>& explain = {});

// Per model, batch and precision explained: each framework's time by operator class (ms per
// image, with its latency and kernel coverage), and its slowest nodes (report/explain.cc).
std::vector<Table> explain_tables(const std::vector<ExplainReport>& reports);

// The conformance matrix (models x frameworks, the verdict of each pair) and the reasons of the
// pairs that do not run; none without rows.
std::vector<Table> conformance_tables(const std::vector<ConformanceRow>& rows);

// Per framework and precision: the best offline throughput the result rows measured for the
// same model, agreement with the fp32 reference, accuracy against labels, the changed images.
Table speed_accuracy_table(const std::vector<ResultRow>& rows,
                           const std::vector<AccuracyRow>& accuracy);

// A ratio b/a with its 95% interval and the verdict it supports.
struct Comparison {
  std::string cell;  // what was compared (the identity dimensions that vary shown)
  std::string a_label, b_label;
  Headline a, b;  // a's and b's headline (medians when there were rounds)
  int pairs = 0;  // rounds paired; 0 when the interval comes from within-cell spread
  double ratio = 0, ratio_low = 0, ratio_high = 0;
  // faster, slower, same within noise, or "no verdict: ..." when there is no interval
  std::string verdict;
};

// Matching cells of two result files (by identity), side by side. With several rounds on
// each side, the interval is Welch's on the log values of the rounds; with one value each, the
// within-cell intervals combine (delta method); with neither, there is no verdict.
std::vector<Comparison> compare(const std::vector<ResultRow>& a, const std::vector<ResultRow>& b);

// Two configurations inside one result file, differing in one identity dimension `by`
// (backend, arm, settings, precision...): `a_value` is the baseline, `b_value` the other
// (empty: the only two values present). Rows are paired by the rest of their identity and by
// round; the interval is Student's on the mean of the per-round log ratios.
std::vector<Comparison> compare_within(const std::vector<ResultRow>& rows, const std::string& by,
                                       const std::string& a_value = "",
                                       const std::string& b_value = "");

// Flattens result files into CSV (one row per cell, the common columns).
void write_csv(const std::vector<std::filesystem::path>& results, const std::filesystem::path& csv);

}  // namespace infermark
