// Result rows read as decisions (advise/advise.h).
#include "advise/advise.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <set>
#include <tuple>

#include "core/error.h"
#include "core/metrics.h"
#include "core/statistics.h"
#include "core/text.h"

namespace infermark {
namespace {

// Whether a is better than b under the objective.
bool better(double a, double b, const Objective& o) { return o.higher_is_better ? a > b : a < b; }

// The group a row's recommendation belongs to: machine, model, scenario (and the server's
// offered rate when its peak was not searched).
std::tuple<std::string, std::string, std::string> group_of(const ResultRow& r) {
  std::string scenario = r.cell.scenario;
  if (r.cell.scenario == scenario::kServer && r.cell.server && !r.cell.peak_slo_p99_ms)
    scenario += " at " + fixed(r.cell.server->rate_qps, 1) + " qps";
  if (r.cell.scenario == scenario::kServer && r.cell.peak_slo_p99_ms)
    scenario += " (peak, p99 <= " + fixed(*r.cell.peak_slo_p99_ms, 1) + " ms)";
  return {r.machine, r.cell.model.name, scenario};
}

}  // namespace

Objective objective_for(const std::string& name, const std::string& scenario) {
  std::string n = name;
  if (n.empty()) {
    if (scenario == scenario::kSingleStream)
      n = "latency-p50";
    else if (scenario == scenario::kServer)
      n = "peak-rate";
    else if (scenario == scenario::kLoad)
      n = "load-cold";
    else
      n = "throughput";
  }
  Objective o;
  o.name = n;
  if (n == "throughput" || n == "images-per-joule" || n == "peak-rate") {
    o.higher_is_better = true;
  } else if (n == "latency-p50" || n == "latency-p99" || n == "load-cold") {
    o.higher_is_better = false;
  } else {
    throw Error("--objective '" + name +
                "' is unknown (valid: throughput, latency-p50, latency-p99, images-per-joule, "
                "peak-rate)");
  }
  if (n == "peak-rate" && scenario != scenario::kServer)
    throw Error("--objective peak-rate needs --scenario server");
  if (scenario == scenario::kServer && n != "peak-rate")
    throw Error("--objective " + n +
                " does not apply to --scenario server, which is judged by "
                "the highest rate meeting the p99 target (peak-rate)");
  return o;
}

double objective_value(const ResultRow& r, const Objective& o) {
  if (!r.ok()) return NAN;
  double v = NAN;
  if (o.name == "throughput")
    v = r.metric(metric::kThroughputIps);
  else if (o.name == "latency-p50")
    v = r.latency("p50");
  else if (o.name == "latency-p99")
    v = r.latency("p99");
  else if (o.name == "peak-rate")
    v = confirmed_peak_qps(r);  // an unconfirmed peak is none
  else if (o.name == "load-cold")
    v = r.metric(metric::kLoadColdMs);
  else if (o.name == "images-per-joule") {
    double j = r.metric(metric::kEnergyPerImageJ);
    const double gpu = r.metric(metric::kGpuEnergyPerImageJ);
    if (std::isfinite(gpu)) j = (std::isfinite(j) ? j : 0) + gpu;
    v = j > 0 ? 1 / j : NAN;
  }
  return std::isfinite(v) && v > 0 ? v : NAN;
}

Constraint parse_constraint(const std::string& text) {
  const size_t op = text.find("<=");
  const auto bad = [&] {
    return Error("--constraint '" + text +
                 "' is invalid: expected p50<=MS, p90<=MS or p99<=MS with a unit, e.g. p99<=50ms "
                 "or p99<=0.05s");
  };
  if (op == std::string::npos) throw bad();
  Constraint c;
  c.what = text.substr(0, op);
  if (c.what != "p50" && c.what != "p90" && c.what != "p99") throw bad();
  const std::string value = text.substr(op + 2);
  size_t used = 0;
  double v = 0;
  try {
    v = std::stod(value, &used);
  } catch (const std::exception&) {
    throw bad();
  }
  const std::string unit = value.substr(used);
  if (unit == "ms")
    c.limit_ms = v;
  else if (unit == "s")
    c.limit_ms = v * 1000;
  else if (unit == "us")
    c.limit_ms = v / 1000;
  else
    throw bad();
  if (!(c.limit_ms > 0)) throw bad();
  return c;
}

std::string to_string(const Constraint& c) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%s<=%gms", c.what.c_str(), c.limit_ms);
  return buf;
}

