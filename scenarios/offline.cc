#include <algorithm>
#include <atomic>
#include <barrier>
#include <exception>
#include <thread>

#include "core/error.h"
#include "scenarios/internal.h"
#include "scenarios/scenario.h"

namespace infermark {

ScenarioResult run_offline(Engine& engine, const Tensor& input, const RunLimits& limits,
                           Clock& clock, const WindowMeters& window) {
  using namespace scenarios_internal;
  check_images(input, "offline input");
  check_limits(limits);
  const TensorView in = view(input);
  Tensor output;
  LoopResult loop = timed_loop(
      clock, limits, [&] { engine.run(in, output); }, window);
  return loop_result(std::move(loop), input.shape[0], limits);
}

ScenarioResult run_offline_concurrent(const std::vector<Engine*>& requests, const Tensor& input,
                                      const RunLimits& limits, Clock& clock,
                                      const WindowMeters& window) {
  using namespace scenarios_internal;
  if (requests.empty()) throw Error("offline: no request to run");
  if (requests.size() == 1) {
    ScenarioResult r = run_offline(*requests.front(), input, limits, clock, window);
    r.metrics["concurrency"] = 1;
    return r;
  }
  check_images(input, "offline input");
  check_limits(limits);
  const TensorView in = view(input);
  const size_t n = requests.size();

  // What each request's thread saw.
  struct Worker {
    std::vector<double> latencies_ms;
    int64_t warmup_iterations = 0;
    double warmup_s = 0;
    double busy_s = 0;
    double end = 0;
    std::exception_ptr error;
  };
  std::vector<Worker> workers(n);
  std::atomic<bool> stop{false};
  std::atomic<bool> hit_max{false};
  std::atomic<int64_t> iterations{0};
  double start = 0;  // written by this thread between the two barriers, read after the second
  // Every request warms up at once (the steady state includes their contention); then this
  // thread starts the window and the clock, and every request starts timing together.
  std::barrier<> sync(static_cast<std::ptrdiff_t>(n + 1));

  auto work = [&](size_t i) {
    Worker& w = workers[i];
    Engine& engine = *requests[i];
    Tensor output;
    try {
      const double w0 = clock.now();
      double t = w0;
      while (!stop &&
             (w.warmup_iterations < limits.warmup_iterations || t - w0 < limits.warmup_s)) {
        engine.run(in, output);
        ++w.warmup_iterations;
        t = clock.now();
      }
      w.warmup_s = t - w0;
    } catch (...) {
      w.error = std::current_exception();
      stop = true;
    }
    sync.arrive_and_wait();
    sync.arrive_and_wait();
    if (w.error) return;
    w.latencies_ms.reserve(4096);
    try {
      while (!stop) {
        const double t0 = clock.now();
        engine.run(in, output);
        const double t1 = clock.now();
        w.busy_s += t1 - t0;
        w.latencies_ms.push_back((t1 - t0) * 1e3);
        w.end = t1;
        const int64_t done = ++iterations;
        const double elapsed = t1 - start;
        if (done >= limits.min_iterations && elapsed >= limits.min_duration_s) stop = true;
        if (elapsed >= limits.max_duration_s) {
          hit_max = true;
          stop = true;
        }
      }
    } catch (...) {
      w.error = std::current_exception();
      stop = true;
    }
  };

  std::vector<std::thread> threads;
  threads.reserve(n);
  for (size_t i = 0; i < n; ++i) threads.emplace_back(work, i);
  sync.arrive_and_wait();
  start_window(window);
  start = clock.now();
  sync.arrive_and_wait();
  for (auto& t : threads) t.join();
  LoopResult loop;
  stop_window(window, loop.window_metrics);
  for (const Worker& w : workers)
    if (w.error) std::rethrow_exception(w.error);

  // Throughput counts every request's images over the wall time from the common start to the
  // last request's end; latency is per request, as a client of each sees it.
  double end = start;
  nlohmann::json per_request = nlohmann::json::array();
  for (Worker& w : workers) {
    end = std::max(end, w.end);
    loop.warmup_iterations += w.warmup_iterations;
    loop.warmup_s = std::max(loop.warmup_s, w.warmup_s);
    loop.busy_s += w.busy_s / static_cast<double>(n);
    per_request.push_back(static_cast<int64_t>(w.latencies_ms.size()));
    loop.latencies_ms.insert(loop.latencies_ms.end(), w.latencies_ms.begin(), w.latencies_ms.end());
  }
  loop.timed_s = end - start;
  loop.hit_max_duration = hit_max;
  ScenarioResult r = loop_result(std::move(loop), input.shape[0], limits);
  r.metrics["concurrency"] = static_cast<int64_t>(n);
  r.metrics["iterations_per_request"] = std::move(per_request);
  return r;
}

}  // namespace infermark
