// Internal to sweep/tune*.cc: the Tuner that runs `infermark tune` (its search and budget in
// tune.cc, the accuracy gate in tune_agreement.cc, the printed answer and the study file in
// tune_answer.cc; the Pareto figure is the command's, TuneOptions::pareto_figure), the
// candidates it measures, the arms
// that label its phases, and the helpers they share.
#pragma once

#include <chrono>
#include <cmath>
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "advise/advise.h"
#include "backends/registry.h"
#include "core/text.h"  // fixed, for the files that include this one
#include "sweep/tune.h"

namespace infermark::tune_internal {

using Clock = std::chrono::steady_clock;

const char* const kScreen = "tune:screen";
const char* const kExplore = "tune:explore";
const char* const kRung = "tune:rung";
const char* const kConfirm = "tune:confirm";

std::string minutes(double s);  // "4m05s"; negative: "0m00s"

// How long each phase measures a cell: screening and exploring cells take 0.4 of
// `seconds`, the halving rung and the confirmation `seconds`.
RunLimits short_limits(double seconds);
RunLimits long_limits(double seconds);

// What a candidate is, apart from how it is measured.
struct Candidate {
  std::string backend;
  Settings settings;  // only what differs from the framework's defaults (and --fix)
  std::string precision = "fp32";
  int64_t batch = 1;
  int concurrency = 1;
  int64_t max_batch = 1;  // server
  double delay_ms = 0;    // server
};

class Tuner {
 public:
  explicit Tuner(const TuneOptions& o)
      : o_(o), objective_(objective_for(o.objective, o.scenario)) {}

  int run();

 private:
  // Cells and results.
  CellSpec cell(const Candidate& c, const std::string& arm, int round = 0) const;
  void reload();
  const ResultRow* find(const CellSpec& spec) const;
  // The candidate's result in the phase, running it first when the budget allows; nullptr
  // when it did not run.
  const ResultRow* measure(const Candidate& c, const std::string& arm, int round = 0);
  double value(const ResultRow* r) const {
    return r && within(*r, o_.limits) ? objective_value(*r, objective_) : NAN;
  }
  bool better(double a, double b, double margin = 0) const {
    if (std::isnan(a)) return false;
    if (std::isnan(b)) return true;
    return objective_.higher_is_better ? a > b * (1 + margin) : a < b * (1 - margin);
  }

  // Phases.
  void screen();
  bool agreement_ok(const std::string& backend, const std::string& precision);
  void explore(Candidate best, double best_value);
  std::vector<Candidate> halving();
  void confirm(const std::vector<Candidate>& finalists);
  void answer();
  void write_study_file(const ResultRow& winner, const ResultRow* baseline);

  // Budget.
  double time_left() const {
    return o_.budget_s - spent_before_ -
           std::chrono::duration<double>(Clock::now() - start_).count();
  }
  double confirm_cost() const;
  double cost_of(const Candidate& c) const;        // estimated seconds of its confirmation cell
  std::string describe(const ResultRow& r) const;  // label with batch or batching
  void progress(const std::string& phase, const std::string& what) const;

  const TuneOptions& o_;
  Objective objective_;
  BackendRegistry registry_;
  CellSpec template_;
  std::vector<std::string> backends_;
  std::map<std::string, ResultRow> by_key_;
  std::vector<ResultRow> rows_;
  double spent_before_ = 0;
  Clock::time_point start_ = Clock::now();
  bool interrupted_ = false;
  bool out_of_budget_ = false;
  std::vector<Candidate> defaults_;  // each framework's defaults that ran in the screen
  std::vector<std::pair<Candidate, double>> families_;  // screened (backend, precision), ok
  std::map<std::string, std::string> refused_;          // "backend precision" -> why
  std::map<std::string, double> agreement_;             // "backend precision" -> top-1
  std::vector<Candidate> tried_;
  int cells_run_ = 0;
  std::string baseline_;  // --baseline where it is tuned, else the first framework tuned
};

}  // namespace infermark::tune_internal
