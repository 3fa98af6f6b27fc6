#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/metrics.h"
#include "meters/energy.h"
#include "scenarios/internal.h"
#include "scenarios/scenario.h"

namespace infermark {
namespace {

using scenarios_internal::num;

// Beyond this the schedule and its latencies alone would take gigabytes.
constexpr double kMaxQueries = 1e8;

void check_server_config(const Tensor& images, const ServerConfig& c) {
  scenarios_internal::check_images(images, "server images");
  if (!(c.rate_qps > 0) || !std::isfinite(c.rate_qps))
    throw Error("server rate_qps must be finite and > 0, got " + num(c.rate_qps));
  if (c.max_batch < 1)
    throw Error("server max_batch must be >= 1, got " + std::to_string(c.max_batch));
  if (c.max_batch > images.shape[0])
    throw Error("server max_batch " + std::to_string(c.max_batch) + " exceeds the " +
                std::to_string(images.shape[0]) + " images given " + shape_string(images.shape));
  if (!(c.max_queue_delay_ms >= 0) || !std::isfinite(c.max_queue_delay_ms))
    throw Error("server max_queue_delay_ms must be finite and >= 0, got " +
                num(c.max_queue_delay_ms));
  if (!(c.duration_s >= 0) || !std::isfinite(c.duration_s))
    throw Error("server duration_s must be finite and >= 0, got " + num(c.duration_s));
  if (c.min_queries < 1)
    throw Error("server min_queries must be >= 1, got " + std::to_string(c.min_queries));
  if (c.rate_qps * c.duration_s > kMaxQueries || static_cast<double>(c.min_queries) > kMaxQueries)
    throw Error("server rate_qps * duration_s = " + num(c.rate_qps * c.duration_s) +
                " queries is more than the " + num(kMaxQueries) + " one run can hold");
}

}  // namespace

ScenarioResult run_server(Engine& engine, const Tensor& images, const ServerConfig& config,
                          Clock& clock, const WindowMeters& window) {
  check_server_config(images, config);
  const auto max_batch = static_cast<size_t>(config.max_batch);
  const double delay_s = config.max_queue_delay_ms * 1e-3;

  // Everything the loop needs, prepared before it: the schedule, the latency slots, the
  // histogram, the batch views, and an output already at its largest size.
  const std::vector<double> offsets = scenarios_internal::poisson_arrivals(
      config.rate_qps, config.duration_s, config.min_queries, config.seed);
  const size_t n_queries = offsets.size();
  std::vector<double> latencies_ms(n_queries);
  std::vector<int64_t> histogram(max_batch + 1, 0);
  std::vector<TensorView> batches(max_batch + 1);
  for (size_t b = 1; b <= max_batch; ++b) batches[b] = view(images, static_cast<int64_t>(b));
  Tensor output;
  // Untimed warm-up: the largest batch first (output reaches its full size), then a single.
  engine.run(batches[max_batch], output);
  if (max_batch > 1) engine.run(batches[1], output);

  std::vector<double> arrival(n_queries);
  scenarios_internal::start_window(window);
  const double t_start = clock.now();
  for (size_t i = 0; i < n_queries; ++i) arrival[i] = t_start + offsets[i];

  size_t head = 0;  // oldest request not yet dispatched
  size_t next = 0;  // next request not yet arrived (admitted)
  double engine_s = 0, sleep_s = 0, late_sum_s = 0, late_max_s = 0;
  int64_t wakes = 0, dispatches = 0;
  double last_completion = t_start;
  double now = t_start;
  // Sleeps until t; what it costs is accounted apart from the harness's own work.
  auto wait_until = [&](double t) {
    const double s0 = now;
    clock.sleep_until(t);
    now = clock.now();
    sleep_s += now - s0;
    const double late = now - t;
    late_sum_s += late;
    late_max_s = std::max(late_max_s, late);
    ++wakes;
  };

  while (head < n_queries) {
    now = clock.now();
    if (head == next && arrival[next] > now) wait_until(arrival[next]);
    while (next < n_queries && arrival[next] <= now) ++next;
    const size_t pending = next - head;
    if (pending == 0) continue;
    const double deadline = arrival[head] + delay_s;
    if (pending >= max_batch || now >= deadline || next == n_queries) {
      const size_t n = std::min(pending, max_batch);
      const double r0 = clock.now();
      engine.run(batches[n], output);
      const double done = clock.now();
      engine_s += done - r0;
      for (size_t k = head; k < head + n; ++k) latencies_ms[k] = (done - arrival[k]) * 1e3;
      head += n;
      ++histogram[n];
      ++dispatches;
      last_completion = done;
    } else {
      wait_until(next < n_queries ? std::min(arrival[next], deadline) : deadline);
    }
  }
  const double loop_s = clock.now() - t_start;
  ScenarioResult r;
  nlohmann::json& m = r.metrics;
  scenarios_internal::stop_window(window, m);
  const double span_s = last_completion - arrival.front();
  const auto completed = static_cast<int64_t>(n_queries);
  m[metric::kOfferedQps] = config.rate_qps;
  m[metric::kAchievedQps] = span_s > 0 ? static_cast<double>(completed) / span_s : 0.0;
  m[metric::kThroughputIps] = m[metric::kAchievedQps];  // one image per query
  m[metric::kQueries] = completed;
  m["images"] = completed;
  m["dropped"] = 0;
  m["schedule_s"] = offsets.back();
  m["timed_s"] = loop_s;
  m["seed"] = config.seed;
  m["max_batch"] = config.max_batch;
  m["max_queue_delay_ms"] = config.max_queue_delay_ms;
  m["batches"] = dispatches;
  m["iterations"] = dispatches;
  m["warmup_iterations"] = max_batch > 1 ? 2 : 1;
  nlohmann::json hist = nlohmann::json::object();
  for (size_t b = 1; b <= max_batch; ++b)
    if (histogram[b] > 0) hist[std::to_string(b)] = histogram[b];
  m["batch_histogram"] = hist;
  m["mean_batch"] =
      dispatches > 0 ? static_cast<double>(completed) / static_cast<double>(dispatches) : 0.0;
  m["engine_busy_fraction"] = loop_s > 0 ? engine_s / loop_s : 0.0;
  // Loop time neither in engine.run nor asleep (admission, batching decisions, clock reads,
  // latency bookkeeping), per dispatched batch; and how late the harness woke for an event.
  const double harness_s = std::max(0.0, loop_s - engine_s - sleep_s);
  m["harness_overhead_us_per_iteration"] =
      dispatches > 0 ? harness_s / static_cast<double>(dispatches) * 1e6 : 0.0;
  m["harness_overhead_fraction"] = loop_s > 0 ? harness_s / loop_s : 0.0;
  m["wake_late_us_mean"] = wakes > 0 ? late_sum_s / static_cast<double>(wakes) * 1e6 : 0.0;
  m["wake_late_us_max"] = late_max_s * 1e6;
  std::vector<std::pair<double, double>> answered(n_queries);
  for (size_t k = 0; k < n_queries; ++k) answered[k] = {offsets[k], latencies_ms[k] * 1e-3};
  scenarios_internal::set_arrival_window(m, offsets.back(), completed, answered);

  scenarios_internal::set_request_latencies(r, std::move(latencies_ms));
  return r;
}

namespace {

void check_search(const PeakSearch& search) {
  if (!(search.slo_p99_ms > 0) || !std::isfinite(search.slo_p99_ms))
    throw Error("peak search slo_p99_ms must be finite and > 0, got " + num(search.slo_p99_ms));
  if (!(search.lo_qps > 0) || !std::isfinite(search.lo_qps))
    throw Error("peak search lo_qps must be finite and > 0, got " + num(search.lo_qps));
  if (!(search.hi_qps == 0 || (search.hi_qps > search.lo_qps && std::isfinite(search.hi_qps))))
    throw Error("peak search hi_qps must be 0 (automatic) or > lo_qps (" + num(search.lo_qps) +
                "), got " + num(search.hi_qps));
  if (!(search.start_qps >= 0) || !std::isfinite(search.start_qps))
    throw Error("peak search start_qps must be finite and >= 0, got " + num(search.start_qps));
  if (search.max_probes < 1)
    throw Error("peak search max_probes must be >= 1, got " + std::to_string(search.max_probes));
  if (!(search.tolerance > 0) || !std::isfinite(search.tolerance))
    throw Error("peak search tolerance must be finite and > 0, got " + num(search.tolerance));
}

}  // namespace

PeakResult search_peak(const std::function<nlohmann::json(double rate_qps)>& probe,
                       const PeakSearch& search, double hi_qps) {
  check_search(search);
  PeakResult result;
  result.probes = nlohmann::json::array();
  int probes = 0;
  auto meets = [&](double rate_qps) {
    nlohmann::json p = probe(rate_qps);
    const bool ok = p.at("meets").get<bool>();
    result.probes.push_back(std::move(p));
    ++probes;
    return ok;
  };
  double hi = search.hi_qps > 0 ? search.hi_qps : hi_qps;
  if (!(hi > search.lo_qps) || !std::isfinite(hi)) hi = 2 * search.lo_qps;

  double good = search.lo_qps, bad = hi;
  bool bad_known = false;
  const double start = std::clamp(search.start_qps, search.lo_qps, hi);
  if (search.start_qps > 0 && start > search.lo_qps && start < hi) {
    if (meets(start)) {
      good = start;  // upwards from hi, as from lo below
    } else {
      // Downwards: halving, lo_qps the last probe.
      bad = start;
      bad_known = true;
      double rate = start;
      for (;;) {
        if (probes >= search.max_probes) return result;  // none met: peak 0
        rate = std::max(search.lo_qps, rate / 2);
        if (meets(rate)) break;
        bad = rate;
        if (rate <= search.lo_qps) return result;  // peak 0: even lo_qps misses
      }
      good = rate;
    }
  } else if (!meets(search.lo_qps)) {
    return result;  // peak 0: even lo_qps misses
  }
  while (!bad_known && probes < search.max_probes) {
    if (!meets(bad)) {
      bad_known = true;
      break;
    }
    good = bad;
    bad *= 2;
  }
  while (bad_known && probes < search.max_probes && (bad - good) / good >= search.tolerance) {
    const double mid = 0.5 * (good + bad);
    if (meets(mid))
      good = mid;
    else
      bad = mid;
  }
  result.peak_qps = good;
  return result;
}

RateVerdict meets_target(const ScenarioResult& run, double slo_p99_ms) {
  RateFigures f;
  f.p99_ms = run.latency_ms.count > 0 ? run.latency_ms.p99 : NAN;
  f.answered = run.latency_ms.count;
  f.queries = run.metrics.value(metric::kQueries, f.answered);
  f.achieved_fraction = run.metrics.value("achieved_fraction", 0.0);
  return meets_rate_rule(f, slo_p99_ms);
}

nlohmann::json rate_record(double rate_qps, const ScenarioResult& run, double slo_p99_ms) {
  const RateVerdict v = meets_target(run, slo_p99_ms);
  nlohmann::json p = {{"rate_qps", rate_qps},
                      {"p99_ms", run.latency_ms.p99},
                      {"meets", v.meets},
                      {metric::kQueries, run.metrics.value(metric::kQueries, run.latency_ms.count)},
                      {"answered", run.latency_ms.count},
                      {metric::kAchievedQps, run.metrics.value(metric::kAchievedQps, 0.0)},
                      {"achieved_fraction", run.metrics.value("achieved_fraction", 0.0)}};
  if (!v.meets) p["reason"] = v.reason;
  return p;
}

void confirm_peak(PeakResult& peak, const std::function<ScenarioResult(double rate_qps)>& run,
                  const PeakSearch& search) {
  check_search(search);
  peak.confirmed = false;
  peak.confirmations = nlohmann::json::array();
  double rate = peak.peak_qps > 0 ? peak.peak_qps : search.lo_qps;
  double step = search.tolerance;
  for (;;) {
    peak.run = run(rate);
    const RateVerdict v = meets_target(peak.run, search.slo_p99_ms);
    peak.confirmations.push_back(rate_record(rate, peak.run, search.slo_p99_ms));
    if (v.meets) {
      peak.peak_qps = rate;
      peak.confirmed = true;
      peak.reason.clear();
      return;
    }
    if (rate <= search.lo_qps) {
      peak.peak_qps = 0;
      peak.reason = "no rate down to " + num(search.lo_qps) +
                    " queries/s held in a full-length run; at " + num(rate) + ": " + v.reason;
      return;
    }
    rate = std::max(search.lo_qps, rate * (1 - step));
    step *= 2;
  }
}

void add_peak_metrics(const PeakResult& peak, double slo_p99_ms, nlohmann::json& metrics) {
  metrics[metric::kPeakQps] = peak.peak_qps;
  metrics[metric::kSloP99Ms] = slo_p99_ms;
  metrics["probes"] = peak.probes;
  metrics["peak_confirmations"] = peak.confirmations;
  metrics["peak_confirmed"] = peak.confirmed;
  if (!peak.confirmed) metrics["peak_reason"] = peak.reason;
}

PeakResult find_peak(Engine& engine, const Tensor& images, ServerConfig config,
                     const PeakSearch& search, Clock& clock, const WindowMeters& window) {
  check_search(search);
  config.rate_qps = search.lo_qps;
  config.min_queries = std::max(config.min_queries, kMinQueriesForP99);
  check_server_config(images, config);

  // Every probe replays the same seeded schedule, scaled to its rate.
  auto probe = [&](double rate_qps) {
    config.rate_qps = rate_qps;
    const ScenarioResult r = run_server(engine, images, config, clock, window);
    nlohmann::json p = rate_record(rate_qps, r, search.slo_p99_ms);
    p["mean_batch"] = r.metrics["mean_batch"];
    p["images"] = r.metrics["images"];
    // Each probe's own energy, over exactly its own requests.
    for (const char* k : {metric::kEnergyJ, "energy_reason", "gpu_energy_j"})
      if (r.metrics.contains(k)) p[k] = r.metrics[k];
    add_energy_per_image(p);
    return p;
  };

  double hi = search.hi_qps;
  if (hi == 0) {
    // 2x what one request after another achieves.
    RunLimits quick;
    quick.warmup_s = 0;
    quick.warmup_iterations = 1;
    quick.min_duration_s = 0.2;
    quick.min_iterations = 5;
    quick.max_duration_s = 2;
    quick.cv_threshold = std::numeric_limits<double>::infinity();
    const ScenarioResult single = run_single_stream(engine, images, quick, clock);
    hi = 2 * single.metrics[metric::kThroughputIps].get<double>();
  }
  PeakResult peak = search_peak(probe, search, hi);
  // The same configuration, measured again: what the row reports.
  confirm_peak(
      peak,
      [&](double rate_qps) {
        config.rate_qps = rate_qps;
        return run_server(engine, images, config, clock, window);
      },
      search);
  return peak;
}

}  // namespace infermark
