#include "load/load.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <deque>
#include <limits>
#include <mutex>
#include <optional>
#include <thread>

#include "core/error.h"
#include "core/metrics.h"
#include "meters/summary.h"
#include "scenarios/internal.h"

namespace infermark::load {
namespace {

using Clock = std::chrono::steady_clock;

double seconds(Clock::time_point t) {
  return std::chrono::duration<double>(t.time_since_epoch()).count();
}

// What one request came to.
struct Outcome {
  enum Kind : uint8_t { kPending, kOk, kRejected, kFailed } kind = kPending;
  double latency_ms = 0;
  double late_ms = 0;  // sent this long after its scheduled time
};

void check(const LoadConfig& c) {
  if ((c.rate_qps > 0) == (c.concurrency > 0))
    throw Error("give either --rate (open loop) or --concurrency (closed loop)");
  if (c.rate_qps < 0 || !std::isfinite(c.rate_qps)) throw Error("--rate must be finite and > 0");
  if (c.concurrency < 0) throw Error("--concurrency must be >= 1");
  if (c.distribution != "poisson" && c.distribution != "constant")
    throw Error("--distribution '" + c.distribution + "' is neither poisson nor constant");
  if (!(c.duration_s > 0) || !std::isfinite(c.duration_s))
    throw Error("--duration must be finite and > 0");
  if (c.min_queries < 1) throw Error("--min-queries must be >= 1");
  if (c.connections < 1) throw Error("--connections must be >= 1");
  if (c.rate_qps * c.duration_s > 1e7)
    throw Error("--rate x --duration is over 10 million requests");
}

std::vector<double> schedule(const LoadConfig& c) {
  if (c.distribution == "poisson")
    return scenarios_internal::poisson_arrivals(c.rate_qps, c.duration_s, c.min_queries, c.seed);
  const auto n = std::max<int64_t>(c.min_queries, static_cast<int64_t>(c.rate_qps * c.duration_s));
  std::vector<double> t(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) t[static_cast<size_t>(i)] = static_cast<double>(i) / c.rate_qps;
  return t;
}

}  // namespace

ScenarioResult run_load(const Connect& connect, const serve::InferRequest& request,
                        const LoadConfig& config) {
  check(config);
  const bool open = config.rate_qps > 0;
  const std::vector<double> offsets = open ? schedule(config) : std::vector<double>{};
  const size_t planned = offsets.size();
  const int workers =
      open ? static_cast<int>(std::min<size_t>(static_cast<size_t>(config.connections), planned))
           : config.concurrency;

  // Connections first, each opened by a liveness check (not an inference: the model sees only
  // the measured requests), then one untimed inference (the server's first call is not
  // measured). A failure here ends the run: the server cannot be used at all.
  std::vector<std::unique_ptr<Client>> clients;
  for (int w = 0; w < workers; ++w) {
    clients.push_back(connect());
    clients.back()->live();
  }
  clients.front()->infer(request);

  std::mutex mutex;
  // Open loop: the dispatcher hands each request, when due, to the connection that went idle
  // last (a stack, as connection pools reuse the most recently used connection). At a low rate
  // one connection, one server thread and its warm caches carry every request, instead of the
  // requests going round all of them; under load every connection is used. A request due while
  // all are busy waits in `backlog` for the first to be free.
  struct Slot {
    std::condition_variable wake;
    std::optional<size_t> job;
  };
  std::vector<Slot> slots(open ? static_cast<size_t>(workers) : 0);
  std::vector<size_t> idle;
  std::deque<size_t> backlog;
  bool closed = false;
  std::vector<Outcome> outcomes(open ? planned : 0);
  std::vector<std::vector<Outcome>> closed_outcomes(open ? 0 : static_cast<size_t>(workers));
  std::string first_failure;
  double last_done = 0;
  std::vector<double> scheduled(planned);

  auto send = [&](Client& client, double scheduled_s, Outcome& out) {
    const double start = seconds(Clock::now());
    out.late_ms = (start - scheduled_s) * 1e3;
    try {
      const serve::InferResponse r = client.infer(request);
      if (r.outputs.empty()) throw serve::ServeError(serve::Code::kInternal, "no output");
      out.kind = Outcome::kOk;
    } catch (const serve::ServeError& e) {
      out.kind = e.code() == serve::Code::kOverloaded ? Outcome::kRejected : Outcome::kFailed;
      if (out.kind == Outcome::kFailed) {
        std::lock_guard lock(mutex);
        if (first_failure.empty()) first_failure = e.what();
      }
    } catch (const std::exception& e) {
      out.kind = Outcome::kFailed;
      std::lock_guard lock(mutex);
      if (first_failure.empty()) first_failure = e.what();
    }
    const double done = seconds(Clock::now());
    out.latency_ms = (done - scheduled_s) * 1e3;
    std::lock_guard lock(mutex);
    last_done = std::max(last_done, done);
  };

  const auto t0 = Clock::now() + std::chrono::milliseconds(20);
  const double start_s = seconds(t0);
  const double end_s = start_s + config.duration_s;
  std::vector<std::thread> threads;
  for (int w = 0; w < workers; ++w) {
    Client& client = *clients[static_cast<size_t>(w)];
    if (open) {
      threads.emplace_back([&, w] {
        Slot& slot = slots[static_cast<size_t>(w)];
        std::unique_lock lock(mutex);
        for (;;) {
          size_t i = 0;
          if (!backlog.empty()) {
            i = backlog.front();
            backlog.pop_front();
          } else {
            if (closed) return;
            idle.push_back(static_cast<size_t>(w));
            slot.wake.wait(lock, [&] { return slot.job.has_value() || closed; });
            if (!slot.job) return;
            i = *slot.job;
            slot.job.reset();
          }
          lock.unlock();
          send(client, scheduled[i], outcomes[i]);
          lock.lock();
        }
      });
    } else {
      threads.emplace_back([&, w] {
        std::this_thread::sleep_until(t0);
        auto& mine = closed_outcomes[static_cast<size_t>(w)];
        const int64_t share = (config.min_queries + workers - 1) / workers;
        while (seconds(Clock::now()) < end_s || static_cast<int64_t>(mine.size()) < share) {
          mine.emplace_back();
          send(client, seconds(Clock::now()), mine.back());
        }
      });
    }
  }
  if (open) {
    for (size_t i = 0; i < planned; ++i) {
      scheduled[i] = start_s + offsets[i];
      const auto at = t0 + std::chrono::duration_cast<Clock::duration>(
                               std::chrono::duration<double>(offsets[i]));
      std::this_thread::sleep_until(at);
      Slot* woken = nullptr;
      {
        std::lock_guard lock(mutex);
        if (idle.empty()) {
          backlog.push_back(i);
        } else {
          woken = &slots[idle.back()];
          idle.pop_back();
          woken->job = i;
        }
      }
      if (woken != nullptr) woken->wake.notify_one();
    }
    {
      std::lock_guard lock(mutex);
      closed = true;
    }
    for (Slot& slot : slots) slot.wake.notify_one();
  }
  for (auto& t : threads) t.join();

  if (!open)
    for (auto& list : closed_outcomes) outcomes.insert(outcomes.end(), list.begin(), list.end());
  std::vector<double> latencies;
  int64_t ok = 0, rejected = 0, failed = 0;
  std::vector<std::pair<double, double>> answered;  // open loop: (scheduled, latency) s
  double late_sum = 0, late_max = 0;
  for (size_t i = 0; i < outcomes.size(); ++i) {
    const Outcome& o = outcomes[i];
    late_sum += o.late_ms;
    late_max = std::max(late_max, o.late_ms);
    if (o.kind == Outcome::kOk) {
      ++ok;
      if (open) answered.emplace_back(offsets[i], o.latency_ms * 1e-3);
      latencies.push_back(o.latency_ms);
    } else if (o.kind == Outcome::kRejected) {
      ++rejected;
    } else {
      ++failed;
    }
  }
  const auto queries = static_cast<int64_t>(outcomes.size());
  const int64_t images_per_request =
      request.inputs.empty() || request.inputs[0].shape.empty() ? 1 : request.inputs[0].shape[0];
  ScenarioResult r;
  nlohmann::json& m = r.metrics;
  const double span_s = last_done - start_s;
  if (open) m[metric::kOfferedQps] = config.rate_qps;
  if (!open) m["clients"] = config.concurrency;
  m["distribution"] = open ? config.distribution : "closed-loop";
  m[metric::kQueries] = queries;
  m["ok"] = ok;
  m["rejected"] = rejected;
  m["failed"] = failed;
  m["dropped"] = rejected + failed;
  if (!first_failure.empty()) m["first_failure"] = first_failure;
  m[metric::kAchievedQps] = span_s > 0 ? static_cast<double>(ok) / span_s : 0.0;
  m[metric::kThroughputIps] =
      m[metric::kAchievedQps].get<double>() * static_cast<double>(images_per_request);
  m["images"] = ok * images_per_request;
  m["timed_s"] = span_s;
  m["seed"] = config.seed;
  m["connections"] = workers;
  m["send_late_ms_mean"] = queries > 0 ? late_sum / static_cast<double>(queries) : 0.0;
  m["send_late_ms_max"] = late_max;
  if (open)
    scenarios_internal::set_arrival_window(m, offsets.empty() ? 0.0 : offsets.back(), queries,
                                           answered);
  scenarios_internal::set_request_latencies(r, std::move(latencies));
  return r;
}

PeakResult find_peak_load(const Connect& connect, const serve::InferRequest& request,
                          LoadConfig config, const PeakSearch& search,
                          const std::function<ScenarioResult(const LoadConfig&)>& measure) {
  if (!(config.rate_qps > 0)) throw Error("the peak search needs a starting --rate");
  config.min_queries = std::max(config.min_queries, kMinQueriesForP99);
  auto probe = [&](double rate_qps) {
    config.rate_qps = rate_qps;
    const ScenarioResult r = run_load(connect, request, config);
    nlohmann::json p = rate_record(rate_qps, r, search.slo_p99_ms);
    p["rejected"] = r.metrics["rejected"];
    p["failed"] = r.metrics["failed"];
    return p;
  };
  PeakResult peak = search_peak(probe, search, 2 * config.rate_qps);
  confirm_peak(
      peak,
      [&](double rate_qps) {
        config.rate_qps = rate_qps;
        return measure ? measure(config) : run_load(connect, request, config);
      },
      search);
  return peak;
}

}  // namespace infermark::load
