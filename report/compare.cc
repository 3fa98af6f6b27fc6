#include <cmath>
#include <map>
#include <set>

#include "report/report.h"

namespace infermark {
using nlohmann::json;

std::string cell_identity(const json& r) {
  json id = {{"model", r["model"].value("name", "")},
             {"backend", r["backend"].value("name", "")},
             {"settings", r["backend"].value("settings_asked", json::object())},
             {"scenario", r.value("scenario", "")},
             {"batch", r.value("batch", 0)},
             {"threads", r.value("threads", 0)}};
  if (r.contains("server")) id["server"] = r["server"];  // rate asked, batching, delay
  if (r.contains("peak")) id["peak"] = r["peak"];
  return id.dump();
}

Headline headline(const json& r) {
  Headline h;
  h.ok = r.value("status", "") == "ok";
  const json& m = r.value("metrics", json::object());
  const json& l = r.value("latency_ms", json::object());
  auto half_ci = [&]() {
    const double mean = l.value("mean", 0.0);
    return mean > 0 ? (l.value("ci95_high", mean) - l.value("ci95_low", mean)) / 2 / mean : 0.0;
  };
  const std::string scenario = r.value("scenario", "");
  if (scenario == "single-stream") {
    h.metric = "latency_p50_ms";
    h.value = l.value("p50", 0.0);
    h.higher_is_better = false;
    h.rel_half_ci = half_ci();
  } else if (scenario == "load") {
    h.metric = "load_cold_ms";
    h.value = m.value("load_cold_ms", 0.0);
    h.higher_is_better = false;
  } else if (scenario == "server" && m.contains("peak_qps")) {
    h.metric = "peak_qps";
    h.value = m.value("peak_qps", 0.0);
  } else {
    // Throughput is batch / mean iteration time: its relative interval is the mean's.
    h.metric = "throughput_ips";
    h.value = m.value("throughput_ips", 0.0);
    h.rel_half_ci = half_ci();
  }
  h.ok = h.ok && h.value > 0;
  return h;
}

std::vector<Comparison> compare(const std::vector<json>& a, const std::vector<json>& b) {
  std::map<std::string, json> in_a;
  for (const auto& r : a) in_a.emplace(cell_identity(r), r);  // first of repeats
  std::vector<Comparison> out;
  std::set<std::string> seen;
  for (const auto& rb : b) {
    const std::string id = cell_identity(rb);
    auto it = in_a.find(id);
    if (it == in_a.end() || !seen.insert(id).second) continue;
    const json& ra = it->second;
    Comparison c;
    c.cell = ra["model"].value("name", "") + " " + ra["backend"].value("name", "") + " " +
             ra.value("scenario", "") + " batch " + std::to_string(ra.value("batch", 0));
    c.a = headline(ra);
    c.b = headline(rb);
    if (!c.a.ok || !c.b.ok) {
      c.verdict = "not comparable (" + ra.value("status", "") + " vs " + rb.value("status", "") + ")";
      out.push_back(c);
      continue;
    }
    c.ratio = c.b.value / c.a.value;
    // Delta method on the log ratio; independent runs.
    const double rel = std::sqrt(c.a.rel_half_ci * c.a.rel_half_ci + c.b.rel_half_ci * c.b.rel_half_ci);
    c.ratio_low = c.ratio * (1 - rel);
    c.ratio_high = c.ratio * (1 + rel);
    const bool same = c.ratio_low <= 1 && c.ratio_high >= 1;
    const bool b_better = c.a.higher_is_better ? c.ratio > 1 : c.ratio < 1;
    c.verdict = same ? "same within noise" : (b_better ? "faster" : "slower");
    out.push_back(c);
  }
  return out;
}

}  // namespace infermark
