// Headline figures, their aggregation over rounds, and comparisons with intervals: between
// two result files, and between two configurations of one file paired round by round.
#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <tuple>

#include "core/error.h"
#include "core/statistics.h"
#include "report/report.h"

namespace infermark {
namespace {

// What a comparison line names: the identity without the compared dimension.
std::string describe(const CellSpec& c, const std::string& without = "") {
  std::string s = c.model.name;
  if (without != "backend") s += " " + c.backend;
  s += " " + c.scenario;
  if (c.scenario == scenario::kOffline || c.scenario == scenario::kEnsemble)
    s += " batch " + std::to_string(c.batch);
  if (c.server) {
    if (!c.peak_slo_p99_ms) s += " " + std::to_string(c.server->rate_qps).substr(0, 6) + " qps";
    s += c.server->max_batch > 1 ? " batching" : " no batching";
  }
  if (without != "settings" && !c.settings.empty()) s += " " + dimension_value(c, "settings");
  if (without != "precision" && c.precision != "fp32") s += " " + c.precision;
  if (without != "arm" && !c.arm.empty()) s += " arm " + c.arm;
  return s;
}

// The verdict an interval supports.
std::string verdict(const Comparison& c) {
  if (!(c.ratio_high > c.ratio_low))
    return "no verdict: no interval (one value without spread, e.g. a load or peak cell; run "
           "more --rounds)";
  if (c.ratio_low <= 1 && c.ratio_high >= 1) return "same within noise";
  const bool b_better = c.a.higher_is_better ? c.ratio > 1 : c.ratio < 1;
  return b_better ? "faster" : "slower";
}

// The comparison's ratio and interval.
void set_ratio(Comparison& c, const Ratio& r) {
  c.pairs = r.pairs;
  c.ratio = r.ratio;
  c.ratio_low = r.low;
  c.ratio_high = r.high;
}

// Within-cell intervals of one value each, combined on the log ratio (delta method).
void from_cell_intervals(Comparison& c) {
  set_ratio(c, within_cell_ratio(c.a.value, c.a.rel_half_ci, c.b.value, c.b.rel_half_ci));
}

// A headline of the median of several rows' values.
Headline median_headline(const std::vector<Headline>& hs) {
  Headline h = hs.front();
  std::vector<double> v;
  v.reserve(hs.size());
  for (const auto& x : hs) v.push_back(x.value);
  h.value = aggregate(v)->median;
  return h;
}

}  // namespace

std::vector<Comparison> compare(const std::vector<ResultRow>& a, const std::vector<ResultRow>& b) {
  // identity -> the headlines of its rows (all statuses), in file order
  auto by_identity = [](const std::vector<ResultRow>& rows, std::vector<std::string>* order) {
    std::map<std::string, std::vector<std::pair<Headline, const ResultRow*>>> out;
    for (const auto& r : rows) {
      const std::string id = identity(r);
      if (order && !out.count(id)) order->push_back(id);
      out[id].push_back({headline(r), &r});
    }
    return out;
  };
  const auto in_a = by_identity(a, nullptr);
  std::vector<std::string> order;
  const auto in_b = by_identity(b, &order);
  std::vector<Comparison> out;
  for (const auto& id : order) {
    auto it = in_a.find(id);
    if (it == in_a.end()) continue;
    const auto& ga = it->second;
    const auto& gb = in_b.at(id);
    Comparison c;
    c.cell = describe(gb.front().second->cell);
    std::vector<Headline> ha, hb;
    for (const auto& [h, r] : ga)
      if (h.ok) ha.push_back(h);
    for (const auto& [h, r] : gb)
      if (h.ok) hb.push_back(h);
    if (ha.empty() || hb.empty()) {
      c.a = ga.front().first;
      c.b = gb.front().first;
      c.verdict =
          "not comparable (" + ga.front().second->status + " vs " + gb.front().second->status + ")";
      out.push_back(c);
      continue;
    }
    c.a = median_headline(ha);
    c.b = median_headline(hb);
    if (ha.size() >= 2 && hb.size() >= 2) {
      std::vector<double> va, vb;
      for (const auto& h : ha) va.push_back(h.value);
      for (const auto& h : hb) vb.push_back(h.value);
      set_ratio(c, unpaired_ratio(va, vb));
    } else if (ha.size() == 1 && hb.size() == 1) {
      from_cell_intervals(c);
    } else {
      c.ratio = c.b.value / c.a.value;
      c.ratio_low = c.ratio_high = c.ratio;
      c.verdict =
          "no verdict: one side has a single value, the other several (run both with "
          "the same --rounds)";
      out.push_back(c);
      continue;
    }
    c.verdict = verdict(c);
    out.push_back(c);
  }
  return out;
}

std::vector<Comparison> compare_within(const std::vector<ResultRow>& rows, const std::string& by,
                                       const std::string& a_value, const std::string& b_value) {
  if (std::find(kIdentityDimensions.begin(), kIdentityDimensions.end(), by) ==
      kIdentityDimensions.end())
    throw Error("compare --by '" + by + "' is not a dimension of a cell (valid: backend, arm, " +
                "settings, precision, concurrency, preparation, threads, batch, model, ...)");
  std::vector<std::string> values;
  for (const auto& r : rows) {
    const std::string v = dimension_value(r.cell, by);
    if (std::find(values.begin(), values.end(), v) == values.end()) values.push_back(v);
  }
  std::string va = a_value, vb = b_value;
  auto list = [&] {
    std::string s;
    for (const auto& v : values) s += (s.empty() ? "'" : ", '") + v + "'";
    return s;
  };
  if (va.empty() && vb.empty()) {
    if (values.size() != 2)
      throw Error("compare --by " + by + ": the results hold " + std::to_string(values.size()) +
                  " values (" + list() + "); name the two to compare with --a and --b");
    va = values[0];
    vb = values[1];
  }
  for (const auto& v : {va, vb})
    if (std::find(values.begin(), values.end(), v) == values.end())
      // NOLINTNEXTLINE(performance-inefficient-string-concatenation): an error message
      throw Error("compare --by " + by + ": no cell has " + by + " '" + v +
                  "' (present: " + list() + ")");

  // group (identity without `by`) -> round/repeat -> the a and b rows
  struct Pair {
    const ResultRow* a = nullptr;
    const ResultRow* b = nullptr;
  };
  std::map<std::string, std::map<std::tuple<std::string, int, int>, Pair>> groups;
  std::vector<std::string> order;
  for (const auto& r : rows) {
    const std::string v = dimension_value(r.cell, by);
    if (v != va && v != vb) continue;
    const std::string id = identity(r, {by});
    if (!groups.count(id)) order.push_back(id);
    Pair& p = groups[id][{r.source, r.cell.round, r.cell.repeat}];
    (v == va ? p.a : p.b) = &r;
  }
  std::vector<Comparison> out;
  for (const auto& id : order) {
    std::vector<Headline> ha, hb;
    std::vector<std::pair<double, double>> pairs;
    const ResultRow* first_a = nullptr;
    const ResultRow* first_b = nullptr;
    for (const auto& [visit, p] : groups[id]) {
      if (p.a && !first_a) first_a = p.a;
      if (p.b && !first_b) first_b = p.b;
      if (!p.a || !p.b) continue;
      const Headline x = headline(*p.a), y = headline(*p.b);
      if (x.ok) ha.push_back(x);
      if (y.ok) hb.push_back(y);
      if (x.ok && y.ok) pairs.push_back({x.value, y.value});
    }
    if (!first_a || !first_b) continue;  // only one side has this configuration
    Comparison c;
    c.cell = describe(first_a->cell, by);
    c.a_label = va;
    c.b_label = vb;
    if (pairs.empty()) {
      c.a = headline(*first_a);
      c.b = headline(*first_b);
      c.verdict = "not comparable (" + first_a->status + " vs " + first_b->status + ")";
      out.push_back(c);
      continue;
    }
    c.a = median_headline(ha);
    c.b = median_headline(hb);
    if (pairs.size() >= 2) {
      set_ratio(c, paired_ratio(pairs));
    } else {
      c.a = ha.front();
      c.b = hb.front();
      from_cell_intervals(c);
    }
    c.verdict = verdict(c);
    out.push_back(c);
  }
  return out;
}

}  // namespace infermark
