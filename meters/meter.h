#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace infermark {

// A meter is a start/stop hook around a measured region (load, or the timed run). stop()
// adds its figures to `metrics` under its own keys, with units in the names
// (energy_j, rss_peak_bytes). A meter that cannot measure here writes null and a reason
// instead of pretending (for example "energy_j": null, "energy_reason": "...").
class Meter {
 public:
  virtual ~Meter() = default;
  virtual std::string name() const = 0;
  virtual void start() = 0;
  virtual void stop(nlohmann::json& metrics) = 0;
};

}  // namespace infermark