bool within(const ResultRow& r, const Limits& limits, std::string* why) {
  for (const auto& c : limits.latency) {
    // A peak search already holds its rate to its own p99 target.
    if (r.cell.peak_slo_p99_ms) continue;
    const double v = r.latency(c.what);
    if (std::isfinite(v) && v > c.limit_ms) {
      if (why) *why = c.what + " " + fixed(v, 2) + " ms > " + fixed(c.limit_ms, 2) + " ms";
      return false;
    }
  }
  if (limits.memory_bytes > 0) {
    const double rss = r.metric(metric::kChildPeakRssBytes);
    if (std::isfinite(rss) && rss > static_cast<double>(limits.memory_bytes)) {
      if (why)
        *why = "peak memory " + fixed(rss / (1 << 20), 0) + " MiB > " +
               fixed(static_cast<double>(limits.memory_bytes) / (1 << 20), 0) + " MiB";
      return false;
    }
  }
  return true;
}

std::vector<Standing> rank(const std::vector<ResultRow>& rows, const Objective& objective,
                           const Limits& limits, const std::vector<std::string>& only_arms) {
  std::map<std::string, Standing> by_id;
  std::map<std::string, std::vector<double>> values;
  std::set<std::string> broken;
  std::vector<std::string> order;
  for (const auto& r : rows) {
    if (!only_arms.empty() &&
        std::find(only_arms.begin(), only_arms.end(), r.cell.arm) == only_arms.end())
      continue;
    const double v = objective_value(r, objective);
    if (std::isnan(v)) continue;
    const std::string id = identity(r, {"arm"});
    if (!within(r, limits)) broken.insert(id);
    Standing& s = by_id[id];
    if (s.rows == 0) {
      s.identity = id;
      order.push_back(id);
    }
    s.row = r;
    s.row.cell.arm.clear();  // a configuration over its arms (a tuning run's phases)
    ++s.rows;
    values[id].push_back(v);
    // Rounds pair within one file and one arm: a tuning run's phases all start at round 0.
    s.rounds.emplace_back(r.source + "#" + r.cell.arm, r.cell.round, v);
    s.rel_half_ci = headline(r).rel_half_ci;
  }
  std::vector<Standing> out;
  for (const auto& id : order) {
    if (broken.count(id)) continue;
    Standing s = by_id[id];
    s.value = *aggregate(values[id]);
    if (s.rows > 1) s.rel_half_ci = 0;
    out.push_back(std::move(s));
  }
  std::stable_sort(out.begin(), out.end(), [&](const Standing& a, const Standing& b) {
    return better(a.value.median, b.value.median, objective);
  });
  return out;
}

Ratio ratio_of(const Standing& a, const Standing& b) {
  std::map<std::pair<std::string, int>, double> in_a;
  for (const auto& [source, round, v] : a.rounds) in_a[{source, round}] = v;
  std::vector<std::pair<double, double>> pairs;
  for (const auto& [source, round, v] : b.rounds)
    if (auto it = in_a.find({source, round}); it != in_a.end()) pairs.emplace_back(it->second, v);
  if (pairs.size() >= 2 && pairs.size() * 2 >= std::min(a.rounds.size(), b.rounds.size()))
    return paired_ratio(pairs);
  if (a.rows == 1 && b.rows == 1)
    return within_cell_ratio(a.value.median, a.rel_half_ci, b.value.median, b.rel_half_ci);
  Ratio r;
  r.ratio = r.low = r.high = b.value.median / a.value.median;
  return r;
}

std::string ratio_text(const Ratio& r) {
  std::string s = fixed(r.ratio, 2);
  if (r.high > r.low) {
    s += " [" + fixed(r.low, 2) + ", " + fixed(r.high, 2) + "]";
    s += r.pairs >= 2 ? ", " + std::to_string(r.pairs) + " rounds paired" : ", within-cell";
  } else {
    s += " (no interval)";
  }
  return s;
}

