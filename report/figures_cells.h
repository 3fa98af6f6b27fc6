// Internal to the figures (report/figures*.cc): result rows grouped into cells, the spread of a
// figure over a cell's rounds, and the figures drawn from cells.
#pragma once

#include <filesystem>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "core/result.h"
#include "report/figures.h"
#include "report/figures_plot.h"

namespace infermark::figures {

// A figure over the rounds (rows) of one cell: its median and how it spread. With 6 or more
// values the spread is the 95% distribution-free interval of the median (core/statistics.h
// aggregate()); with 2 to 5, too few for that interval, it is the range min-max; with one there is
// none.
struct Spread {
  enum class Kind { kNone = 0, kInterval = 1, kRange = 2 };
  double median = 0, low = 0, high = 0;
  int n = 0;
  Kind kind = Kind::kNone;
  // "median low high kind" for a data file (kind as its number), each value times scale.
  std::string columns(double scale = 1) const;
};
std::optional<Spread> spread_of(const std::vector<double>& values);

// The kinds of whiskers a figure drew, for its legend and caption.
struct Whiskers {
  bool interval = false, range = false;
  void add(const Spread& s) {
    interval = interval || s.kind == Spread::Kind::kInterval;
    range = range || s.kind == Spread::Kind::kRange;
  }
  // Plot elements drawing the whiskers of a block of "x median low high kind" rows (columns
  // from x_col), each kind in its own style; titled (a legend entry) or not.
  std::vector<std::string> elements(const std::string& source, int x_col, bool titled,
                                    const std::string& colour = "black") const;
  // What the whiskers are, for a caption; empty when none were drawn.
  std::string caption() const;
};

// A benchmark cell: every row (round, repeat) of one configuration, keyed by the cell's
// identity like the tables (core/result.h), so that cells that differ in settings, threads,
// precision or arm are drawn apart.
struct Cell {
  std::string label;      // the series: the framework and what sets this configuration apart
  std::string framework;  // the framework's name alone
  std::string model, scenario;
  int64_t batch = 1;
  // server
  std::optional<double> max_batch, queue_delay_ms, offered_qps;
  bool find_peak = false;
  std::vector<const ResultRow*> rows;

  std::vector<const ResultRow*> ok_rows() const;
  bool ok() const { return !ok_rows().empty(); }
  // The most frequent status among the rows when none is ok (first seen on a tie).
  std::string status() const;
  // A figure over the ok rows that have it; none when no ok row has a number there.
  std::optional<Spread> metric_spread(const std::string& key) const;
  std::optional<Spread> latency_spread(const std::string& key) const;
  std::optional<double> metric(const std::string& key) const;
  std::optional<double> latency(const std::string& key) const;
};

std::vector<Cell> cells_of(const std::vector<ResultRow>& rows);
std::vector<const Cell*> select(const std::vector<Cell>& cells, const std::string& scenario,
                                const std::string& model = "");
std::set<std::string> models_in(const std::vector<const Cell*>& cells);
// Series labels in palette order: by framework, its default configuration first.
std::vector<std::string> series_of(const std::vector<const Cell*>& cells, const Palette& palette);

inline constexpr const char* kFailedNote =
    "A cell that did not run to the end has no bar: its status (oom, error, timeout, crash, "
    "unsupported) is written upright at its place.";

// The figures, each appending what it drew to out.
using FigureList = std::vector<Figure>;
void throughput_figures(const std::vector<Cell>& cells, const Palette& palette, const fs::path& dir,
                        FigureList& out);
void memory_figures(const std::vector<Cell>& cells, const Palette& palette, const fs::path& dir,
                    FigureList& out);
void single_stream_figure(const std::vector<Cell>& cells, const Palette& palette,
                          const fs::path& dir, FigureList& out);
void share_figure(const std::vector<Cell>& cells, const Palette& palette, const fs::path& dir,
                  FigureList& out);
void server_figures(const std::vector<Cell>& cells, const Palette& palette, const fs::path& dir,
                    FigureList& out);

}  // namespace infermark::figures
