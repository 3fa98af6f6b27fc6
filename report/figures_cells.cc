// Result rows grouped into the cells the figures draw, and the spread of a figure over a
// cell's rounds.
#include "report/figures_cells.h"

#include <algorithm>
#include <cmath>
#include <map>

#include "core/metrics.h"
#include "report/report.h"

namespace infermark::figures {

std::optional<Spread> spread_of(const std::vector<double>& values) {
  const auto a = aggregate(values);  // drops non-finite values
  if (!a) return std::nullopt;
  Spread s;
  s.n = a->n;
  s.median = s.low = s.high = a->median;
  if (a->n >= 6) {
    s.kind = Spread::Kind::kInterval;
    s.low = a->low;
    s.high = a->high;
  } else if (a->n >= 2) {
    s.kind = Spread::Kind::kRange;
    std::vector<double> v;
    for (double x : values)
      if (std::isfinite(x)) v.push_back(x);
    const auto [lo, hi] = std::minmax_element(v.begin(), v.end());
    s.low = *lo;
    s.high = *hi;
  }
  return s;
}

std::string Spread::columns(double scale) const {
  return fmt(median * scale) + " " + fmt(low * scale) + " " + fmt(high * scale) + " " +
         std::to_string(static_cast<int>(kind));
}

std::vector<std::string> Whiskers::elements(const std::string& source, int x_col, bool titled,
                                            const std::string& colour) const {
  const std::string x = std::to_string(x_col), m = std::to_string(x_col + 1),
                    lo = std::to_string(x_col + 2), hi = std::to_string(x_col + 3),
                    kind = std::to_string(x_col + 4);
  std::vector<std::string> out;
  auto add = [&](Spread::Kind k, const std::string& style, const std::string& title) {
    out.push_back(source + " using " + x + ":($" + kind +
                  "==" + std::to_string(static_cast<int>(k)) + "?$" + m + ":NaN):" + lo + ":" + hi +
                  " with yerrorbars lc rgb '" + colour + "' " + style + " pt 7 ps 0 " +
                  (titled ? "title " + quote(title) : std::string("notitle")));
  };
  if (interval) add(Spread::Kind::kInterval, "lw 1.5 dt 1", "95% interval of the median");
  if (range) add(Spread::Kind::kRange, "lw 1.5 dt (3,2)", "min-max (2-5 rounds)");
  return out;
}

std::string Whiskers::caption() const {
  std::string s;
  if (interval)
    s += "Solid whiskers: the 95% distribution-free interval of the median over a cell's rounds "
         "(6 or more rounds).";
  if (range)
    s += std::string(s.empty() ? "" : " ") +
         "Dashed whiskers: min to max over a cell's rounds, where it had only 2 to 5 (too few "
         "for an interval).";
  if (!s.empty()) s += " A cell measured once has no whisker.";
  return s;
}

std::vector<const ResultRow*> Cell::ok_rows() const {
  std::vector<const ResultRow*> out;
  for (const ResultRow* r : rows)
    if (r->ok()) out.push_back(r);
  return out;
}

std::string Cell::status() const {
  if (ok()) return "ok";
  std::vector<std::pair<std::string, int>> counts;
  for (const ResultRow* r : rows) {
    const std::string s = r->status.empty() ? "unknown" : r->status;
    auto it =
        std::find_if(counts.begin(), counts.end(), [&](const auto& c) { return c.first == s; });
    if (it == counts.end())
      counts.push_back({s, 1});
    else
      ++it->second;
  }
  return std::max_element(counts.begin(), counts.end(),
                          [](const auto& a, const auto& b) { return a.second < b.second; })
      ->first;
}

namespace {

std::optional<Spread> spread_over(const Cell& c, double (ResultRow::*get)(const std::string&) const,
                                  const std::string& key) {
  std::vector<double> v;
  for (const ResultRow* r : c.ok_rows())
    if (const double x = (r->*get)(key); std::isfinite(x)) v.push_back(x);
  return spread_of(v);
}

}  // namespace

std::optional<Spread> Cell::metric_spread(const std::string& key) const {
  return spread_over(*this, &ResultRow::metric, key);
}
std::optional<Spread> Cell::latency_spread(const std::string& key) const {
  return spread_over(*this, &ResultRow::latency, key);
}
std::optional<double> Cell::metric(const std::string& key) const {
  if (const auto s = metric_spread(key)) return s->median;
  return std::nullopt;
}
std::optional<double> Cell::latency(const std::string& key) const {
  if (const auto s = latency_spread(key)) return s->median;
  return std::nullopt;
}

std::vector<Cell> cells_of(const std::vector<ResultRow>& rows) {
  std::map<std::string, Cell> cells;  // ordered by key: deterministic
  for (const ResultRow& row : rows) {
    auto [it, fresh] = cells.try_emplace(identity(row));
    Cell& c = it->second;
    c.rows.push_back(&row);
    if (!fresh) continue;
    c.label = row.label();
    c.framework = row.cell.backend;
    c.model = row.cell.model.name;
    c.scenario = row.cell.scenario;
    c.batch = row.cell.batch;
  }
  std::vector<Cell> out;
  for (auto& [k, c] : cells) {
    if (c.scenario == scenario::kServer) {
      // The batcher from the cell (or, in old files, from its metrics); the rate from the cell,
      // except for a find-peak cell, whose rate is the peak each round found (median).
      const ResultRow& first = *c.rows.front();
      c.max_batch = c.metric("max_batch");
      c.queue_delay_ms = c.metric("max_queue_delay_ms");
      c.offered_qps = c.metric(metric::kOfferedQps);
      if (first.cell.server) {
        c.max_batch = static_cast<double>(first.cell.server->max_batch);
        c.queue_delay_ms = first.cell.server->max_queue_delay_ms;
        if (!first.cell.peak_slo_p99_ms || !c.offered_qps)
          c.offered_qps = first.cell.server->rate_qps;
      }
      c.find_peak =
          first.cell.peak_slo_p99_ms.has_value() || c.metric(metric::kPeakQps).has_value();
    }
    out.push_back(std::move(c));
  }
  return out;
}

std::vector<const Cell*> select(const std::vector<Cell>& cells, const std::string& scenario,
                                const std::string& model) {
  std::vector<const Cell*> out;
  for (const Cell& c : cells)
    if (c.scenario == scenario && (model.empty() || c.model == model)) out.push_back(&c);
  return out;
}

std::set<std::string> models_in(const std::vector<const Cell*>& cells) {
  std::set<std::string> s;
  for (const Cell* c : cells) s.insert(c->model);
  return s;
}

std::vector<std::string> series_of(const std::vector<const Cell*>& cells, const Palette& palette) {
  std::set<std::string> s;
  for (const Cell* c : cells) s.insert(c->label);
  std::vector<std::string> out(s.begin(), s.end());
  std::stable_sort(out.begin(), out.end(), [&](const std::string& a, const std::string& b) {
    const std::string fa = palette.framework(a), fb = palette.framework(b);
    return fa != fb ? fa < fb : palette.variant(a) < palette.variant(b);
  });
  return out;
}

}  // namespace infermark::figures
