#pragma once

#include <chrono>
#include <cstdint>

namespace infermark {

// Time as the scenario drivers see it, in seconds since an arbitrary origin. The real clock
// is std::chrono::steady_clock (monotonic); tests use a virtual clock that only moves when
// told, so that queueing results can be checked exactly and fast.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual double now() = 0;
  virtual void sleep_until(double t) = 0;  // returns at once if t is past
};

class SteadyClock final : public Clock {
 public:
  double now() override {
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch())
        .count();
  }
  void sleep_until(double t) override;  // sleeps, then spins the last ~100 us for precision
};

class VirtualClock final : public Clock {
 public:
  double now() override { return t_; }
  void sleep_until(double t) override {
    if (t > t_) t_ = t;
  }
  void advance(double seconds) { t_ += seconds; }

 private:
  double t_ = 0;
};

}  // namespace infermark
