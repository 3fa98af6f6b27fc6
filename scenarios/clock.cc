#include "scenarios/clock.h"

#include <thread>

namespace infermark {

void SteadyClock::sleep_until(double t) {
  // The OS wakes a sleeper up to tens of microseconds late (timer slack, scheduling), so
  // sleep until ~100 us before the target and spin the rest on the clock itself.
  constexpr double kSpinS = 100e-6;
  const double start = now();
  if (t <= start) return;
  if (t - start > kSpinS) {
    const auto wake = std::chrono::steady_clock::time_point(
        std::chrono::duration_cast<std::chrono::steady_clock::duration>(
            std::chrono::duration<double>(t - kSpinS)));
    std::this_thread::sleep_until(wake);
  }
  while (now() < t) {
  }
}

}  // namespace infermark
