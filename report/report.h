#pragma once

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace infermark {

// Reads result files (JSON lines). Throws Error naming the file and line of anything that is
// not a result line; an empty file gives no rows.
std::vector<nlohmann::json> read_results(const std::vector<std::filesystem::path>& files);

// A table of a report, written as Markdown and CSV.
struct Table {
  std::string name;   // file stem
  std::string title;
  std::vector<std::string> columns;
  std::vector<std::vector<std::string>> rows;
  std::string note;   // how to read it
};
std::string to_markdown(const Table& t);
std::string to_csv(const Table& t);

// The report's tables from result rows (pure functions of the rows):
// model statistics (Table 1), loading time (Table 3), offline throughput, single-stream
// latency, server, ensemble memory, the best framework per scenario and model, and the
// unstable or failed cells.
std::vector<Table> make_tables(const std::vector<nlohmann::json>& rows);

// Writes DIR/index.html (one page that opens offline: figures inlined as SVG), every figure
// as PNG and SVG, every table as Markdown and CSV. Returns the path of index.html.
std::filesystem::path write_report(const std::vector<nlohmann::json>& rows,
                                   const std::filesystem::path& dir);

// Identity of a cell for matching across runs: everything that defines it but the repeat.
std::string cell_identity(const nlohmann::json& row);

// The figure a scenario is judged by, and whether larger is better.
struct Headline {
  std::string metric;       // "throughput_ips" or "latency_p50_ms"
  double value = 0;
  double rel_half_ci = 0;   // half-width of its 95% interval, relative to the value
  bool higher_is_better = true;
  bool ok = false;
};
Headline headline(const nlohmann::json& row);

// Matching cells of two result files, side by side, with the ratio b/a of their headline
// figure, its 95% interval and a verdict (faster, slower, same within noise).
struct Comparison {
  std::string cell;
  Headline a, b;
  double ratio = 0, ratio_low = 0, ratio_high = 0;
  std::string verdict;
};
std::vector<Comparison> compare(const std::vector<nlohmann::json>& a,
                                const std::vector<nlohmann::json>& b);

}  // namespace infermark