std::vector<Standing> pareto_front(const std::vector<Standing>& ranked,
                                   const Objective& objective) {
  auto p99 = [](const Standing& s) {
    const double v = s.row.latency("p99");
    return std::isfinite(v) ? v : INFINITY;
  };
  auto mem = [](const Standing& s) {
    const double v = s.row.metric(metric::kChildPeakRssBytes);
    return std::isfinite(v) ? v : INFINITY;
  };
  // Figures within the machine's noise count as equal: 5% (and 16 MiB of memory, what a
  // process's own bookkeeping moves).
  auto same = [](double a, double b, double slack) {
    return std::fabs(a - b) <= 0.05 * std::max(std::fabs(a), std::fabs(b)) + slack;
  };
  auto no_worse = [&](double o, double s, bool lower_is_better, double slack) {
    return same(o, s, slack) || (lower_is_better ? o < s : o > s);
  };
  auto strictly = [&](double o, double s, bool lower_is_better, double slack) {
    return !same(o, s, slack) && (lower_is_better ? o < s : o > s);
  };
  const double mib16 = 16.0 * (1 << 20);
  std::vector<Standing> front;
  for (const auto& s : ranked) {
    bool dominated = false;
    for (const auto& o : ranked) {
      if (&o == &s) continue;
      const double os = o.value.median, ss = s.value.median;
      const bool lower = !objective.higher_is_better;
      if (no_worse(os, ss, lower, 0) && no_worse(p99(o), p99(s), true, 0) &&
          no_worse(mem(o), mem(s), true, mib16) &&
          (strictly(os, ss, lower, 0) || strictly(p99(o), p99(s), true, 0) ||
           strictly(mem(o), mem(s), true, mib16))) {
        dominated = true;
        break;
      }
    }
    if (!dominated) front.push_back(s);
  }
  return front;
}

std::vector<Recommendation> advise(const std::vector<ResultRow>& rows, const Limits& limits,
                                   const std::string& objective_name) {
  std::map<std::tuple<std::string, std::string, std::string>, std::vector<ResultRow>> groups;
  std::vector<std::tuple<std::string, std::string, std::string>> order;
  for (const auto& r : rows) {
    const auto g = group_of(r);
    if (!groups.count(g)) order.push_back(g);
    groups[g].push_back(r);
  }
  std::vector<Recommendation> out;
  for (const auto& g : order) {
    const auto& group = groups[g];
    Recommendation rec;
    std::tie(rec.machine, rec.model, rec.scenario) = g;
    try {
      rec.objective = objective_for(objective_name, group.front().cell.scenario);
    } catch (const Error&) {
      continue;  // an objective given for another scenario
    }
    const std::vector<Standing> ranked = rank(group, rec.objective, limits);
    std::set<std::string> seen;
    for (const auto& r : group) {
      std::string why;
      if (r.ok() && !within(r, limits, &why) && seen.insert(identity(r, {"arm"})).second)
        rec.excluded.push_back(r.label() + ": " + why);
    }
    if (ranked.empty()) continue;
    rec.winner = ranked.front();
    rec.configurations = static_cast<int>(ranked.size());
    for (size_t i = 1; i < ranked.size(); ++i)
      if (ranked[i].row.cell.backend != rec.winner.row.cell.backend) {
        rec.runner_up = ranked[i];
        break;
      }
    if (rec.runner_up) {
      rec.vs_runner_up = ratio_of(*rec.runner_up, rec.winner);
      if (!rec.objective.higher_is_better) {  // oriented so that > 1 means the winner is better
        const Ratio r = rec.vs_runner_up;
        rec.vs_runner_up.ratio = 1 / r.ratio;
        rec.vs_runner_up.low = 1 / r.high;
        rec.vs_runner_up.high = 1 / r.low;
      }
    }
    out.push_back(std::move(rec));
  }
  return out;
}

std::string value_text(double v, const Objective& o) {
  if (o.name == "throughput") return fixed(v, v < 10 ? 2 : 1) + " images/s";
  if (o.name == "latency-p50") return fixed(v, 2) + " ms p50";
  if (o.name == "latency-p99") return fixed(v, 2) + " ms p99";
  if (o.name == "peak-rate") return fixed(v, 1) + " queries/s";
  if (o.name == "images-per-joule") return fixed(v, 2) + " images/J";
  if (o.name == "load-cold") return fixed(v, 0) + " ms cold load";
  return fixed(v, 3);
}

}  // namespace infermark
