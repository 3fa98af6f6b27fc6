// The conformance matrix (`infermark conformance` rows): models x frameworks, each cell the
// pair's verdict, as a table, a table of the reasons, and a figure coloured by verdict.
#include <algorithm>
#include <cstdio>
#include <map>
#include <set>

#include "core/text.h"
#include "report/figures.h"
#include "report/figures_plot.h"
#include "report/report.h"

namespace infermark {
namespace {

// The last row of each (file, framework): a pair run again replaces its earlier verdict.
std::vector<ConformanceRow> latest(const std::vector<ConformanceRow>& rows) {
  std::map<std::pair<std::string, std::string>, const ConformanceRow*> last;
  for (const auto& r : rows) last[{r.file, r.backend}] = &r;
  std::vector<ConformanceRow> out;
  for (const auto& [key, r] : last) out.push_back(*r);
  return out;
}

// A model's label: its name, with its opset where the rows hold more than one.
std::string model_label(const ConformanceRow& r, bool with_opset) {
  return with_opset ? r.model + " (opset " + std::to_string(r.opset) + ")" : r.model;
}

std::string cell_text(const ConformanceRow& r) {
  if (r.verdict == "runs" && r.max_rel) return formatted(*r.max_rel, "runs (%.0e)");
  if (r.verdict == "crashed") {  // "crashed (SIGSEGV while loading the model)" -> its signal
    const auto open = r.reason.find('('), space = r.reason.find(' ', open);
    if (open != std::string::npos && space != std::string::npos)
      return "crashed (" + r.reason.substr(open + 1, space - open - 1) + ")";
  }
  return r.verdict;
}

struct Matrix {
  std::vector<std::string> models, backends;
  std::map<std::pair<std::string, std::string>, ConformanceRow> cells;
};

Matrix matrix_of(const std::vector<ConformanceRow>& all) {
  const std::vector<ConformanceRow> rows = latest(all);
  std::set<int> opsets;
  for (const auto& r : rows) opsets.insert(r.opset);
  Matrix m;
  std::set<std::string> models;
  for (const auto& r : rows) {
    const std::string label = model_label(r, opsets.size() > 1);
    models.insert(label);
    if (std::find(m.backends.begin(), m.backends.end(), r.backend) == m.backends.end())
      m.backends.push_back(r.backend);
    m.cells[{label, r.backend}] = r;
  }
  m.models.assign(models.begin(), models.end());
  return m;
}

}  // namespace

std::vector<Table> conformance_tables(const std::vector<ConformanceRow>& rows) {
  if (rows.empty()) return {};
  const Matrix m = matrix_of(rows);
  Table t;
  t.name = "conformance";
  t.title = "Conformance: every model on every framework";
  t.columns = {"model"};
  t.columns.insert(t.columns.end(), m.backends.begin(), m.backends.end());
  std::map<std::string, int> runs, total;
  for (const auto& model : m.models) {
    std::vector<std::string> row = {model};
    for (const auto& b : m.backends) {
      const auto it = m.cells.find({model, b});
      row.push_back(it == m.cells.end() ? "not run" : cell_text(it->second));
      if (it != m.cells.end()) {
        ++total[b];
        runs[b] += it->second.verdict == "runs";
      }
    }
    t.rows.push_back(row);
  }
  std::vector<std::string> summary = {"runs, of the pairs run"};
  for (const auto& b : m.backends) {
    char buf[48];
    std::snprintf(buf, sizeof buf, "%d of %d (%.0f%%)", runs[b], total[b],
                  total[b] > 0 ? 100.0 * runs[b] / total[b] : 0.0);
    summary.push_back(buf);
  }
  t.rows.push_back(summary);
  t.note =
      "Each pair in a process of its own, against the exporter's outputs: runs (max "
      "|out-ref|/max|ref| within the tolerance, the figure in brackets), wrong (beyond it, "
      "another shape, NaN), refused (the framework says it cannot: operator and form), error, "
      "crashed (its signal), timeout, oom. The reasons are in conformance_reasons.";
  Table why;
  why.name = "conformance_reasons";
  why.title = "Conformance: why a pair does not run";
  why.columns = {"model", "framework", "verdict", "reason"};
  for (const auto& model : m.models)
    for (const auto& b : m.backends) {
      const auto it = m.cells.find({model, b});
      if (it == m.cells.end() || it->second.verdict == "runs") continue;
      std::string reason = it->second.reason;
      if (reason.size() > 300) reason = reason.substr(0, 297) + "...";
      why.rows.push_back({model, b, it->second.verdict, reason});
    }
  why.note = "The framework's own words, cut at 300 characters; the rows have them whole.";
  return {t, why};
}

std::optional<Figure> conformance_figure(const std::vector<ConformanceRow>& rows,
                                         const std::filesystem::path& dir) {
  using namespace figures;
  if (rows.empty()) return std::nullopt;
  const Matrix m = matrix_of(rows);
  // One colour per verdict, in the order of this list.
  const std::vector<std::pair<std::string, std::string>> verdicts = {
      {"runs", "#2ca02c"},    {"wrong", "#ff7f0e"},   {"refused", "#9e9e9e"}, {"error", "#8c564b"},
      {"crashed", "#d62728"}, {"timeout", "#9467bd"}, {"oom", "#e377c2"}};
  Plot p;
  p.name = "fig_conformance";
  p.title = "Conformance";
  p.width = 200 + 110 * static_cast<int>(m.backends.size());
  p.height = 160 + 22 * static_cast<int>(m.models.size());
  std::string xtics, ytics;
  for (size_t i = 0; i < m.backends.size(); ++i)
    xtics += (i ? ", " : "") + quote(m.backends[i]) + " " + std::to_string(i);
  for (size_t i = 0; i < m.models.size(); ++i)
    ytics += (i ? ", " : "") + quote(m.models[i]) + " " + std::to_string(i);
  p.settings = {"set xtics (" + xtics + ") rotate by 30 right",
                "set ytics (" + ytics + ")",
                "set xrange [-0.5:" + fmt(m.backends.size() - 0.5) + "]",
                "set yrange [" + fmt(m.models.size() - 0.5) + ":-0.5]",
                "set key outside right",
                "set style fill solid 1.0 border rgb '#ffffff'"};
  for (const auto& [verdict, colour] : verdicts) {
    bool any = false;
    std::ostringstream block;
    for (size_t x = 0; x < m.backends.size(); ++x)
      for (size_t y = 0; y < m.models.size(); ++y) {
        const auto it = m.cells.find({m.models[y], m.backends[x]});
        if (it == m.cells.end() || it->second.verdict != verdict) continue;
        block << x << " " << y << "\n";
        any = true;
      }
    if (!any) continue;
    const int index = p.block(verdict);
    p.data << block.str();
    p.element(p.source(index) + " using 1:2:(0.5):(0.5) with boxxyerror lc rgb " + quote(colour) +
              " title " + quote(verdict));
  }
  render(dir, p);
  return Figure{p.name,
                "Conformance of " + std::to_string(m.models.size()) + " models on " +
                    std::to_string(m.backends.size()) + " frameworks",
                "One square per model and framework, coloured by the verdict of the pair (each "
                "in a process of its own, against the exporter's outputs).",
                {}};
}

}  // namespace infermark
