#include "core/bandwidth.h"

#include <pthread.h>
#include <sched.h>

#include <algorithm>
#include <barrier>
#include <chrono>
#include <memory>
#include <new>
#include <thread>
#include <vector>

#include "core/peak.h"

namespace infermark {

double measure_bandwidth(const BandwidthOptions& options) {
  try {
    const std::vector<int> cpus = usable_cpus();
    const int n = std::max<int>(1, static_cast<int>(cpus.size()));
    const auto size = static_cast<size_t>(std::max(1024LL, options.elements));
    const std::unique_ptr<double[]> a(new double[size]), b(new double[size]), c(new double[size]);
    double best_s = 0;
    std::barrier start(n), done(n);
    std::vector<double> seconds(static_cast<size_t>(options.trials), 0.0);
    const auto work = [&](int t) {
      if (t < static_cast<int>(cpus.size())) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(cpus[static_cast<size_t>(t)], &set);
        pthread_setaffinity_np(pthread_self(), sizeof set, &set);
      }
      const size_t lo = size * static_cast<size_t>(t) / static_cast<size_t>(n);
      const size_t hi = size * static_cast<size_t>(t + 1) / static_cast<size_t>(n);
      for (size_t i = lo; i < hi; ++i) {  // first touch by the thread that uses the pages
        a[i] = 0;
        b[i] = 1;
        c[i] = 2;
      }
      for (int trial = 0; trial < options.trials; ++trial) {
        start.arrive_and_wait();
        const auto t0 = std::chrono::steady_clock::now();
        const double s = 3.0 + trial;
        for (size_t i = lo; i < hi; ++i) a[i] = b[i] + s * c[i];
        done.arrive_and_wait();
        if (t == 0)
          seconds[static_cast<size_t>(trial)] =
              std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      }
    };
    // Every worker a thread of its own: pinning the calling thread would leave the process
    // (and the children it starts later) on one CPU.
    std::vector<std::thread> threads;
    for (int t = 0; t < n; ++t) threads.emplace_back(work, t);
    for (auto& th : threads) th.join();
    // The first trial also pays for the pages' first writes by a[i]: the best of the others.
    for (size_t i = seconds.size() > 1 ? 1 : 0; i < seconds.size(); ++i)
      if (seconds[i] > 0 && (best_s == 0 || seconds[i] < best_s)) best_s = seconds[i];
    return best_s > 0 ? 24.0 * static_cast<double>(size) / best_s : 0.0;
  } catch (const std::exception&) {
    return 0.0;
  }
}

}  // namespace infermark
