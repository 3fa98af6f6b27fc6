// Result rows read as decisions: which configuration wins a scenario for a model under the
// user's constraints, by how much against the runner-up and against defaults (ratios with 95%
// intervals), and the Pareto front of speed, latency and memory. `infermark tune` answers with
// these; `infermark advise` applies them to any result files (its table: report/advise.h).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "core/result.h"
#include "core/statistics.h"

namespace infermark {

// What a configuration is judged by.
struct Objective {
  std::string name;  // throughput, latency-p50, latency-p99, images-per-joule, peak-rate
  bool higher_is_better = true;
};
// The objective named on the command line for a scenario (empty: the scenario's own: offline
// throughput, single-stream latency-p50, server peak-rate). Throws Error for a name that is
// unknown or means nothing in that scenario.
Objective objective_for(const std::string& name, const std::string& scenario);
// The objective's value of a row that ran; NaN when the row has no such figure (an energy
// figure on a machine without a meter, a failed cell).
double objective_value(const ResultRow& row, const Objective& objective);

// A limit a configuration must keep: "p99<=50ms", "p50<=8ms", "p99<=0.05s".
struct Constraint {
  std::string what;  // p50, p90, p99 (latency percentiles, ms)
  double limit_ms = 0;
};
// Throws Error naming the text when it is not one of those forms.
Constraint parse_constraint(const std::string& text);
std::string to_string(const Constraint& c);

// The user's limits on a configuration.
struct Limits {
  std::vector<Constraint> latency;
  int64_t memory_bytes = 0;       // peak resident memory of the cell's process; 0: none
  double min_top1_agreement = 0;  // applied by the tuner through `infermark accuracy`
};
// Whether the row keeps the limits; `why` says which it breaks, with the figure.
bool within(const ResultRow& row, const Limits& limits, std::string* why = nullptr);

// One configuration over its rows (rounds, repeats, files): the objective's median with its
// interval, and its value per round for pairing.
struct Standing {
  std::string identity;  // identity(row, {"arm"}) with the machine: the configuration
  ResultRow row;         // its last ok row (labels, settings, metrics)
  Aggregate value;       // the objective over its ok rows
  // (source file#arm, round) -> value, for pairing with another configuration's rounds
  std::vector<std::tuple<std::string, int, double>> rounds;
  double rel_half_ci = 0;  // the cell's own interval when there is one row
  int rows = 0;
};
// Every configuration of the rows that ran ok and keeps the limits, best first. Rows whose
// arm is in `only_arms` (when given) are the only ones read.
std::vector<Standing> rank(const std::vector<ResultRow>& rows, const Objective& objective,
                           const Limits& limits, const std::vector<std::string>& only_arms = {});

// b / a (objective values, so > 1 means b is larger): paired over the rounds both ran (at least
// 2), else from the cells' own intervals, else without an interval (low == high == ratio).
Ratio ratio_of(const Standing& a, const Standing& b);

// "1.42 [1.31, 1.55], 5 rounds paired" or "1.42 (no interval)".
std::string ratio_text(const Ratio& r);

// The configurations no other beats on every one of: the objective, p99 latency (ms) and peak
// resident memory; best objective first.
std::vector<Standing> pareto_front(const std::vector<Standing>& ranked, const Objective& objective);

// One decision: the winner of a model and scenario on these rows, with its evidence.
struct Recommendation {
  std::string machine, model, scenario;
  Objective objective;
  Standing winner;
  std::optional<Standing> runner_up;  // the best configuration of another framework
  Ratio vs_runner_up;                 // winner / runner-up (objective oriented: >1 is better)
  int configurations = 0;             // ranked
  std::vector<std::string> excluded;  // configurations that broke the limits, with why
};
// A recommendation per machine, model and scenario (server: per rate unless the peak was
// searched); the objective is the scenario's own unless `objective_name` is given.
std::vector<Recommendation> advise(const std::vector<ResultRow>& rows, const Limits& limits,
                                   const std::string& objective_name = "");

// The winner's figure as text with its unit ("412 images/s", "8.1 ms p50").
std::string value_text(double value, const Objective& objective);
}  // namespace infermark
